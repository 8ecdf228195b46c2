"""Who is asking: the credential of a request (login token or API key, in any of the accepted
headers) becomes a Principal, and each route declares the role it needs.

Accepted: `Authorization: Bearer <secret>` (or `token <secret>`), `X-API-Key: <key>`,
`Ocp-Apim-Subscription-Key: <key>`, and HTTP Basic with the key as password (any user name).
The workspace is the credential's: there is no workspace in the paths.
"""

from __future__ import annotations

import base64
import binascii
from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.concurrency import run_in_threadpool
from fastapi.security import APIKeyHeader, HTTPBasic, HTTPBasicCredentials, HTTPBearer
from starlette.requests import HTTPConnection

from mdhub.core.security import role_allows
from mdhub.errors import Forbidden, Unauthorized
from mdhub.services import sessions
from mdhub.services.sessions import Principal

KEY_HEADERS = ("x-api-key", "ocp-apim-subscription-key")

# Declared for the OpenAPI document (and the Authorize button of /docs); parsing is ours.
_bearer = HTTPBearer(
    auto_error=False, description="A login token (POST /api/v1/auth/login) or an API key"
)
_api_key = APIKeyHeader(name="X-API-Key", auto_error=False, description="An API key")


class _DocumentedBasic(HTTPBasic):
    """HTTP Basic in the OpenAPI document only: FastAPI's own answers a malformed header with
    its 401; `presented_secret` parses it and answers in the one error shape."""

    async def __call__(  # type: ignore[override]  # as FastAPI's HTTPBasic
        self, request: HTTPConnection
    ) -> HTTPBasicCredentials | None:
        return None


_basic = _DocumentedBasic(auto_error=False, description="Any user name, an API key as the password")


def presented_secret(request: Request) -> str | None:
    """The secret a request carries, from whichever accepted header holds it."""
    header = request.headers.get("authorization")
    if header:
        scheme, _, value = header.strip().partition(" ")
        value = value.strip()
        if scheme.lower() in ("bearer", "token") and value:
            return value
        if scheme.lower() == "basic" and value:
            try:
                decoded = base64.b64decode(value, validate=True).decode()
            except (binascii.Error, UnicodeDecodeError):
                raise Unauthorized("malformed HTTP Basic credentials") from None
            return decoded.partition(":")[2] or None
        raise Unauthorized("unsupported Authorization scheme: use Bearer, token or Basic")
    for name in KEY_HEADERS:
        if request.headers.get(name):
            return request.headers[name].strip()
    return None


async def current_principal(
    request: Request,
    _bearer_credential: object = Security(_bearer),
    _key_credential: object = Security(_api_key),
    _basic_credential: object = Security(_basic),
) -> Principal:
    """The Principal of the request; 401 without a valid credential."""
    secret = presented_secret(request)
    if not secret:
        raise Unauthorized("this needs a credential: a login token or an API key")
    dbs = request.app.state.dbs
    # A credential seen a moment ago is answered here, without a thread or the store.
    principal = sessions.cached_principal(dbs, secret)
    if principal is None:
        principal = await run_in_threadpool(sessions.authenticate, dbs, secret)
    request.state.principal = principal
    return principal


class RequireRole:
    """A route's declared role: the credential's role in its workspace must reach it."""

    def __init__(self, role: str) -> None:
        self.role = role

    # async: FastAPI runs a plain `def` dependency in its thread pool, a hand-off per request
    # for a check that does no I/O.
    async def __call__(self, principal: Principal = Depends(current_principal)) -> Principal:
        if not role_allows(principal.role, self.role):
            raise Forbidden(
                f"this needs the {self.role} role; the credential has {principal.role}",
                {"needed": self.role, "role": principal.role},
            )
        return principal


async def instance_admin(principal: Principal = Depends(current_principal)) -> Principal:
    """Only an instance admin (the first `admin`, and whom they make one) manages workspaces."""
    if not principal.instance_admin:
        raise Forbidden("this needs an instance admin", {"needed": "instance_admin"})
    return principal


Reader = Annotated[Principal, Depends(RequireRole("reader"))]
Writer = Annotated[Principal, Depends(RequireRole("writer"))]
Admin = Annotated[Principal, Depends(RequireRole("admin"))]
# Any valid credential (e.g. to log out, or to list one's own workspace).
Authenticated = Annotated[Principal, Depends(current_principal)]
InstanceAdmin = Annotated[Principal, Depends(instance_admin)]
