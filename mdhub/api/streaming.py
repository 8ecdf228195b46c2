"""Streaming a SnapshotStream as an HTTP answer, read ahead of the client.

A worker thread reads the stream's next chunk while the event loop sends the one before, so
the database keeps producing while the network drains (read, then send, in turn, would leave
each side idle half the time). Memory stays bounded: the thread waits whenever
READ_AHEAD_CHUNKS chunks are waiting to be sent; one is enough for the overlap, and more
would hold more of a format whose chunks are large (a Parquet row group each).
"""

from __future__ import annotations

import anyio
import anyio.from_thread
from anyio.streams.memory import MemoryObjectSendStream
from fastapi.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from mdhub.services.streams import SnapshotStream

VERSION_HEADER = "X-Mdhub-Version"
READ_AHEAD_CHUNKS = 1
# Each stream holds a thread while it lasts: streams get their own share of threads, so that
# many slow downloads cannot take every thread the other (plain `def`) routes run in.
STREAM_THREADS = anyio.CapacityLimiter(32)


class SnapshotResponse(StreamingResponse):
    """Streams a SnapshotStream; the snapshot ends with the response, also when the client goes
    away. The snapshot's version goes out in `X-Mdhub-Version`."""

    def __init__(
        self, stream: SnapshotStream, *, media_type: str, headers: dict[str, str] | None = None
    ) -> None:
        self.stream = stream
        headers = {VERSION_HEADER: str(stream.version), **(headers or {})}
        super().__init__(iter(()), media_type=media_type, headers=headers)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        sender, receiver = anyio.create_memory_object_stream[bytes](READ_AHEAD_CHUNKS)
        self.body_iterator = receiver
        try:
            async with anyio.create_task_group() as readers:
                readers.start_soon(self._read_ahead, sender)
                # Closing the receiver (sent all, failed, or the client left) stops the reader.
                with receiver:
                    await super().__call__(scope, receive, send)
        except BaseExceptionGroup as group:
            # The server expects what the response raised (e.g. ClientDisconnect), not a group.
            if len(group.exceptions) == 1:
                raise group.exceptions[0] from group
            raise
        finally:
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(self.stream.close, limiter=STREAM_THREADS)

    async def _read_ahead(self, sender: MemoryObjectSendStream[bytes]) -> None:
        with sender:  # closed when the stream ends: the receiver's iteration then ends
            await anyio.to_thread.run_sync(self._read, sender, limiter=STREAM_THREADS)

    def _read(self, sender: MemoryObjectSendStream[bytes]) -> None:
        for chunk in self.stream:
            try:
                anyio.from_thread.run(sender.send, chunk)
            except (anyio.BrokenResourceError, anyio.ClosedResourceError):
                return  # nobody is listening any more
