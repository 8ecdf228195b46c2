"""Accounts over HTTP: login and logout, who am I, passwords, the members and API keys of the
credential's workspace, and workspaces (invariant 8: every call acts in the credential's own
workspace; nothing of another workspace is visible)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, Response

from mdhub.api.auth import Admin, Authenticated, InstanceAdmin
from mdhub.api.deps import Dbs, Limit, page_of
from mdhub.api.schemas import (
    ApiKeyCreate,
    ApiKeyCreated,
    ApiKeyList,
    Login,
    LoginIn,
    Me,
    MemberList,
    PasswordChange,
    PasswordSet,
    UserCreate,
    UserCreated,
    Workspace,
    WorkspaceCreate,
    WorkspaceList,
    error_responses,
)
from mdhub.services import accounts, api_keys, sessions, workspaces

router = APIRouter()

Username = Annotated[str, Path(min_length=1, max_length=64, description="The user's name")]
WorkspaceName = Annotated[
    str, Path(min_length=1, max_length=64, description="The workspace's name")
]
# API key ids are 32-bit integers in both databases: a larger number is a 400, not a 500.
KeyId = Annotated[int, Path(ge=1, le=2**31 - 1, description="The API key's id")]
NameCursor = Annotated[
    str | None, Query(min_length=1, max_length=64, description="`next` of the previous page")
]
IdCursor = Annotated[
    int | None, Query(ge=0, le=2**31 - 1, description="`next` of the previous page")
]


def _no_content() -> Response:
    return Response(status_code=204)


# Login sessions ------------------------------------------------------------------------------


@router.post(
    "/auth/login",
    response_model=Login,
    responses=error_responses(401, 404, 429, public=True),
    tags=["auth"],
)
def login(body: LoginIn, request: Request, dbs: Dbs) -> dict[str, Any]:
    """A login token, bound to one of the user's workspaces, valid for 12 hours.

    A wrong user name and a wrong password get the same 401; after too many failures (per user
    name and per client address) logins are refused with 429 and `Retry-After`.
    """
    address = request.client.host if request.client else "unknown"
    return sessions.login(
        dbs, body.username, body.password, workspace=body.workspace, address=address
    )


@router.post("/auth/logout", status_code=204, responses=error_responses(), tags=["auth"])
def logout(principal: Authenticated, dbs: Dbs) -> Response:
    """Revoke the login token this request came with (API keys are revoked at /api-keys)."""
    sessions.logout(dbs, principal)
    return _no_content()


@router.get("/auth/me", response_model=Me, responses=error_responses(), tags=["auth"])
def me(principal: Authenticated) -> dict[str, Any]:
    """The workspace and role the credential acts with, and the user or API key behind it."""
    return {
        "workspace": principal.workspace,
        "role": principal.role,
        "username": principal.username,
        "key_id": principal.key_id,
        "instance_admin": principal.instance_admin,
    }


@router.post("/auth/password", status_code=204, responses=error_responses(), tags=["auth"])
def change_password(body: PasswordChange, principal: Authenticated, dbs: Dbs) -> Response:
    """Change one's own password; every login token of the user is revoked (log in again)."""
    accounts.change_own_password(dbs, principal, body.current_password, body.new_password)
    return _no_content()


# Members of the workspace --------------------------------------------------------------------


@router.get("/users", response_model=MemberList, responses=error_responses(), tags=["users"])
def list_users(
    principal: Admin, dbs: Dbs, cursor: NameCursor = None, limit: Limit = 100
) -> dict[str, Any]:
    """The users of the credential's workspace by name, with their roles; pass `next` as
    `cursor` for the next page."""
    found = accounts.list_members(dbs, principal.workspace, after=cursor, limit=limit + 1)
    return page_of(found, limit, "username")


