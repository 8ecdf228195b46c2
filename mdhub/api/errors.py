"""The one place where errors become HTTP answers: `{"error": {"code", "message", "details"}}`."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException
from starlette.routing import Match

from mdhub.errors import MdhubError

log = logging.getLogger("mdhub.api")

METHODS = ("DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT")
HTTP_CODES = {404: "not_found", 405: "method_not_allowed", 413: "payload_too_large"}
AUTHENTICATE = 'Bearer realm="mdhub"'


def error_response(
    status: int, code: str, message: str, details: dict[str, Any] | None = None
) -> JSONResponse:
    body = {"error": {"code": code, "message": message, "details": details or {}}}
    return JSONResponse(body, status_code=status)


def mdhub_error_response(exc: MdhubError) -> JSONResponse:
    """The answer to one of mdhub's own errors."""
    response = error_response(exc.status, exc.code, exc.message, exc.details)
    if exc.status == 401:
        response.headers["WWW-Authenticate"] = AUTHENTICATE
    elif exc.status == 429:
        retry = exc.details.get("retry_after_seconds")
        response.headers["Retry-After"] = str(retry if isinstance(retry, int) else 60)
    return response


def install(app: FastAPI) -> None:
    """Register the handlers that give every error the one shape."""

    @app.exception_handler(MdhubError)
    async def _mdhub(_request: Request, exc: MdhubError) -> JSONResponse:
        return mdhub_error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def _validation(_request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [
            {
                "location": ".".join(str(part) for part in error.get("loc", ())),
                "message": error.get("msg", ""),
            }
            for error in exc.errors()
        ]
        first = problems[0] if problems else {"location": "", "message": "invalid request"}
        message = (
            f"{first['location']}: {first['message']}" if first["location"] else first["message"]
        )
        return error_response(400, "invalid_request", message, {"problems": problems})

    @app.exception_handler(HTTPException)
    async def _http(request: Request, exc: HTTPException) -> JSONResponse:
        code = HTTP_CODES.get(exc.status_code, "http_error")
        response = error_response(exc.status_code, code, str(exc.detail))
        for name, value in (exc.headers or {}).items():
            response.headers[name] = value
        if exc.status_code == 405:
            response.headers["Allow"] = ", ".join(_allowed_methods(request))
        return response

    @app.exception_handler(Exception)
    async def _unexpected(_request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error", exc_info=exc)
        # The exception's text stays in the server log: it can carry SQL, parameters and paths.
        return error_response(
            500, "internal_error", "an unexpected error occurred; the server log has the details"
        )


def _allowed_methods(request: Request) -> list[str]:
    """The methods some route answers on the request's path (Starlette names only one route's)."""
    routes = request.app.router.routes
    return [
        method
        for method in METHODS
        if any(r.matches({**request.scope, "method": method})[0] == Match.FULL for r in routes)
    ]
