"""The storage contract, run on local disk, in memory and on S3 (a real moto server)."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from mdhub.errors import InvalidRequest, NotFound
from mdhub.storage import LocalStorage, MemoryStorage, S3Storage, Storage, open_storage
from tests.s3_server import s3_client


@dataclass(frozen=True)
class Backend:
    """A storage under test, and how to list whatever it holds (objects and temporary files)."""

    storage: Storage
    leftovers: Callable[[], list[str]]


def _files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


@pytest.fixture(params=["local", "memory", "s3"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    if request.param == "local":
        local = LocalStorage(tmp_path / "store")
        return Backend(local, lambda: _files(local.root))
    if request.param == "memory":
        memory = MemoryStorage()
        return Backend(memory, lambda: sorted(memory.objects))
    endpoint = request.getfixturevalue("moto_endpoint")
    name = request.getfixturevalue("bucket")
    client = s3_client(endpoint)
    spool = tmp_path / "spool"
    spool.mkdir()
    s3 = S3Storage(name, "uploads", client, tmp_dir=spool)

    def s3_leftovers() -> list[str]:
        listing = client.list_objects_v2(Bucket=name)
        return sorted(o["Key"] for o in listing.get("Contents", [])) + _files(spool)

    return Backend(s3, s3_leftovers)


def _store(storage: Storage, data: bytes, chunk_size: int = 64 * 1024) -> Any:
    writer = storage.writer()
    for start in range(0, len(data), chunk_size):
        writer.write(data[start : start + chunk_size])
    return writer.commit()


def test_many_chunks_give_the_content_address(backend: Backend) -> None:
    # Over 8 MiB: the S3 writer spills to disk and uploads in parts.
    data = os.urandom(9 * 1024 * 1024 + 123)
    writer = backend.storage.writer()
    for start in range(0, len(data), 10_000):
        writer.write(data[start : start + 10_000])
    assert writer.bytes_written == len(data)
    stored = writer.commit()

    digest = hashlib.sha256(data).hexdigest()
    assert stored.sha256 == digest
    assert stored.bytes == len(data)
    assert stored.key == f"sha256/{digest[:2]}/{digest[2:4]}/{digest}"
    with backend.storage.local_path(stored.key) as path:
        assert path.read_bytes() == data


def test_same_content_twice_gives_same_key(backend: Backend) -> None:
    data = b"id,name\n1,Acme\n" * 1000
    first = _store(backend.storage, data, chunk_size=7)
    second = _store(backend.storage, data, chunk_size=1000)
    assert first == second
    with backend.storage.local_path(second.key) as path:
        assert path.read_bytes() == data


def test_local_path_is_a_file_with_the_bytes(backend: Backend) -> None:
    data = b"\x00\x01binary\xff" * 100
    stored = _store(backend.storage, data)
    with backend.storage.local_path(stored.key) as path:
        assert path.is_file()
        assert path.read_bytes() == data
    assert backend.storage.exists(stored.key)


def test_empty_object(backend: Backend) -> None:
    stored = backend.storage.writer().commit()
    assert stored.bytes == 0
    assert stored.sha256 == hashlib.sha256(b"").hexdigest()
    with backend.storage.local_path(stored.key) as path:
        assert path.read_bytes() == b""


def test_abort_leaves_nothing_behind(backend: Backend) -> None:
    writer = backend.storage.writer()
    writer.write(b"half an upload")
    writer.abort()
    assert backend.leftovers() == []


def test_exists_and_delete(backend: Backend) -> None:
    stored = _store(backend.storage, b"to be deleted")
    assert backend.storage.exists(stored.key)
    backend.storage.delete(stored.key)
    assert not backend.storage.exists(stored.key)
    backend.storage.delete(stored.key)  # deleting again is not an error
    with pytest.raises(NotFound), backend.storage.local_path(stored.key):
        pass


def test_missing_key_is_not_found(backend: Backend) -> None:
    digest = hashlib.sha256(b"never stored").hexdigest()
    key = f"sha256/{digest[:2]}/{digest[2:4]}/{digest}"
    assert not backend.storage.exists(key)
    with pytest.raises(NotFound), backend.storage.local_path(key):
        pass


def test_path_traversal_key_is_not_found(backend: Backend) -> None:
    with pytest.raises(NotFound), backend.storage.local_path("../x"):
        pass


def test_local_path_traversal_outside_root(tmp_path: Path) -> None:
    (tmp_path / "secret").write_bytes(b"outside the storage")
    storage = LocalStorage(tmp_path / "store")
    with pytest.raises(NotFound), storage.local_path("../secret"):
        pass
    with pytest.raises(NotFound):
        storage.delete("../secret")
    assert (tmp_path / "secret").exists()


def test_local_abort_empties_tmp_dir(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path / "store")
    writer = storage.writer()
    writer.write(b"partial")
    writer.abort()
    assert list(storage.tmp_dir.iterdir()) == []


def test_open_storage_s3_url(
    monkeypatch: pytest.MonkeyPatch, moto_endpoint: str, bucket: str, tmp_path: Path
) -> None:
    monkeypatch.setenv("MDHUB_S3_ENDPOINT_URL", moto_endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)

    storage = open_storage(f"s3://{bucket}/some/prefix/")
    assert isinstance(storage, S3Storage)
    assert (storage.bucket, storage.prefix) == (bucket, "some/prefix")
    stored = _store(storage, b"through open_storage")
    listing = s3_client(moto_endpoint).list_objects_v2(Bucket=bucket)
    assert [o["Key"] for o in listing["Contents"]] == [f"some/prefix/{stored.key}"]
    with storage.local_path(stored.key) as path:
        assert path.read_bytes() == b"through open_storage"


def test_open_storage_paths_and_other_schemes(tmp_path: Path) -> None:
    assert isinstance(open_storage(str(tmp_path / "a")), LocalStorage)
    assert isinstance(open_storage(f"file://{tmp_path / 'b'}"), LocalStorage)
    with pytest.raises(InvalidRequest):
        open_storage("gs://bucket/prefix")
