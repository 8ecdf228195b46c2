"""Tests of streaming uploads: raw and multipart bodies into local storage, limits and errors."""

from __future__ import annotations

import asyncio
import hashlib
import itertools
from collections.abc import AsyncIterator, Coroutine, Iterable
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mdhub.api.uploads import MultipartUpload, receive_multipart, receive_raw
from mdhub.errors import InvalidRequest, PayloadTooLarge
from mdhub.storage import LocalStorage, StoredObject

T = TypeVar("T")
BOUNDARY = "b0und4ry"
CONTENT_TYPE = f"multipart/form-data; boundary={BOUNDARY}"
BIG = 1 << 40


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


async def chunks(body: bytes, size: int) -> AsyncIterator[bytes]:
    for start in range(0, len(body), size):
        yield body[start : start + size]


async def pieces(parts: Iterable[bytes]) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


def part(name: str, value: bytes, *, filename: str | None = None) -> bytes:
    disposition = f'form-data; name="{name}"'
    if filename is not None:
        disposition += f'; filename="{filename}"'
    head = f"--{BOUNDARY}\r\nContent-Disposition: {disposition}\r\n"
    if filename is not None:
        head += "Content-Type: application/octet-stream\r\n"
    return head.encode() + b"\r\n" + value + b"\r\n"


def form(*parts: bytes) -> bytes:
    return b"".join(parts) + f"--{BOUNDARY}--\r\n".encode()


def encoded(data: dict[str, str], content: bytes, filename: str = "data.csv") -> tuple[bytes, str]:
    """A body as httpx (a real client) encodes it, with its content type."""
    request = httpx.Request(
        "POST", "http://x", data=data, files={"file": (filename, content, "text/csv")}
    )
    return request.read(), request.headers["content-type"]


def assert_empty(storage: LocalStorage) -> None:
    assert list(storage.tmp_dir.iterdir()) == []
    assert not (storage.root / "sha256").exists()


def assert_stored(storage: LocalStorage, stored: StoredObject | None, content: bytes) -> None:
    assert stored is not None
    digest = hashlib.sha256(content).hexdigest()
    assert (stored.sha256, stored.bytes) == (digest, len(content))
    with storage.local_path(stored.key) as path:
        assert path.read_bytes() == content
    assert list(storage.tmp_dir.iterdir()) == []


def multipart(
    storage: LocalStorage, stream: AsyncIterator[bytes], content_type: str = CONTENT_TYPE, **kw: Any
) -> MultipartUpload:
    return run(receive_multipart(stream, content_type, storage.writer, **kw))


@pytest.fixture
def storage(tmp_path: Path) -> LocalStorage:
    return LocalStorage(tmp_path)


# Raw bodies


def test_raw_body_is_stored_with_its_hash(storage: LocalStorage) -> None:
    content = b"id,name\n1,Ann\n" * 1000
    stored = run(receive_raw(chunks(content, 7), storage.writer(), limit=BIG))
    assert_stored(storage, stored, content)


def test_raw_body_skips_empty_chunks(storage: LocalStorage) -> None:
    stored = run(receive_raw(pieces([b"", b"ab", b"", b"c", b""]), storage.writer(), limit=3))
    assert_stored(storage, stored, b"abc")


def test_raw_body_over_the_limit_leaves_nothing(storage: LocalStorage) -> None:
    with pytest.raises(PayloadTooLarge) as info:
        run(receive_raw(chunks(b"x" * 101, 10), storage.writer(), limit=100))
    assert "100 bytes" in info.value.message
    assert "MDHUB_MAX_UPLOAD_BYTES" in info.value.message
    assert_empty(storage)


def test_empty_raw_body_is_refused(storage: LocalStorage) -> None:
    with pytest.raises(InvalidRequest, match="the request body is empty"):
        run(receive_raw(pieces([b""]), storage.writer(), limit=BIG))
    assert_empty(storage)


def test_raw_body_aborts_when_the_stream_fails(storage: LocalStorage) -> None:
    async def broken() -> AsyncIterator[bytes]:
        yield b"some bytes"
        raise ConnectionResetError("client went away")

    with pytest.raises(ConnectionResetError):
        run(receive_raw(broken(), storage.writer(), limit=BIG))
    assert_empty(storage)


# Multipart bodies


@pytest.mark.parametrize("size", [1, 2, 3, 5, 7, 13, len(BOUNDARY) + 4, 64, 1000, 1 << 20])
def test_multipart_file_and_fields_in_any_chunking(storage: LocalStorage, size: int) -> None:
    content = b"id,name\r\n1,Ann\r\n--not-a-boundary\r\n2,Chlo\xc3\xa9\r\n"
    body, content_type = encoded({"mode": "upsert", "note": "Chloé"}, content)
    upload = multipart(storage, chunks(body, size), content_type, limit=BIG)
    assert upload.fields == {"mode": "upsert", "note": "Chloé"}
    assert upload.filename == "data.csv"
    assert_stored(storage, upload.file, content)


