"""Users and their roles per workspace: the first admin, members, passwords."""

from __future__ import annotations

import secrets
from typing import Any

from sqlalchemy import Connection, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from mdhub.core import security, times
from mdhub.core.names import check_name
from mdhub.core.security import check_role
from mdhub.db.engine import Databases
from mdhub.db.paging import page_after
from mdhub.db.tables import memberships, sessions, users
from mdhub.errors import Conflict, Forbidden, InvalidRequest, NotFound
from mdhub.services.datasets import workspace_id
from mdhub.services.sessions import DEFAULT_WORKSPACE, Principal

ADMIN_USER = "admin"
MIN_PASSWORD_LENGTH = 8


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidRequest(f"a password needs at least {MIN_PASSWORD_LENGTH} characters")


def ensure_admin(dbs: Databases, password: str | None) -> str | None:
    """On first start (no users yet) create `admin`, admin of `default` and instance admin.

    Returns the generated password when none was given (to be shown once), else None.
    """
    with dbs.meta.connect() as conn:
        if conn.execute(select(users.c.id).limit(1)).first() is not None:
            return None
    generated = None if password else secrets.token_urlsafe(18)
    try:
        create_user(
            dbs,
            ADMIN_USER,
            password or generated or "",
            workspace=DEFAULT_WORKSPACE,
            role="admin",
            instance_admin=True,
        )
    except Conflict:  # another process created it first
        return None
    return generated


def create_user(
    dbs: Databases,
    username: str,
    password: str,
    *,
    workspace: str,
    role: str,
    instance_admin: bool = False,
) -> dict[str, Any]:
    """A new user with `role` in `workspace`."""
    check_name("user name", username)
    check_role(role)
    _check_password(password)
    password_hash = security.hash_password(password)
    now = times.now()
    try:
        with dbs.meta.begin() as conn:
            ws = workspace_id(conn, workspace)
            user_id = conn.execute(
                insert(users)
                .values(
                    username=username,
                    password_hash=password_hash,
                    instance_admin=instance_admin,
                    created_at=now,
                    password_changed_at=now,
                )
                .returning(users.c.id)
            ).scalar_one()
            conn.execute(insert(memberships).values(user_id=user_id, workspace_id=ws, role=role))
    except IntegrityError:
        raise Conflict(f"user '{username}' already exists") from None
    return {"username": username, "role": role, "workspace": workspace}


def _user_in(conn: Connection, workspace: str, username: str) -> Any:
    row = conn.execute(
        select(users.c.id, users.c.username, memberships.c.role)
        .join(memberships, memberships.c.user_id == users.c.id)
        .where(memberships.c.workspace_id == workspace_id(conn, workspace))
        .where(users.c.username == username)
    ).first()
    if row is None:
        raise NotFound(f"user '{username}' not found")
    return row


def list_members(
    dbs: Databases, workspace: str, *, after: str | None = None, limit: int | None = None
) -> list[dict[str, Any]]:
    """The workspace's users by name: those after `after`, at most `limit` (None: all)."""
    with dbs.meta.connect() as conn:
        query = (
            select(users.c.username, memberships.c.role, users.c.created_at)
            .join(memberships, memberships.c.user_id == users.c.id)
            .where(memberships.c.workspace_id == workspace_id(conn, workspace))
        )
        rows = conn.execute(page_after(query, users.c.username, after, limit)).all()
    return [
        {"username": r.username, "role": r.role, "created_at": times.iso(r.created_at)}
        for r in rows
    ]


def remove_member(dbs: Databases, workspace: str, username: str) -> None:
    """Take a user out of a workspace (the user is deleted with their last workspace)."""
    with dbs.meta.begin() as conn:
        row = _user_in(conn, workspace, username)
        ws = workspace_id(conn, workspace)
        conn.execute(
            delete(memberships).where(
                memberships.c.user_id == row.id, memberships.c.workspace_id == ws
            )
        )
        conn.execute(
            delete(sessions).where(sessions.c.user_id == row.id, sessions.c.workspace_id == ws)
        )
        left = conn.execute(
            select(memberships.c.user_id).where(memberships.c.user_id == row.id)
        ).first()
        if left is None:
            conn.execute(delete(users).where(users.c.id == row.id))


def set_password(dbs: Databases, username: str, password: str) -> None:
    """Set a user's password and revoke all their login tokens."""
    _check_password(password)
    password_hash = security.hash_password(password)
    now = times.now()
    with dbs.meta.begin() as conn:
        user_id = conn.execute(select(users.c.id).where(users.c.username == username)).scalar()
        if user_id is None:
            raise NotFound(f"user '{username}' not found")
        conn.execute(
            update(users)
            .where(users.c.id == user_id)
            .values(password_hash=password_hash, password_changed_at=now)
        )
        conn.execute(
            update(sessions)
            .where(sessions.c.user_id == user_id, sessions.c.revoked_at.is_(None))
            .values(revoked_at=now)
        )


def reset_member_password(
    dbs: Databases, principal: Principal, username: str, password: str
) -> None:
    """A workspace admin sets the password of a member of their workspace (and revokes the
    member's login tokens).

    An instance admin, or a user who also belongs to another workspace, can only be reset by an
    instance admin: a workspace's admin must not take over an account beyond their workspace.
    """
    with dbs.meta.connect() as conn:
        member = _user_in(conn, principal.workspace, username)
        if not principal.instance_admin:
            user = conn.execute(select(users.c.instance_admin).where(users.c.id == member.id))
            workspaces_of = conn.execute(
                select(func.count()).where(memberships.c.user_id == member.id)
            ).scalar_one()
            if user.scalar_one() or workspaces_of > 1:
                raise Forbidden(
                    f"only an instance admin can reset the password of '{username}': "
                    "the user is an instance admin or belongs to another workspace too"
                )
    set_password(dbs, username, password)


def change_own_password(dbs: Databases, principal: Principal, current: str, new: str) -> None:
    if principal.user_id is None:
        raise Forbidden("an API key has no password: only a logged-in user can change theirs")
    with dbs.meta.connect() as conn:
        stored = conn.execute(
            select(users.c.password_hash).where(users.c.id == principal.user_id)
        ).scalar()
    if principal.username is None or not security.verify_password(stored, current):
        raise Forbidden("the current password is not right")
    set_password(dbs, principal.username, new)
