"""Request bodies streamed straight into upload storage: raw bodies and multipart/form-data."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header

from mdhub.errors import InvalidRequest, PayloadTooLarge
from mdhub.storage.base import StoredObject, Writer

if TYPE_CHECKING:
    from python_multipart.multipart import MultipartCallbacks


@dataclass(frozen=True)
class MultipartUpload:
    """A parsed form: its text fields, and the one file part stored (None if it was absent);
    fields named repeatable are in `lists`, every value in order."""

    fields: dict[str, str]
    file: StoredObject | None
    filename: str | None
    lists: dict[str, list[str]] = field(default_factory=dict)


def too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(
        f"the request body is larger than the upload limit of {limit} bytes "
        "(set by MDHUB_MAX_UPLOAD_BYTES)",
        {"limit": limit},
    )


async def receive_raw(stream: AsyncIterator[bytes], writer: Writer, *, limit: int) -> StoredObject:
    """Copy a raw body into `writer` chunk by chunk, so no upload is ever held in memory whole.

    The writer is aborted on any failure (including cancellation), so a refused or broken
    upload leaves nothing in storage.
    """
    received = 0
    try:
        async for chunk in stream:
            if not chunk:
                continue
            received += len(chunk)
            if received > limit:
                raise too_large(limit)
            writer.write(chunk)
        if received == 0:
            raise InvalidRequest("the request body is empty")
        return writer.commit()
    except BaseException:
        writer.abort()
        raise


class _FormReader:
    """The state behind python-multipart's callbacks: which part we are in and where it goes."""

    def __init__(
        self,
        new_writer: Callable[[], Writer],
        *,
        file_field: str,
        max_field_bytes: int,
        max_fields: int,
        repeatable: frozenset[str] = frozenset(),
    ) -> None:
        self.new_writer = new_writer
        self.file_field = file_field
        self.repeatable = repeatable
        self.lists: dict[str, list[str]] = {}
        self.max_field_bytes = max_field_bytes
        self.max_fields = max_fields
        self.fields: dict[str, str] = {}
        self.writer: Writer | None = None
        self.filename: str | None = None
        self.finished = False
        self._headers: dict[str, str] = {}
        self._header_field = bytearray()
        self._header_value = bytearray()
        self._name: str | None = None
        self._in_file = False
        self._value = bytearray()

    def callbacks(self) -> MultipartCallbacks:
        return {
            "on_part_begin": self.on_part_begin,
            "on_header_field": self.on_header_field,
            "on_header_value": self.on_header_value,
            "on_header_end": self.on_header_end,
            "on_headers_finished": self.on_headers_finished,
            "on_part_data": self.on_part_data,
            "on_part_end": self.on_part_end,
            "on_end": self.on_end,
        }

    def on_part_begin(self) -> None:
        self._headers = {}
        self._header_field.clear()
        self._header_value.clear()
        self._name = None
        self._in_file = False
        self._value.clear()

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_field += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def on_header_end(self) -> None:
        # Header bytes are kept as latin-1 text so they round-trip exactly to bytes below.
        name = self._header_field.decode("latin-1").lower()
        self._headers[name] = self._header_value.decode("latin-1")
        self._header_field.clear()
        self._header_value.clear()

    def on_headers_finished(self) -> None:
        disposition, options = parse_options_header(self._headers.get("content-disposition"))
        if disposition != b"form-data" or b"name" not in options:
            raise InvalidRequest(
                "every multipart part needs a 'Content-Disposition: form-data; name=...' header"
            )
        name = _decode_header(options[b"name"])
        if name == self.file_field:
            if self.writer is not None:
                raise InvalidRequest(f"the form has more than one '{name}' part: send one file")
            filename = options.get(b"filename")
            self.filename = _decode_header(filename) if filename else None
            self.writer = self.new_writer()
            self._in_file = True
        else:
            if name in self.fields:
                raise InvalidRequest(f"the form field '{name}' is given more than once")
            given = len(self.fields) + sum(len(values) for values in self.lists.values())
            if given >= self.max_fields:
                raise InvalidRequest(f"the form has more than {self.max_fields} fields")
        self._name = name

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        if self._in_file:
            assert self.writer is not None
            self.writer.write(data[start:end])
            return
        if len(self._value) + (end - start) > self.max_field_bytes:
            raise InvalidRequest(
                f"the form field '{self._name}' is longer than {self.max_field_bytes} bytes"
            )
        self._value += data[start:end]

    def on_part_end(self) -> None:
        if self._in_file or self._name is None:
            return
        try:
            value = self._value.decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidRequest(f"the form field '{self._name}' is not valid UTF-8") from None
        if self._name in self.repeatable:
            self.lists.setdefault(self._name, []).append(value)
        else:
            self.fields[self._name] = value

    def on_end(self) -> None:
        self.finished = True


def _decode_header(value: bytes) -> str:
    """Names and filenames as clients send them: UTF-8 in practice, latin-1 as the fallback."""
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        return value.decode("latin-1")


def _boundary(content_type: str) -> bytes:
    media_type, options = parse_options_header(content_type)
    if media_type != b"multipart/form-data":
        raise InvalidRequest(
            f"expected a multipart/form-data body, got content type '{content_type or '(none)'}'"
        )
    boundary = options.get(b"boundary")
    if not boundary:
        raise InvalidRequest("the multipart/form-data content type has no boundary parameter")
    return boundary


async def receive_multipart(
    stream: AsyncIterator[bytes],
    content_type: str,
    new_writer: Callable[[], Writer],
    *,
    limit: int,
    file_field: str = "file",
    max_field_bytes: int = 64 * 1024,
    max_fields: int = 50,
    repeatable: frozenset[str] = frozenset(),
) -> MultipartUpload:
    """Parse a multipart/form-data body as it arrives, writing the `file_field` part to storage.

    Text fields are small and kept in memory; the file goes chunk by chunk into one writer,
    which is committed only once the whole body has parsed, and aborted on any failure. A field
    named in `repeatable` may be given several times (a list, as in `id_keys=a&id_keys=b`).
    """
    boundary = _boundary(content_type)
    reader = _FormReader(
        new_writer,
        file_field=file_field,
        max_field_bytes=max_field_bytes,
        max_fields=max_fields,
        repeatable=repeatable,
    )
    received = 0
    try:
        try:
            parser = MultipartParser(boundary, reader.callbacks())
            async for chunk in stream:
                if not chunk:
                    continue
                received += len(chunk)
                if received > limit:
                    raise too_large(limit)
                parser.write(chunk)
        except FormParserError as exc:
            raise InvalidRequest(f"the multipart body is malformed: {exc}") from None
        if not reader.finished:
            raise InvalidRequest(
                "the multipart body is incomplete: it ends before the closing boundary"
            )
        stored = reader.writer.commit() if reader.writer is not None else None
    except BaseException:
        if reader.writer is not None:
            reader.writer.abort()
        raise
    return MultipartUpload(
        fields=reader.fields, file=stored, filename=reader.filename, lists=reader.lists
    )
