"""Upload storage on a local directory: `<root>/sha256/<ab>/<cd>/<digest>`."""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from mdhub.errors import NotFound
from mdhub.storage.base import StoredObject


class LocalWriter:
    """Writes to a temporary file in the storage directory while hashing; `commit` fsyncs it
    and renames it to its content address (invariant 2: a 202 means the bytes are on disk)."""

    def __init__(self, storage: LocalStorage) -> None:
        self._storage = storage
        self._hash = hashlib.sha256()
        handle, name = tempfile.mkstemp(dir=storage.tmp_dir, prefix="upload-")
        self._file = os.fdopen(handle, "wb")
        self._path = Path(name)
        self.bytes_written = 0

    def write(self, chunk: bytes) -> None:
        self._file.write(chunk)
        self._hash.update(chunk)
        self.bytes_written += len(chunk)

    def commit(self) -> StoredObject:
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        digest = self._hash.hexdigest()
        key = f"sha256/{digest[:2]}/{digest[2:4]}/{digest}"
        target = self._storage.root / key
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(self._path, target)
        _fsync_dir(target.parent)
        return StoredObject(key=key, bytes=self.bytes_written, sha256=digest)

    def abort(self) -> None:
        if not self._file.closed:
            self._file.close()
        self._path.unlink(missing_ok=True)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class LocalStorage:
    """Content-addressed files under one directory."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        self.tmp_dir = self.root / "tmp"
        self.tmp_dir.mkdir(parents=True, exist_ok=True)

    def writer(self) -> LocalWriter:
        return LocalWriter(self)

    def _path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if self.root not in path.parents:
            raise NotFound(f"no stored object '{key}'")
        return path

    @contextmanager
    def local_path(self, key: str) -> Iterator[Path]:
        path = self._path(key)
        if not path.is_file():
            raise NotFound(f"no stored object '{key}'")
        yield path

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)
