"""Export: a whole dataset from one snapshot as CSV, NDJSON, JSON or Parquet, optionally
gzip-compressed, streamed chunk by chunk (memory does not grow with the dataset).

The snapshot is taken when the export opens: a job that commits while the bytes flow changes
nothing in them. It ends with `ExportStream.close()`, also when the reader stops half-way.
On PostgreSQL a CSV export is the server's own `COPY … TO STDOUT`, each value formatted in SQL
as mdhub's CSV writes it; every other export reads typed Arrow batches (PostgreSQL: `COPY` CSV
parsed by Arrow; SQLite: batches of rows) and encodes them: both databases give the same
bytes.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Generator, Sequence
from contextlib import ExitStack, closing
from pathlib import Path

import pyarrow as pa
from sqlalchemy import Connection

from mdhub.core.schema import Field, Schema
from mdhub.db import export as db_export
from mdhub.db import sqlite_arrow
from mdhub.db.engine import Databases
from mdhub.db.snapshots import snapshot
from mdhub.db.sqlite_arrow import SnapshotMoved
from mdhub.errors import InvalidRequest
from mdhub.ingest.convert import canonical_json, custom_format
from mdhub.ingest.model import ARROW_TYPES
from mdhub.services.datasets import Dataset, get_dataset
from mdhub.services.export_formats import (
    FORMATS,
    Format,
    csv_header,
    csv_rows,
    json_array,
    ndjson_rows,
    parquet_file,
)
from mdhub.services.export_text import csv_field
from mdhub.services.streams import SnapshotStream

Chunks = Generator[bytes, None, None]
JSON_TYPES = ("object", "array")

# Level 1, as nginx compresses on the fly by default: several times faster than level 6, and
# most of its gain.
GZIP_LEVEL = 1
CSV_CHUNK_BYTES = 256 * 1024
BATCH_CHUNK_BYTES = 1024 * 1024
# Times an export starts again when jobs keep committing while it starts (SQLite).
SNAPSHOT_ATTEMPTS = 5


class ExportStream(SnapshotStream):
    """The bytes of one export (see SnapshotStream), with the file's name and media type."""

    def __init__(
        self, chunks: Chunks, stack: ExitStack, *, version: int, filename: str, media_type: str
    ) -> None:
        self.filename = filename
        self.media_type = media_type
        super().__init__(chunks, stack, version=version)


def open_export(
    dbs: Databases, workspace: str, name: str, *, format: str = "csv", gzip: bool = False
) -> ExportStream:
    """Open a snapshot of dataset `name` and start its export in `format`; InvalidRequest for
    an unknown format, NotFound for an unknown dataset."""
    fmt = FORMATS.get(format)
    if fmt is None:
        raise InvalidRequest(
            f"unknown export format '{format}' (one of {', '.join(FORMATS)})",
            {"format": format, "formats": list(FORMATS)},
        )
    dataset = get_dataset(dbs, workspace, name)
    for _ in range(SNAPSHOT_ATTEMPTS - 1):
        try:
            return _opened(dbs, dataset, fmt, gzip=gzip)
        except SnapshotMoved:
            continue  # a job committed while the export started: start again
    return _opened(dbs, dataset, fmt, gzip=gzip)


def _opened(dbs: Databases, dataset: Dataset, fmt: Format, *, gzip: bool) -> ExportStream:
    stack = ExitStack()
    try:
        conn = stack.enter_context(snapshot(dbs))
        state = db_export.snapshot_state(conn, dataset.id, dataset.table_name)
        schema = (
            Schema.from_descriptor(state.schema, keys=list(dataset.keys))
            if state.schema
            else dataset.schema
        )
        chunks = _encoded(dbs, conn, dataset, schema, state, fmt)
        if gzip:
            chunks = gzip_chunks(chunks)
        stack.callback(chunks.close)
        return ExportStream(
            chunks,
            stack,
            version=state.version,
            filename=f"{dataset.name}.{fmt.extension}",
            media_type=fmt.media_type,
        )
    except BaseException:
        stack.close()
        raise


