"""NDJSON and JSON-array readers: one object per row, every value rendered as text."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from decimal import Decimal
from itertools import islice
from typing import Any

import ijson  # picks its C backend (yajl2_c) when it is available
import pyarrow as pa

from mdhub.errors import InputError
from mdhub.ingest.model import RawBatch, RowError, clip_value
from mdhub.ingest.readers.base import Reader
from mdhub.ingest.readers.source import (
    TextSource,
    encoding_error,
    find_utf8_error,
    text_encoding,
)

MAX_LINE_BYTES = 64 << 20
JSON_WHITESPACE = b" \t\r\n"

# A parsed row (its line or record number and the object), or a row that could not be parsed.
Entry = tuple[int, dict[str, Any]] | RowError


def _compact(value: Any) -> str:
    # Decimals (ijson's non-integers) inside objects and arrays are written as floats.
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=float)


# How each parsed scalar type is written; anything else (objects, arrays) is compact JSON.
_SCALAR_TEXT: dict[type, Callable[[Any], str]] = {
    str: str,
    int: str,
    float: repr,
    Decimal: str,
    bool: {True: "true", False: "false"}.__getitem__,
}


def json_text(value: Any) -> str | None:
    """A JSON value as text: strings as is, numbers as their JSON text, objects compact JSON."""
    return None if value is None else _SCALAR_TEXT.get(type(value), _compact)(value)


def _kind(value: Any) -> str:
    """The JSON type name of a parsed value."""
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool):
        return "a boolean"
    return "null" if value is None else "a number"


def _refuse_constant(name: str) -> None:
    raise ValueError(f"{name} is not allowed")


_DECODER = json.JSONDecoder(parse_constant=_refuse_constant)  # NaN and Infinity are not JSON


class _JsonReader(Reader):
    """What both JSON formats share: columns from the first batch, rows rendered as text."""

    unit = "line"  # what a row's number counts

    def _open(self, column_names: list[str] | None) -> None:
        self._source = TextSource(self._path, self._options)
        self._resources.callback(self._source.close)
        self._file = self._source.file
        self._entries = self._parse()
        self._first = list(islice(self._entries, self._options.batch_rows))
        for entry in self._first:
            if not isinstance(entry, RowError):
                self.columns.extend(key for key in entry[1] if key not in self.columns)
        self._known = set(self.columns)
        self._unknown: dict[str, int] = {}  # key -> where it was first seen

    def _parse(self) -> Iterator[Entry]:
        raise NotImplementedError

    def _error(self, number: int, value: Any, message: str, column: str | None = None) -> RowError:
        return RowError(self._part, number, column, clip_value(value), message)

    def _batches(self) -> Iterator[RawBatch]:
        entries, self._first = self._first, []
        while entries:
            yield self._batch(entries)
            entries = list(islice(self._entries, self._options.batch_rows))

    def _batch(self, entries: list[Entry]) -> RawBatch:
        records: list[dict[str, Any]] = []
        lines: list[int] = []
        errors: list[RowError] = []
        for entry in entries:
            if isinstance(entry, RowError):
                errors.append(entry)
                continue
            number, record = entry
            if self._known.issuperset(record):
                records.append(record)
                lines.append(number)
                continue
            unknown = next(key for key in record if key not in self._known)
            first = self._unknown.setdefault(unknown, number)
            message = f"unknown column {unknown!r} first seen at {self.unit} {first}"
            errors.append(self._error(number, json_text(record[unknown]), message, unknown))
        columns = {}
        for name in self.columns:
            values = [record.get(name) for record in records]
            columns[name] = pa.array([json_text(value) for value in values], pa.string())
        return RawBatch(columns, pa.array(lines, pa.int64()), errors)


class NdjsonReader(_JsonReader):
    """One JSON object per line; a line that is not one is a row error, blank lines are skipped."""

    def _parse(self) -> Iterator[Entry]:
        stream = self._source.stream
        number = 0
        while raw := stream.readline(MAX_LINE_BYTES + 1):
            number += 1
            if len(raw) > MAX_LINE_BYTES:
                raise InputError(f"line {number} is longer than {MAX_LINE_BYTES} bytes")
            try:
                text = raw.decode()
            except UnicodeDecodeError as error:
                raise encoding_error(number, error.start + 1, raw[error.start], None) from None
            if not text.strip():
                continue
            try:
                value = _DECODER.decode(text)
            except json.JSONDecodeError as error:
                message = f"not valid JSON: {error.msg} at column {error.colno}"
                yield self._error(number, text.strip(), message)
                continue
            except (ValueError, RecursionError) as error:
                yield self._error(number, text.strip(), f"not valid JSON: {error}")
                continue
            if isinstance(value, dict):
                yield number, value
            else:
                yield self._error(number, text.strip(), f"not a JSON object but {_kind(value)}")


class JsonArrayReader(_JsonReader):
    """A document that is one array of objects, parsed incrementally; rows count records."""

    unit = "record"

    def _parse(self) -> Iterator[Entry]:
        stream = self._source.stream
        while (head := stream.peek(1)[:1]) and head in JSON_WHITESPACE:
            stream.read(1)
        if not head:
            raise InputError("the file is empty")
        where = self._options.json_items
        if where == "item" and head != b"[":
            raise InputError("a JSON file must hold one array of objects")
        if where != "item" and head != b"{":
            raise InputError("the request body must be one JSON object")
        number = 0
        try:
            for value in ijson.items(stream, where):
                number += 1
                if isinstance(value, dict):
                    yield number, value
                else:
                    message = f"not a JSON object but {_kind(value)}"
                    yield self._error(number, json_text(value), message)
        except (ijson.JSONError, ValueError) as error:
            raise self._malformed(number + 1, error) from None

    def _malformed(self, number: int, error: Exception) -> InputError:
        """The error for a broken document; ijson cannot resume after one."""
        detail = error.args[0] if error.args else error
        if isinstance(detail, bytes):
            detail = detail.decode(errors="replace")
        message = str(detail).splitlines()[0] if str(detail) else type(error).__name__
        bad_utf8 = "UTF8" in message or isinstance(error, UnicodeDecodeError)
        if bad_utf8 and text_encoding(self._options.encoding) is None:
            located = find_utf8_error(self._path, self._options)
            if located is not None:
                return located
        return InputError(
            f"the JSON document is malformed at record {number}: {message}", {"record": number}
        )
