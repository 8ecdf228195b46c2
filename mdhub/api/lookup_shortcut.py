"""The most frequent request, a record by its key, answered before the framework sees it.

Routing, dependency solving and validation cost more than the lookup itself. A lookup whose
credential was checked a moment ago (`auth.remembered_principal`) is answered here, the
record or mdhub's error (no such record or dataset, a malformed key) just as the route
(`api.records.get_record`) answers it. Every other request goes on to the app: another path
or method, a query string, a credential to check against the store or without the role.
"""

from __future__ import annotations

import re
import time

from fastapi.responses import JSONResponse
from starlette.datastructures import Headers, State
from starlette.types import ASGIApp, Receive, Scope, Send

from mdhub.api.auth import presented_secret, remembered_principal
from mdhub.api.errors import mdhub_error_response
from mdhub.api.records import lookup
from mdhub.core.security import role_allows
from mdhub.errors import MdhubError
from mdhub.observability.metrics import Metrics

# The route's path (with its API prefix), as metrics name it.
ROUTE = "/api/v1/datasets/{name}/records/{key:path}"
_PATH = re.compile(r"/api/v1/datasets/([^/]+)/records/(.+)", re.DOTALL)


class LookupShortcut:
    """ASGI middleware: record lookups by a known credential, answered without the app."""

    def __init__(self, app: ASGIApp, state: State, metrics: Metrics) -> None:
        self.app = app
        self.state = state
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        match = _PATH.fullmatch(scope["path"]) if _plain_get(scope) else None
        if match is not None:
            started = time.perf_counter()
            response = await self._answer(scope, *match.groups())
            if response is not None:
                await response(scope, receive, send)
                self.metrics.http_request(
                    "GET", ROUTE, response.status_code, time.perf_counter() - started
                )
                return
        await self.app(scope, receive, send)

    async def _answer(self, scope: Scope, name: str, key: str) -> JSONResponse | None:
        """The answer, or None to leave the request to the app."""
        try:
            secret = presented_secret(Headers(scope=scope))
        except MdhubError:
            return None
        principal = remembered_principal(self.state.dbs, secret) if secret else None
        if principal is None or not role_allows(principal.role, "reader"):
            return None
        try:
            return JSONResponse(await lookup(self.state, principal.workspace, name, key))
        except MdhubError as exc:
            return mdhub_error_response(exc)


def _plain_get(scope: Scope) -> bool:
    """A GET of the app's own paths, without a query string or a NUL in the path (which the
    app refuses)."""
    return (
        scope["type"] == "http"
        and scope["method"] == "GET"
        and not scope.get("query_string")
        and not scope.get("root_path")
        and "\x00" not in scope["path"]
    )