def gzip_chunks(chunks: Chunks) -> Chunks:
    """`chunks` gzip-compressed on the fly, one chunk at a time."""
    compressor = zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    with closing(chunks):
        for chunk in chunks:
            if compressed := compressor.compress(chunk):
                yield compressed
    yield compressor.flush()


def _encoded(
    dbs: Databases,
    conn: Connection,
    dataset: Dataset,
    schema: Schema | None,
    state: db_export.SnapshotState,
    fmt: Format,
) -> Chunks:
    """The export's bytes; a CSV header comes with the first rows, so that a failure to read
    them is an error answer rather than a cut stream."""
    fields = schema.fields if schema is not None else ()
    null = schema.missing_values[0] if schema is not None and schema.missing_values else ""
    pg_csv = fmt.name == "csv" and state.has_table and dbs.kind == "postgresql"
    if pg_csv and _server_writes_csv(fields, null):
        query = db_export.csv_query(dataset.table_name, fields, dataset.keys, null)
        body = db_export.copy_chunks(conn, query, CSV_CHUNK_BYTES)
    else:
        body = _written(fmt, fields, null, _batches(dbs, conn, dataset, fields, state))
    with closing(body):
        if first := (csv_header(fields) if fmt.name == "csv" else b"") + next(body, b""):
            yield first
        yield from body


def _written(
    fmt: Format, fields: Sequence[Field], null: str, batches: Generator[pa.RecordBatch, None, None]
) -> Chunks:
    with closing(batches):
        if fmt.name == "csv":
            yield from csv_rows(fields, batches, null)
        elif fmt.name == "ndjson":
            yield from ndjson_rows(fields, batches)
        elif fmt.name == "json":
            yield from json_array(fields, batches)
        else:
            yield from parquet_file(arrow_schema(fields), batches)


def _batches(
    dbs: Databases,
    conn: Connection,
    dataset: Dataset,
    fields: Sequence[Field],
    state: db_export.SnapshotState,
) -> Generator[pa.RecordBatch, None, None]:
    schema = arrow_schema(fields)
    if not state.has_table or not fields:
        return
    table, keys = dataset.table_name, dataset.keys
    if dbs.kind == "sqlite":
        yield from sqlite_arrow.read_batches(
            Path(str(dbs.data.url.database)),
            table,
            schema,
            keys,
            dataset_id=dataset.id,
            version=state.version,
        )
        return
    objects = [i for i, f in enumerate(fields) if f.type in JSON_TYPES]
    for batch in db_export.pg_batches(conn, table, schema, keys, BATCH_CHUNK_BYTES):
        yield _canonical_json(batch, objects) if objects else batch


def arrow_schema(fields: Sequence[Field]) -> pa.Schema:
    """The Arrow types of exported columns: objects and arrays as JSON text."""
    return pa.schema([pa.field(f.name, ARROW_TYPES[f.type]) for f in fields])


def _canonical_json(batch: pa.RecordBatch, columns: list[int]) -> pa.RecordBatch:
    """PostgreSQL's JSONB text (`{"a": 1}`) as mdhub's one canonical JSON text, which SQLite
    stores: both databases export the same bytes."""
    arrays = batch.columns
    for i in columns:
        values = arrays[i].to_pylist()
        texts = [None if v is None else canonical_json(json.loads(v)) for v in values]
        arrays[i] = pa.array(texts, pa.string())
    return pa.record_batch(arrays, schema=batch.schema)


def _server_writes_csv(fields: Sequence[Field], null: str) -> bool:
    """Whether PostgreSQL can write every value as mdhub's CSV does: not objects and arrays
    (JSONB has its own text), dates or times in a strftime format, numbers with a decimal
    comma, or a missing value that CSV must quote."""
    words = [word for f in fields if f.type == "boolean" for word in db_export.boolean_words(f)]
    return (
        all(
            f.type not in JSON_TYPES and custom_format(f) is None and f.decimal_char == "."
            for f in fields
        )
        and csv_field(null) == null
        and not any("\x00" in word for word in [*words, null])
    )
