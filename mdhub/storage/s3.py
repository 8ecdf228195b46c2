"""Upload storage on S3-compatible object storage: `<prefix>/sha256/<ab>/<cd>/<digest>`."""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from mdhub.errors import InvalidRequest, NotFound
from mdhub.storage.base import StoredObject

ENDPOINT_ENV = "MDHUB_S3_ENDPOINT_URL"
SPOOL_BYTES = 8 * 1024 * 1024


class S3Writer:
    """Spools to a local temporary file while hashing, since the key is known only at the end;
    `commit` uploads it (multipart when large) unless an object with that key already exists."""

    def __init__(self, storage: S3Storage) -> None:
        self._storage = storage
        self._hash = hashlib.sha256()
        tmp_dir = None if storage.tmp_dir is None else str(storage.tmp_dir)
        # Open for the writer's life, closed (and so removed) by `commit` or `abort`.
        self._file = tempfile.SpooledTemporaryFile(  # noqa: SIM115
            max_size=SPOOL_BYTES, prefix="upload-", dir=tmp_dir
        )
        self.bytes_written = 0

    def write(self, chunk: bytes) -> None:
        self._file.write(chunk)
        self._hash.update(chunk)
        self.bytes_written += len(chunk)

    def commit(self) -> StoredObject:
        digest = self._hash.hexdigest()
        key = f"sha256/{digest[:2]}/{digest[2:4]}/{digest}"
        try:
            if not self._storage.exists(key):
                self._file.seek(0)
                self._storage.client.upload_fileobj(
                    self._file, self._storage.bucket, self._storage.object_key(key)
                )
        finally:
            self._file.close()
        return StoredObject(key=key, bytes=self.bytes_written, sha256=digest)

    def abort(self) -> None:
        self._file.close()


class S3Storage:
    """Content-addressed objects under one prefix of one bucket."""

    def __init__(
        self, bucket: str, prefix: str, client: Any, *, tmp_dir: Path | None = None
    ) -> None:
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.client = client
        self.tmp_dir = tmp_dir

    @classmethod
    def from_url(cls, url: str) -> S3Storage:
        """The storage for `s3://bucket/prefix`; the endpoint comes from `MDHUB_S3_ENDPOINT_URL`
        (unset for AWS itself) and credentials from boto3's usual chain (`AWS_*`, profiles)."""
        parts = urlsplit(url)
        if parts.scheme != "s3" or not parts.netloc:
            raise InvalidRequest(f"not an S3 storage URL: '{url}' (expected s3://bucket/prefix)")
        import boto3  # here, so that an install on local disk never imports it

        client = boto3.client("s3", endpoint_url=os.environ.get(ENDPOINT_ENV) or None)
        return cls(parts.netloc, parts.path, client)

    def object_key(self, key: str) -> str:
        """The bucket key of a storage key; keys are relative paths, so `.`/`..` never match."""
        segments = key.split("/")
        if key.startswith("/") or any(s in ("", ".", "..") for s in segments):
            raise NotFound(f"no stored object '{key}'")
        return f"{self.prefix}/{key}" if self.prefix else key

    def writer(self) -> S3Writer:
        return S3Writer(self)

    @contextmanager
    def local_path(self, key: str) -> Iterator[Path]:
        object_key = self.object_key(key)
        with tempfile.TemporaryDirectory(prefix="mdhub-object-", dir=self.tmp_dir) as tmp:
            path = Path(tmp) / key.rsplit("/", 1)[-1]
            try:
                self.client.download_file(self.bucket, object_key, str(path))
            except Exception as exc:
                if _is_missing(exc):
                    raise NotFound(f"no stored object '{key}'") from None
                raise
            yield path

    def exists(self, key: str) -> bool:
        try:
            self.client.head_object(Bucket=self.bucket, Key=self.object_key(key))
        except Exception as exc:
            if _is_missing(exc):
                return False
            raise
        return True

    def delete(self, key: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=self.object_key(key))


def _is_missing(exc: Exception) -> bool:
    """Whether a botocore error says the object is not there (HEAD answers a bare 404)."""
    from botocore.exceptions import ClientError  # loaded already: a client exists

    if not isinstance(exc, ClientError):
        return False
    return exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound")
