"""Upload storage: where accepted files live until their job is done, behind one protocol.

Objects are content-addressed: the key is derived from the SHA-256 of the bytes, so a retried
upload of the same file is stored once, and a part's checksum is checked by construction.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from mdhub.errors import InvalidRequest
from mdhub.storage.base import Storage, StoredObject, Writer
from mdhub.storage.local import LocalStorage
from mdhub.storage.memory import MemoryStorage
from mdhub.storage.s3 import S3Storage


def open_storage(url: str) -> Storage:
    """The storage for `MDHUB_STORAGE_URL`: a directory path, a `file://` URL, or
    `s3://bucket/prefix` (endpoint from `MDHUB_S3_ENDPOINT_URL`, credentials from `AWS_*`)."""
    if url.startswith("s3://"):
        return S3Storage.from_url(url)
    if url.startswith("file://"):
        url = url[len("file://") :]
    if "://" in url:
        scheme = url.split("://", 1)[0]
        raise InvalidRequest(
            f"unsupported storage URL scheme '{scheme}': use a directory path or s3://bucket/prefix"
        )
    return LocalStorage(Path(url))


def iter_file(path: Path, chunk_size: int = 1024 * 1024) -> Iterator[bytes]:
    """A file's bytes in chunks (to store a local file)."""
    with path.open("rb") as stream:
        while chunk := stream.read(chunk_size):
            yield chunk


__all__ = [
    "LocalStorage",
    "MemoryStorage",
    "S3Storage",
    "Storage",
    "StoredObject",
    "Writer",
    "iter_file",
    "open_storage",
]