def test_multipart_chunks_that_split_the_boundary(storage: LocalStorage) -> None:
    content = b"a\r\n-" * 50
    body = form(part("mode", b"insert"), part("file", content, filename="f.csv"))
    for cut in range(len(body) - 1):
        upload = multipart(storage, pieces([body[:cut], body[cut:]]), limit=BIG)
        assert upload.fields == {"mode": "insert"}
        assert_stored(storage, upload.file, content)


def test_multipart_five_megabytes_in_64k_chunks(storage: LocalStorage) -> None:
    content = bytes(range(256)) * (5 * 1024 * 1024 // 256)
    body, content_type = encoded({}, content)
    upload = multipart(storage, chunks(body, 64 * 1024), content_type, limit=BIG)
    assert upload.fields == {}
    assert_stored(storage, upload.file, content)


def test_multipart_file_part_without_filename(storage: LocalStorage) -> None:
    upload = multipart(storage, chunks(form(part("file", b"1,2\n")), 4), limit=BIG)
    assert upload.filename is None
    assert_stored(storage, upload.file, b"1,2\n")


def test_multipart_other_file_field_name(storage: LocalStorage) -> None:
    body = form(part("upload", b"x", filename="x.csv"), part("file", b"a note"))
    upload = multipart(storage, chunks(body, 5), limit=BIG, file_field="upload")
    assert upload.fields == {"file": "a note"}
    assert upload.filename == "x.csv"
    assert_stored(storage, upload.file, b"x")


def test_multipart_without_file_part(storage: LocalStorage) -> None:
    upload = multipart(storage, chunks(form(part("mode", b"replace")), 3), limit=BIG)
    assert upload == MultipartUpload(fields={"mode": "replace"}, file=None, filename=None)
    assert_empty(storage)


def test_multipart_empty_field_value(storage: LocalStorage) -> None:
    upload = multipart(storage, chunks(form(part("note", b"")), 1), limit=BIG)
    assert upload.fields == {"note": ""}


def test_multipart_over_the_limit_leaves_nothing(storage: LocalStorage) -> None:
    body, content_type = encoded({"mode": "upsert"}, b"x" * 10_000)
    with pytest.raises(PayloadTooLarge) as info:
        multipart(storage, chunks(body, 1000), content_type, limit=5000)
    assert "5000 bytes" in info.value.message
    assert "MDHUB_MAX_UPLOAD_BYTES" in info.value.message
    assert_empty(storage)


def test_multipart_exactly_at_the_limit(storage: LocalStorage) -> None:
    body = form(part("file", b"x" * 100, filename="x"))
    upload = multipart(storage, chunks(body, 10), limit=len(body))
    assert_stored(storage, upload.file, b"x" * 100)


@pytest.mark.parametrize("cut", [1, 20, 80, -len(f"--{BOUNDARY}--\r\n"), -3])
def test_truncated_multipart_leaves_nothing(storage: LocalStorage, cut: int) -> None:
    body = form(part("mode", b"upsert"), part("file", b"y" * 50, filename="y.csv"))
    with pytest.raises(InvalidRequest, match="the multipart body is incomplete"):
        multipart(storage, chunks(body[:cut], 7), limit=BIG)
    assert_empty(storage)


def test_empty_multipart_body_is_incomplete(storage: LocalStorage) -> None:
    with pytest.raises(InvalidRequest, match="incomplete"):
        multipart(storage, pieces([]), limit=BIG)


@pytest.mark.parametrize(
    ("content_type", "message"),
    [
        ("application/json", "expected a multipart/form-data body"),
        ("", "expected a multipart/form-data body"),
        ("multipart/mixed; boundary=abc", "expected a multipart/form-data body"),
        ("multipart/form-data", "no boundary"),
        ("multipart/form-data; charset=utf-8", "no boundary"),
        (f"multipart/form-data; boundary={'x' * 300}", "malformed"),
    ],
)
def test_wrong_content_type(storage: LocalStorage, content_type: str, message: str) -> None:
    body = form(part("file", b"x", filename="x"))
    with pytest.raises(InvalidRequest, match=message):
        multipart(storage, chunks(body, 10), content_type, limit=BIG)
    assert_empty(storage)


def test_quoted_boundary_and_uppercase_media_type(storage: LocalStorage) -> None:
    body = form(part("file", b"x", filename="x"))
    content_type = f'Multipart/Form-Data; boundary="{BOUNDARY}"'
    upload = multipart(storage, chunks(body, 10), content_type, limit=BIG)
    assert_stored(storage, upload.file, b"x")


def test_oversized_text_field(storage: LocalStorage) -> None:
    body = form(part("file", b"data", filename="f"), part("note", b"n" * 101))
    with pytest.raises(InvalidRequest, match="'note' is longer than 100 bytes"):
        multipart(storage, chunks(body, 9), limit=BIG, max_field_bytes=100)
    assert_empty(storage)


def test_text_field_at_its_size_limit(storage: LocalStorage) -> None:
    body = form(part("note", b"n" * 100))
    upload = multipart(storage, chunks(body, 9), limit=BIG, max_field_bytes=100)
    assert upload.fields == {"note": "n" * 100}


def test_duplicate_file_part(storage: LocalStorage) -> None:
    body = form(part("file", b"one", filename="1.csv"), part("file", b"two", filename="2.csv"))
    with pytest.raises(InvalidRequest, match="more than one 'file' part"):
        multipart(storage, chunks(body, 4), limit=BIG)
    assert_empty(storage)


def test_duplicate_text_field(storage: LocalStorage) -> None:
    body = form(part("mode", b"a"), part("file", b"x", filename="x"), part("mode", b"b"))
    with pytest.raises(InvalidRequest, match="'mode' is given more than once"):
        multipart(storage, chunks(body, 4), limit=BIG)
    assert_empty(storage)


def test_too_many_fields(storage: LocalStorage) -> None:
    body = form(*(part(f"f{i}", b"v") for i in range(4)))
    with pytest.raises(InvalidRequest, match="more than 3 fields"):
        multipart(storage, chunks(body, 50), limit=BIG, max_fields=3)


def test_non_utf8_field(storage: LocalStorage) -> None:
    body = form(part("file", b"x", filename="x"), part("note", "Chloé".encode("latin-1")))
    with pytest.raises(InvalidRequest, match="'note' is not valid UTF-8"):
        multipart(storage, chunks(body, 3), limit=BIG)
    assert_empty(storage)


def test_part_without_a_name(storage: LocalStorage) -> None:
    body = form(f"--{BOUNDARY}\r\nContent-Type: text/plain\r\n\r\nhello\r\n".encode())
    with pytest.raises(InvalidRequest, match="Content-Disposition"):
        multipart(storage, chunks(body, 3), limit=BIG)


@pytest.mark.parametrize(
    "body",
    [
        b"--nope-nope-nope\r\n",
        f"--{BOUNDARY}\r\nBad Header: x\r\n\r\n".encode(),
        f"--{BOUNDARY}XX\r\n".encode(),
    ],
)
def test_malformed_multipart(storage: LocalStorage, body: bytes) -> None:
    with pytest.raises(InvalidRequest, match="the multipart body is malformed"):
        multipart(storage, chunks(body, 3), limit=BIG)
    assert_empty(storage)


def test_multipart_aborts_when_the_stream_fails(storage: LocalStorage) -> None:
    body = form(part("file", b"z" * 1000, filename="z"))

    async def broken() -> AsyncIterator[bytes]:
        yield body[:500]
        raise ConnectionResetError("client went away")

    with pytest.raises(ConnectionResetError):
        multipart(storage, broken(), limit=BIG)
    assert_empty(storage)


def test_epilogue_after_the_closing_boundary_is_ignored(storage: LocalStorage) -> None:
    body = form(part("file", b"abc", filename="a")) + b"trailing epilogue"
    upload = multipart(storage, chunks(body, 5), limit=BIG)
    assert_stored(storage, upload.file, b"abc")


def test_utf8_filename(storage: LocalStorage) -> None:
    body, content_type = encoded({}, b"x", filename="données.csv")
    upload = multipart(storage, chunks(body, 5), content_type, limit=BIG)
    assert upload.filename == "données.csv"


# Any file content, any chunking

DELIMITER = f"\r\n--{BOUNDARY}".encode()
FRAGMENTS = [b"\r", b"\n", b"\r\n", b"-", b"--", DELIMITER[:-1], DELIMITER[:5], b"\x00", b"\xff"]
file_bytes = st.lists(st.sampled_from(FRAGMENTS) | st.binary(max_size=20), max_size=40).map(
    b"".join
)


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    content=file_bytes.filter(lambda data: DELIMITER not in data),
    cuts=st.lists(st.integers(min_value=0, max_value=1000), max_size=12),
    before=st.booleans(),
)
def test_any_file_in_any_chunking_is_stored_exactly(
    storage: LocalStorage, content: bytes, cuts: list[int], before: bool
) -> None:
    parts = [part("file", content, filename="f.bin")]
    parts.insert(0 if before else 1, part("mode", b"upsert"))
    body = form(*parts)
    bounds = sorted({0, len(body), *(cut % (len(body) + 1) for cut in cuts)})
    split = [body[a:b] for a, b in itertools.pairwise(bounds)]
    upload = multipart(storage, pieces(split), limit=BIG)
    assert upload.fields == {"mode": "upsert"}
    assert_stored(storage, upload.file, content)
