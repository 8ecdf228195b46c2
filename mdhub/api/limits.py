"""The request size limit (MDHUB_MAX_UPLOAD_BYTES) for every route, as ASGI middleware: a
declared length over it is refused at once, a chunked body as soon as it passes it."""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mdhub.api.errors import error_response
from mdhub.api.uploads import too_large


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.limit:
            exc = too_large(self.limit)
            response = error_response(exc.status, exc.code, exc.message, exc.details)
            await response(scope, receive, send)
            return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.limit:
                # An HTTPException, not PayloadTooLarge: FastAPI turns any other error raised
                # while it reads a JSON body into a 400.
                raise HTTPException(413, too_large(self.limit).message)
            return message

        await self.app(scope, counted, send)
