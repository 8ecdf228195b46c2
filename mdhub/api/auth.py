"""Who is asking: the credential of a request (login token or API key, in any of the accepted
headers) becomes a Principal, and each route declares the role it needs.

Accepted: `Authorization: Bearer <secret>` (or `token <secret>`), `X-API-Key: <key>`,
`Ocp-Apim-Subscription-Key: <key>`, and HTTP Basic with the key as password (any user name).
The workspace is the credential's: there is no workspace in the paths.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from starlette.datastructures import Headers

from mdhub.core.security import role_allows
from mdhub.db.engine import Databases
from mdhub.errors import Forbidden, Unauthorized
from mdhub.services import sessions
from mdhub.services.sessions import Principal

KEY_HEADERS = ("x-api-key", "ocp-apim-subscription-key")

log = logging.getLogger(__name__)

# The accepted credentials as the OpenAPI document declares them (and /docs offers them). They
# are declared there, not as FastAPI security dependencies: parsing is ours (presented_secret),
# and three dependencies per request cost more than the rest of a record lookup's routing.
SECURITY_SCHEMES: dict[str, dict[str, str]] = {
    "HTTPBearer": {
        "type": "http",
        "scheme": "bearer",
        "description": "A login token (POST /api/v1/auth/login) or an API key",
    },
    "APIKeyHeader": {
        "type": "apiKey",
        "in": "header",
        "name": "X-API-Key",
        "description": "An API key",
    },
    "HTTPBasic": {
        "type": "http",
        "scheme": "basic",
        "description": "Any user name, an API key as the password",
    },
}


def document_credentials(document: dict[str, Any]) -> dict[str, Any]:
    """Declare the accepted credentials in an OpenAPI document, on every operation that needs
    one: those that may answer 403 (schemas.error_responses gives them 401 and 403)."""
    document.setdefault("components", {})["securitySchemes"] = SECURITY_SCHEMES
    for path_item in document.get("paths", {}).values():
        for operation in path_item.values():
            if "403" in operation.get("responses", {}):
                operation["security"] = [{name: []} for name in SECURITY_SCHEMES]
    return document


def presented_secret(headers: Headers) -> str | None:
    """The secret a request carries, from whichever accepted header holds it."""
    header = headers.get("authorization")
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
        if headers.get(name):
            return headers[name].strip()
    return None


async def current_principal(request: Request) -> Principal:
    """The Principal of the request; 401 without a valid credential."""
    secret = presented_secret(request.headers)
    if not secret:
        raise Unauthorized("this needs a credential: a login token or an API key")
    dbs = request.app.state.dbs
    principal = remembered_principal(dbs, secret)
    if principal is None:
        principal = await run_in_threadpool(sessions.authenticate, dbs, secret)
    request.state.principal = principal
    return principal


def remembered_principal(dbs: Databases, secret: str) -> Principal | None:
    """The Principal of a credential seen a moment ago, without a thread or the store; None
    when the store must be asked. One seen a while ago is checked again in the background
    meanwhile, so that a busy client's credential does not lapse for all its requests at once.
    """
    principal, renewal_due = sessions.remembered(dbs, secret)
    if renewal_due:
        renewal = asyncio.ensure_future(run_in_threadpool(sessions.renew, dbs, secret))
        _renewals.add(renewal)
        renewal.add_done_callback(_renewed)
    return principal


_renewals: set[asyncio.Future[None]] = set()  # held until done (the loop keeps weak references)


async def wait_for_renewals() -> None:
    """Let this loop's credential checks under way end (before the databases close: a check
    still running after would open a connection that nothing closes)."""
    loop = asyncio.get_running_loop()
    running = [r for r in _renewals if r.get_loop() is loop]
    if running:
        await asyncio.gather(*running, return_exceptions=True)


def _renewed(renewal: asyncio.Future[None]) -> None:
    _renewals.discard(renewal)
    if not renewal.cancelled() and renewal.exception() is not None:
        log.warning("a credential could not be checked again: %s", renewal.exception())


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
