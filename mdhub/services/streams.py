"""A stream of bytes read from one database snapshot, which ends the snapshot when closed."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import ExitStack


class SnapshotStream:
    """Chunks of bytes, the first already read (a failure to start is an error answer, not a
    cut stream). Iterate it, then `close()` it to end its snapshot: from any thread, also while
    another thread reads a chunk (then once that chunk is read). `stack` holds what ends the
    snapshot: the chunks' generator, the transaction, the connection."""

    def __init__(self, chunks: Iterator[bytes], stack: ExitStack, *, version: int) -> None:
        self.version = version
        self._chunks = chunks
        self._stack = stack
        self._lock = threading.Lock()
        self._closed = False
        try:
            self._first = next(chunks, None)
        except BaseException:
            stack.close()
            raise

    def __iter__(self) -> Iterator[bytes]:
        return self

    def __next__(self) -> bytes:
        with self._lock:
            if self._closed:
                raise StopIteration
            if self._first is not None:
                first, self._first = self._first, None
                return first
            return next(self._chunks)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._stack.close()
