"""Reading a dataset's whole table from one snapshot, in key order.

PostgreSQL streams `COPY (SELECT …) TO STDOUT (FORMAT csv)`: either the CSV mdhub exports, with
each value formatted by the server (`csv_query`), or plain CSV that Arrow parses into typed
batches. SQLite reads batches of rows and turns its stored forms (booleans as 0/1, dates, times
and datetimes as ISO 8601 text) into the same Arrow types.
"""

from __future__ import annotations

import io
import select as select_module
from collections.abc import Generator, Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
import pyarrow as pa
import pyarrow.csv as pacsv
from psycopg import pq
from sqlalchemy import Connection, func, select

from mdhub.core.schema import Field
from mdhub.db.dataset_tables import table_exists
from mdhub.db.dialect import quote, quote_list
from mdhub.db.tables import versions


@dataclass(frozen=True)
class SnapshotState:
    """What a snapshot holds of a dataset besides its rows."""

    version: int  # the newest version (0: none yet)
    schema: dict[str, Any] | None  # the newest schema a version recorded
    has_table: bool  # False until the first job creates the table of a dataset without schema


def snapshot_state(conn: Connection, dataset_id: int, table: str) -> SnapshotState:
    mine = versions.c.dataset_id == dataset_id
    version = conn.execute(select(func.max(versions.c.version)).where(mine)).scalar()
    schema = conn.execute(
        select(versions.c.schema)
        .where(mine, versions.c.schema.is_not(None))
        .order_by(versions.c.version.desc())
        .limit(1)
    ).scalar()
    return SnapshotState(int(version or 0), schema, table_exists(conn, table))


def literal(text: str) -> str:
    """An SQL string literal (with standard_conforming_strings, as the snapshot sets)."""
    if "\x00" in text:
        raise ValueError("an SQL literal cannot contain NUL")
    return "'" + text.replace("'", "''") + "'"


def boolean_words(field: Field) -> tuple[str, str]:
    """How a boolean field's true and false are written: its first true and false values."""
    return (
        field.true_values[0] if field.true_values else "true",
        field.false_values[0] if field.false_values else "false",
    )


def _pg_csv_column(field: Field) -> str:
    name = quote(field.name)
    if field.type == "boolean":
        true, false = (literal(word) for word in boolean_words(field))
        return f"CASE WHEN {name} THEN {true} WHEN NOT {name} THEN {false} END"
    if field.type == "number":
        # The infinities as mdhub reads them back; NaN and finite values as PostgreSQL writes.
        return (
            f"CASE WHEN {name} = 'Infinity' THEN 'INF' WHEN {name} = '-Infinity' THEN '-INF' "
            f"ELSE {name}::text END"
        )
    if field.type == "datetime":
        return f"{name}::text || ':00'"  # '2024-01-31 12:00:00.5+00' in UTC, as ±HH:MM
    if field.type == "year":
        return f"lpad({name}::text, 4, '0')"
    return name


def _select(table: str, columns: str, keys: Sequence[str]) -> str:
    order = f" ORDER BY {quote_list(keys)}" if keys else ""
    return f"SELECT {columns} FROM {quote(table)}{order}"


def csv_query(table: str, fields: Sequence[Field], keys: Sequence[str], null: str) -> str:
    """PostgreSQL: `COPY` of the table as the CSV rows mdhub exports (no header), `null`
    standing for a missing value."""
    query = _select(table, ", ".join(_pg_csv_column(f) for f in fields), keys)
    null_option = f", NULL {literal(null)}" if null else ""
    return f"COPY ({query}) TO STDOUT (FORMAT csv{null_option})"


def copy_chunks(conn: Connection, sql: str, chunk_bytes: int) -> Generator[bytes, None, None]:
    """The output of a `COPY … TO STDOUT` in chunks of whole rows, each at least `chunk_bytes`
    long but the last. Closing the iterator early cancels the COPY.

    The rows (one protocol message each) are taken straight from libpq: psycopg's own
    row-by-row read costs the client more CPU than the server spends writing them."""
    driver: psycopg.Connection[Any] = conn.connection.driver_connection  # type: ignore[assignment]
    pgconn = driver.pgconn
    with driver.cursor() as cursor, cursor.copy(sql):
        buffer = bytearray()
        while True:
            size, row = pgconn.get_copy_data(1)
            if size > 0:
                buffer += row
                if len(buffer) >= chunk_bytes:
                    yield bytes(buffer)
                    buffer.clear()
            elif size == 0:
                _wait_for_input(pgconn)
            else:
                break
        _end_copy(pgconn, driver.info.encoding)
        if buffer:
            yield bytes(buffer)


def _wait_for_input(pgconn: Any) -> None:
    select_module.select([pgconn.socket], [], [])  # without the GIL, unlike a blocking libpq read
    pgconn.consume_input()


def _end_copy(pgconn: Any, encoding: str) -> None:
    """Collect the results that end a COPY; raise the error of a failed one."""
    while True:
        while pgconn.is_busy():
            _wait_for_input(pgconn)
        result = pgconn.get_result()
        if result is None:
            return
        if result.status != pq.ExecStatus.COMMAND_OK:
            raise psycopg.errors.error_from_result(result, encoding=encoding)


def pg_batches(
    conn: Connection, table: str, schema: pa.Schema, keys: Sequence[str], chunk_bytes: int
) -> Generator[pa.RecordBatch, None, None]:
    """PostgreSQL: the table's rows as Arrow batches of `schema`'s types, parsed from `COPY`
    CSV chunks (each holds whole rows, so each parses alone)."""
    sql = f"COPY ({_select(table, quote_list(schema.names), keys)}) TO STDOUT (FORMAT csv)"
    read = pacsv.ReadOptions(column_names=schema.names, use_threads=False)
    parse = pacsv.ParseOptions(newlines_in_values=True)
    convert = pacsv.ConvertOptions(
        column_types=schema,
        null_values=[""],
        strings_can_be_null=True,
        quoted_strings_can_be_null=False,
        true_values=["t"],
        false_values=["f"],
    )
    for chunk in copy_chunks(conn, sql, chunk_bytes):
        yield from pacsv.read_csv(io.BytesIO(chunk), read, parse, convert).to_batches()
