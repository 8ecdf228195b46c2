"""Export formats: each turns typed Arrow batches into bytes, one batch at a time, so memory
stays flat whatever the dataset's size."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from mdhub.core.schema import Field
from mdhub.ingest.arrow_ops import text_bytes, text_scalar
from mdhub.services.export_text import csv_field, csv_texts, json_texts

# Rows per Parquet row group: large enough for readers, small enough to hold in memory.
ROW_GROUP_ROWS = 65_536
_EMPTY = text_scalar("")


@dataclass(frozen=True)
class Format:
    name: str
    extension: str
    media_type: str


FORMATS = {
    "csv": Format("csv", "csv", "text/csv; charset=utf-8"),
    "ndjson": Format("ndjson", "ndjson", "application/x-ndjson"),
    "json": Format("json", "json", "application/json"),
    "parquet": Format("parquet", "parquet", "application/vnd.apache.parquet"),
}


def csv_header(fields: Sequence[Field]) -> bytes:
    """The header line: the field names (none without fields)."""
    if not fields:
        return b""
    return (",".join(csv_field(f.name) for f in fields) + "\n").encode()


def csv_rows(
    fields: Sequence[Field], batches: Iterator[pa.RecordBatch], null: str
) -> Iterator[bytes]:
    """CSV lines, `null` for a missing value."""
    alone = len(fields) == 1
    for batch in _nonempty(batches):
        texts = [csv_texts(f, batch.column(i), null, alone=alone) for i, f in enumerate(fields)]
        yield _joined(_interleave(texts, ",", last="\n"))


def ndjson_rows(fields: Sequence[Field], batches: Iterator[pa.RecordBatch]) -> Iterator[bytes]:
    """One JSON object per line."""
    for batch in _nonempty(batches):
        yield _joined(_objects(fields, batch, end="}\n"))


def json_array(fields: Sequence[Field], batches: Iterator[pa.RecordBatch]) -> Iterator[bytes]:
    """One JSON array of objects, one object per line."""
    before = b"[\n"
    for batch in _nonempty(batches):
        yield before + _joined(_objects(fields, batch, end="}", between=",\n"))
        before = b",\n"
    yield b"[\n]\n" if before == b"[\n" else b"\n]\n"


def parquet_file(schema: pa.Schema, batches: Iterator[pa.RecordBatch]) -> Iterator[bytes]:
    """A Parquet file of `schema`, written in row groups as the batches arrive."""
    sink = _Sink()
    pending: list[pa.RecordBatch] = []
    with pq.ParquetWriter(sink, schema) as writer:
        for batch in batches:
            pending.append(batch)
            if sum(b.num_rows for b in pending) >= ROW_GROUP_ROWS:
                writer.write_table(pa.Table.from_batches(pending, schema))
                pending.clear()
                yield sink.take()
        if pending:
            writer.write_table(pa.Table.from_batches(pending, schema))
    yield sink.take()


def _objects(
    fields: Sequence[Field], batch: pa.RecordBatch, *, end: str, between: str = ""
) -> pa.Array:
    """Each row as a JSON object, `end` after it (and `between` before all but the first)."""
    names = [json.dumps(f.name, ensure_ascii=False) for f in fields]
    parts: list[pa.Array | pa.Scalar] = []
    for i, (name, field) in enumerate(zip(names, fields, strict=True)):
        parts += [
            text_scalar(("{" if i == 0 else ",") + name + ":"),
            json_texts(field, batch.column(i)),
        ]
    rows = pc.binary_join_element_wise(*parts, text_scalar(end), _EMPTY)
    if between and len(rows) > 1:
        rest = pc.binary_join_element_wise(text_scalar(between), rows[1:], _EMPTY)
        rows = pa.concat_arrays([rows[:1], rest])
    return rows


def _interleave(texts: list[pa.Array], separator: str, *, last: str) -> pa.Array:
    parts: list[pa.Array | pa.Scalar] = []
    for text in texts:
        parts += [text, text_scalar(separator)]
    parts[-1] = text_scalar(last)
    return pc.binary_join_element_wise(*parts, _EMPTY)


def _joined(rows: pa.Array) -> bytes:
    """The rows' texts one after the other."""
    return text_bytes(rows)


class _Sink(io.RawIOBase):
    """Where the Parquet writer writes; `take` hands over what it wrote since the last call."""

    def __init__(self) -> None:
        super().__init__()
        self._parts: list[bytes] = []
        self._position = 0

    def writable(self) -> bool:
        return True

    def write(self, data: Any, /) -> int:
        chunk = bytes(data)
        self._parts.append(chunk)
        self._position += len(chunk)
        return len(chunk)

    def tell(self) -> int:
        return self._position

    def take(self) -> bytes:
        taken = b"".join(self._parts)
        self._parts.clear()
        return taken


def _nonempty(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    return (batch for batch in batches if batch.num_rows)