@router.post(
    "/users",
    status_code=201,
    response_model=UserCreated,
    responses=error_responses(409),
    tags=["users"],
)
def create_user(body: UserCreate, principal: Admin, dbs: Dbs) -> dict[str, Any]:
    """A new user with a role in the credential's workspace (to log in with)."""
    return accounts.create_user(
        dbs, body.username, body.password, workspace=principal.workspace, role=body.role
    )


@router.delete("/users/{username}", status_code=204, responses=error_responses(404), tags=["users"])
def delete_user(username: Username, principal: Admin, dbs: Dbs) -> Response:
    """Take a user out of the workspace (and their login tokens for it)."""
    accounts.remove_member(dbs, principal.workspace, username)
    return _no_content()


@router.put(
    "/users/{username}/password", status_code=204, responses=error_responses(404), tags=["users"]
)
def set_user_password(
    username: Username, body: PasswordSet, principal: Admin, dbs: Dbs
) -> Response:
    """Set a member's password; every login token of the user is revoked."""
    accounts.reset_member_password(dbs, principal, username, body.password)
    return _no_content()


# API keys ------------------------------------------------------------------------------------


@router.get("/api-keys", response_model=ApiKeyList, responses=error_responses(), tags=["api-keys"])
def list_api_keys(
    principal: Admin, dbs: Dbs, cursor: IdCursor = None, limit: Limit = 100
) -> dict[str, Any]:
    """The workspace's API keys by id, revoked ones too, never their secrets; pass `next` as
    `cursor` for the next page."""
    found = api_keys.list_keys(dbs, principal.workspace, after=cursor, limit=limit + 1)
    return page_of(found, limit, "id")


@router.post(
    "/api-keys",
    status_code=201,
    response_model=ApiKeyCreated,
    responses=error_responses(),
    tags=["api-keys"],
)
def create_api_key(body: ApiKeyCreate, principal: Admin, dbs: Dbs) -> dict[str, Any]:
    """A new API key with a role in the workspace. `key` is shown in this answer only: the
    server keeps nothing but its hash."""
    return api_keys.create_key(
        dbs, principal.workspace, body.name, body.role, expires_at=body.expires_at
    )


@router.delete(
    "/api-keys/{key_id}", status_code=204, responses=error_responses(404), tags=["api-keys"]
)
def revoke_api_key(key_id: KeyId, principal: Admin, dbs: Dbs) -> Response:
    """Revoke an API key of the workspace: requests with it get 401 from now on."""
    api_keys.revoke_key(dbs, principal.workspace, key_id)
    return _no_content()


# Workspaces ----------------------------------------------------------------------------------


@router.get(
    "/workspaces", response_model=WorkspaceList, responses=error_responses(), tags=["workspaces"]
)
def list_workspaces(
    principal: Authenticated, dbs: Dbs, cursor: NameCursor = None, limit: Limit = 100
) -> dict[str, Any]:
    """The credential's workspace; every workspace by name for an instance admin. Pass `next`
    as `cursor` for the next page."""
    found = workspaces.list_workspaces(dbs, principal, after=cursor, limit=limit + 1)
    return page_of(found, limit, "name")


@router.post(
    "/workspaces",
    status_code=201,
    response_model=Workspace,
    responses=error_responses(409),
    tags=["workspaces"],
)
def create_workspace(body: WorkspaceCreate, principal: InstanceAdmin, dbs: Dbs) -> dict[str, Any]:
    """A new workspace (instance admins only); its creator becomes its admin — log in with
    `workspace` set to act in it."""
    return workspaces.create_workspace(dbs, body.name, admin_user_id=principal.user_id)


@router.delete(
    "/workspaces/{name}",
    status_code=204,
    responses=error_responses(404, 409),
    tags=["workspaces"],
)
def delete_workspace(name: WorkspaceName, principal: InstanceAdmin, dbs: Dbs) -> Response:
    """Delete a workspace and everything in it (instance admins only; not the workspace the
    request acts in, nor while a job of it is queued or running)."""
    workspaces.delete_workspace(dbs, name, principal)
    return _no_content()
