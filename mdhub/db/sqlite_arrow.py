"""SQLite tables read straight into Arrow, by ADBC's SQLite driver (in C: no Python object per
value), in another thread, one batch ahead of the caller.

The rows are read in a read transaction of their own, which must see the caller's snapshot:
the dataset's newest version, read in both, tells (every change to a dataset's rows is a new
version). When a job committed in between, SnapshotMoved: the caller opens both again.
"""

from __future__ import annotations

from collections.abc import Generator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import quote as quote_uri

import pyarrow as pa
import pyarrow.compute as pc

from mdhub.db.dialect import quote, quote_list

BATCH_ROWS = 16_384
# The one thread that calls the driver, for every export (each call reads one batch, so
# concurrent exports take turns): a long-lived one, as the C allocator keeps a thread's freed
# memory for that thread's reuse, and a thread per export would leave some behind each time.
_READERS = ThreadPoolExecutor(1, thread_name_prefix="mdhub-sqlite-arrow")
# A read of the whole table needs each page once: a small page cache keeps memory flat.
PRAGMAS = ("PRAGMA cache_size = -2048", "PRAGMA busy_timeout = 60000")
_VERSION = "SELECT coalesce(max(version), 0) FROM versions WHERE dataset_id = ?"
_TIME_PREFIX = pa.scalar("1970-01-01T", pa.string())


class SnapshotMoved(Exception):
    """A job committed between the caller's snapshot and the reader's."""


def read_batches(
    path: Path,
    table: str,
    schema: pa.Schema,
    keys: Sequence[str],
    *,
    dataset_id: int,
    version: int,
) -> Generator[pa.RecordBatch, None, None]:
    """The table's rows in key order as Arrow batches of `schema`'s types, read in a snapshot
    where the dataset's newest version is `version` (else SnapshotMoved, before any batch)."""
    conn = _READERS.submit(_connect, path).result()
    cursor = conn.cursor()
    batches = upcoming = None
    try:
        seen = _READERS.submit(_version, cursor, dataset_id).result()
        if seen != version:
            raise SnapshotMoved(f"version {seen} where the snapshot has {version}")
        batches = _READERS.submit(_rows, cursor, table, schema, keys).result()
        # Without the first row: the one that typed the columns.
        upcoming = _READERS.submit(_next, batches, schema, skip=1)
        while (batch := upcoming.result()) is not None:
            upcoming = _READERS.submit(_next, batches, schema)
            if batch.num_rows:
                yield batch
    finally:
        if upcoming is not None:
            upcoming.exception()  # the read under way ends first: one call at a time
        _READERS.submit(_close, conn, cursor, batches).result()


def _connect(path: Path) -> Any:
    # Imported here, by the first SQLite export: the driver's libraries take some 12 MB that a
    # process which never exports (a worker, a PostgreSQL server) does not need.
    import adbc_driver_sqlite.dbapi as adbc_sqlite

    conn = adbc_sqlite.connect(f"file:{quote_uri(str(path))}?mode=ro")  # autocommit off
    with conn.cursor() as cursor:
        for pragma in PRAGMAS:
            cursor.execute(pragma)
    return conn


def _version(cursor: Any, dataset_id: int) -> int:
    cursor.execute(_VERSION, (dataset_id,))
    return int(cursor.fetchone()[0])


def _rows(cursor: Any, table: str, schema: pa.Schema, keys: Sequence[str]) -> Any:
    """The reader of the table's rows, after one row of placeholders: the driver types each
    column by its first values, and a column may begin with missing ones."""
    placeholders = ", ".join(
        f"{_placeholder(kind)} AS {quote(name)}"
        for name, kind in zip(schema.names, schema.types, strict=True)
    )
    order = f" ORDER BY {quote_list(keys)}" if keys else ""
    rows = f"SELECT {quote_list(schema.names)} FROM {quote(table)}{order}"
    cursor.adbc_statement.set_options(**{"adbc.sqlite.query.batch_rows": str(BATCH_ROWS)})
    cursor.execute(f"SELECT {placeholders} UNION ALL SELECT * FROM ({rows})")
    return cursor.fetch_record_batch()


def _close(conn: Any, cursor: Any, batches: Any) -> None:
    """The batches' reader first, here: it reads through the cursor's statement, and released
    after it (by whichever thread dropped it last) it would touch freed memory."""
    try:
        if batches is not None:
            batches.close()
        cursor.close()
    finally:
        conn.close()


def _placeholder(kind: pa.DataType) -> str:
    """A value of the stored type of a column of `kind` (booleans are 0/1, dates text)."""
    if pa.types.is_boolean(kind) or pa.types.is_integer(kind):
        return "0"
    return "0.0" if pa.types.is_floating(kind) else "''"


def _next(batches: Any, schema: pa.Schema, *, skip: int = 0) -> pa.RecordBatch | None:
    """The next batch in `schema`'s types and in Arrow's own memory: the driver's buffers are
    freed here, in the thread that allocated them, at once (freed in another, the C allocator
    keeps them aside, and memory would grow with the export)."""
    try:
        batch = batches.read_next_batch().slice(skip)
    except StopIteration:
        return None
    columns = [_typed(c, t) for c, t in zip(batch.columns, schema.types, strict=True)]
    return pa.record_batch(columns, schema=schema)


def _typed(column: pa.Array, kind: pa.DataType) -> pa.Array:
    """Stored SQLite values (booleans as 0/1, dates, times and datetimes as ISO 8601 text) as
    a new Arrow array of `kind`."""
    if pa.types.is_time(kind):
        stamps = pc.binary_join_element_wise(_TIME_PREFIX, column, "")
        return pc.cast(pc.cast(stamps, pa.timestamp("us")), kind)
    return pa.concat_arrays([column]) if column.type == kind else pc.cast(column, kind)
