"""Streaming a SnapshotStream as an HTTP answer."""

from __future__ import annotations

from collections.abc import AsyncGenerator

import anyio
from fastapi.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from mdhub.services.streams import SnapshotStream

VERSION_HEADER = "X-Mdhub-Version"


class SnapshotResponse(StreamingResponse):
    """Streams a SnapshotStream, each chunk read in a worker thread; the snapshot ends with the
    response, also when the client goes away (Starlette does not close the body iterator on a
    disconnect). The snapshot's version goes out in `X-Mdhub-Version`."""

    def __init__(
        self, stream: SnapshotStream, *, media_type: str, headers: dict[str, str] | None = None
    ) -> None:
        self.stream = stream
        self.chunks = _chunks(stream)
        headers = {VERSION_HEADER: str(stream.version), **(headers or {})}
        super().__init__(self.chunks, media_type=media_type, headers=headers)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            await self.chunks.aclose()
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(self.stream.close)


async def _chunks(stream: SnapshotStream) -> AsyncGenerator[bytes, None]:
    while (chunk := await anyio.to_thread.run_sync(next, stream, None)) is not None:
        yield chunk
