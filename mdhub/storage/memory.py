"""Upload storage in a dict, for unit tests: the same contract as disk and S3, without either."""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from mdhub.errors import NotFound
from mdhub.storage.base import StoredObject


class MemoryWriter:
    """Collects the chunks while hashing; nothing is visible in the storage until `commit`."""

    def __init__(self, storage: MemoryStorage) -> None:
        self._storage = storage
        self._hash = hashlib.sha256()
        self._chunks: list[bytes] = []
        self.bytes_written = 0

    def write(self, chunk: bytes) -> None:
        self._chunks.append(bytes(chunk))
        self._hash.update(chunk)
        self.bytes_written += len(chunk)

    def commit(self) -> StoredObject:
        digest = self._hash.hexdigest()
        key = f"sha256/{digest[:2]}/{digest[2:4]}/{digest}"
        self._storage.objects.setdefault(key, b"".join(self._chunks))
        self._chunks = []
        return StoredObject(key=key, bytes=self.bytes_written, sha256=digest)

    def abort(self) -> None:
        self._chunks = []


class MemoryStorage:
    """Content-addressed objects held in memory, keyed like the other storages."""

    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}

    def writer(self) -> MemoryWriter:
        return MemoryWriter(self)

    def _get(self, key: str) -> bytes:
        try:
            return self.objects[key]
        except KeyError:
            raise NotFound(f"no stored object '{key}'") from None

    @contextmanager
    def local_path(self, key: str) -> Iterator[Path]:
        data = self._get(key)
        with tempfile.TemporaryDirectory(prefix="mdhub-object-") as tmp:
            path = Path(tmp) / key.rsplit("/", 1)[-1]
            path.write_bytes(data)
            yield path

    def exists(self, key: str) -> bool:
        return key in self.objects

    def delete(self, key: str) -> None:
        self.objects.pop(key, None)
