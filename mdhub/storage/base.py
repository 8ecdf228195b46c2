"""The storage protocol and the value an upload becomes."""

from __future__ import annotations

from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol


@dataclass(frozen=True)
class StoredObject:
    """An object once written: its key in the storage, size and SHA-256 (hex)."""

    key: str
    bytes: int
    sha256: str


class Writer(Protocol):
    """An upload in progress: bytes go in chunk by chunk; `commit` makes it durable."""

    @property
    def bytes_written(self) -> int: ...

    def write(self, chunk: bytes) -> None: ...

    def commit(self) -> StoredObject: ...

    def abort(self) -> None: ...


class Storage(Protocol):
    """Durable upload storage (local disk, or S3-compatible object storage)."""

    def writer(self) -> Writer: ...

    def local_path(self, key: str) -> AbstractContextManager[Path]:
        """A readable local file with the object's bytes, for as long as the context lasts."""
        ...

    def exists(self, key: str) -> bool: ...

    def delete(self, key: str) -> None: ...
