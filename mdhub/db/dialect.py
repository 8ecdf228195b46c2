"""Everything that differs between SQLite and PostgreSQL: column types, DDL options, bulk load.

The set-based SQL of the merge is the same on both (both speak `IS DISTINCT FROM`, `UPDATE …
FROM`, row values); what is not lives here and nowhere else.
"""

from __future__ import annotations

import io
import sqlite3
from collections.abc import Sequence
from typing import Any, ClassVar, Protocol

import psycopg
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
from sqlalchemy import Connection

from mdhub.core.schema import Field

JOB_LOCK_WAIT_MS = 6 * 3600 * 1000


def quote(name: str) -> str:
    """Quote an SQL identifier (the only place names enter SQL; values are always bound)."""
    if "\x00" in name:
        raise ValueError("an identifier cannot contain NUL")
    return '"' + name.replace('"', '""') + '"'


def text_quote(name: str) -> str:
    """`quote` for SQL given to SQLAlchemy's `text()`, where a bare `:name` is a parameter."""
    return quote(name).replace(":", "\\:")


def quote_list(names: Sequence[str], prefix: str = "") -> str:
    return ", ".join(f"{prefix}{quote(n)}" for n in names)


class Loader(Protocol):
    """Bulk-loads validated Arrow batches into one table, within the caller's transaction.

    `encode` touches no connection and may run in another thread; `write` sends its result.
    """

    def encode(self, batch: pa.RecordBatch) -> Any: ...

    def write(self, payload: Any) -> None: ...

    def close(self, error: BaseException | None = None) -> None: ...


class Dialect(Protocol):
    name: str
    # What a bulk load raises on a repeated key or unique value.
    unique_violation: tuple[type[BaseException], ...]

    def column_type(self, field_type: str) -> str: ...

    def table_suffix(self, *, keyed: bool) -> str: ...

    def create_staging_sql(self, name: str, columns_sql: str) -> str: ...

    def create_temp_as_sql(self, name: str, select_sql: str) -> str: ...

    def open_loader(self, conn: Connection, table: str, columns: Sequence[str]) -> Loader: ...

    def begin_job(self, conn: Connection) -> None: ...

    def lock_table(self, conn: Connection, table: str) -> None: ...


JOB_WORK_MEM = "256MB"
# Text sorts and compares by code point, as on SQLite, whatever the database's default collation.
TEXT_C = 'TEXT COLLATE "C"'


class PostgresDialect:
    name = "postgresql"
    unique_violation: tuple[type[BaseException], ...] = (psycopg.errors.UniqueViolation,)
    _types: ClassVar[dict[str, str]] = {
        "string": TEXT_C,
        "integer": "BIGINT",
        "number": "DOUBLE PRECISION",
        "boolean": "BOOLEAN",
        "date": "DATE",
        "datetime": "TIMESTAMPTZ",
        "time": "TIME",
        "year": "INTEGER",
        "duration": TEXT_C,
        "object": "JSONB",
        "array": "JSONB",
        "any": TEXT_C,
    }

    def column_type(self, field_type: str) -> str:
        return self._types[field_type]

    def table_suffix(self, *, keyed: bool) -> str:
        return ""

    def create_staging_sql(self, name: str, columns_sql: str) -> str:
        return f"CREATE TEMP TABLE {quote(name)} ({columns_sql}) ON COMMIT DROP"

    def create_temp_as_sql(self, name: str, select_sql: str) -> str:
        return f"CREATE TEMP TABLE {quote(name)} ON COMMIT DROP AS {select_sql}"

    def open_loader(self, conn: Connection, table: str, columns: Sequence[str]) -> Loader:
        return _CopyLoader(conn, table, columns)

    def begin_job(self, conn: Connection) -> None:
        # Hash joins and aggregates over a million staged keys stay in memory instead of
        # spilling to disk; timestamps travel as UTC text (see _CopyLoader).
        conn.exec_driver_sql(f"SET LOCAL work_mem = '{JOB_WORK_MEM}'")
        conn.exec_driver_sql("SET LOCAL TIME ZONE 'UTC'")

    def lock_table(self, conn: Connection, table: str) -> None:
        # Serializes writers of one dataset; readers (ACCESS SHARE) are not blocked.
        conn.exec_driver_sql(f"LOCK TABLE {quote(table)} IN SHARE ROW EXCLUSIVE MODE")


class _CopyLoader:
    """PostgreSQL `COPY … FROM STDIN` fed with CSV that Arrow's C++ writer produces."""

    def __init__(self, conn: Connection, table: str, columns: Sequence[str]) -> None:
        cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        self._cursor = cursor
        sql = f"COPY {quote(table)} ({quote_list(columns)}) FROM STDIN (FORMAT csv)"
        # Timestamps are sent as UTC wall-clock text (the job runs with TIME ZONE 'UTC'):
        # Arrow writes zone-less timestamps an order of magnitude faster than zoned ones.
        self._context = cursor.copy(sql)
        self._copy = self._context.__enter__()
        self._options = pacsv.WriteOptions(include_header=False)
        self._columns = list(columns)

    def encode(self, batch: pa.RecordBatch) -> bytes:
        columns = [_naive_utc(batch.column(name)) for name in self._columns]
        buffer = io.BytesIO()
        pacsv.write_csv(pa.record_batch(columns, names=self._columns), buffer, self._options)
        return buffer.getvalue()

    def write(self, payload: bytes) -> None:
        self._copy.write(payload)

    def close(self, error: BaseException | None = None) -> None:
        # With an error the COPY is aborted, and the transaction is rolled back by the caller.
        self._context.__exit__(type(error) if error else None, error, None)
        self._cursor.close()


class SqliteDialect:
    name = "sqlite"
    unique_violation: tuple[type[BaseException], ...] = (sqlite3.IntegrityError,)
    _types: ClassVar[dict[str, str]] = {
        "string": "TEXT",
        "integer": "INTEGER",
        "number": "REAL",
        "boolean": "INTEGER",
        "date": "TEXT",
        "datetime": "TEXT",
        "time": "TEXT",
        "year": "INTEGER",
        "duration": "TEXT",
        "object": "TEXT",
        "array": "TEXT",
        "any": "TEXT",
    }

    def column_type(self, field_type: str) -> str:
        return self._types[field_type]

    def table_suffix(self, *, keyed: bool) -> str:
        # STRICT: the declared types are enforced. WITHOUT ROWID: the rows live in the key's
        # b-tree, so a keyed table needs no second index.
        return " STRICT, WITHOUT ROWID" if keyed else " STRICT"

    def create_staging_sql(self, name: str, columns_sql: str) -> str:
        return f"CREATE TEMP TABLE {quote(name)} ({columns_sql})"

    def create_temp_as_sql(self, name: str, select_sql: str) -> str:
        return f"CREATE TEMP TABLE {quote(name)} AS {select_sql}"

    def open_loader(self, conn: Connection, table: str, columns: Sequence[str]) -> Loader:
        return _ExecutemanyLoader(conn, table, columns)

    def begin_job(self, conn: Connection) -> None:
        # Take the file's write lock before the job's first read: a deferred transaction that
        # reads, then writes after another job committed fails at once ("database is locked",
        # no busy wait); BEGIN IMMEDIATE waits its turn instead. Readers are not blocked (WAL).
        # A job waits for another job's merge as long as that takes (jobs on other datasets
        # queue here on SQLite's one writer), not just the connection's usual busy timeout.
        conn.exec_driver_sql("COMMIT")
        conn.exec_driver_sql(f"PRAGMA busy_timeout={JOB_LOCK_WAIT_MS}")
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    def lock_table(self, conn: Connection, table: str) -> None:
        # SQLite has one writer per file: the write lock taken by the merge is the lock.
        return None


def _naive_utc(column: pa.Array) -> pa.Array:
    """A zoned timestamp column as UTC wall-clock time without a zone."""
    if pa.types.is_timestamp(column.type) and column.type.tz is not None:
        return column.cast(pa.timestamp(column.type.unit))
    return column


def sqlite_values(column: pa.Array) -> list[Any]:
    """Python values of one Arrow column in the form SQLite stores them: dates and times as
    ISO 8601 text, timestamps as UTC text ending in Z."""
    if pa.types.is_timestamp(column.type):
        text = pc.cast(_naive_utc(column), pa.string())
        return pc.binary_join_element_wise(text, "Z", "").to_pylist()
    if pa.types.is_date(column.type) or pa.types.is_time(column.type):
        return pc.cast(column, pa.string()).to_pylist()
    return column.to_pylist()


class _ExecutemanyLoader:
    """SQLite: batched `executemany` inside the caller's transaction."""

    def __init__(self, conn: Connection, table: str, columns: Sequence[str]) -> None:
        self._cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        marks = ", ".join("?" for _ in columns)
        self._sql = f"INSERT INTO {quote(table)} ({quote_list(columns)}) VALUES ({marks})"
        self._columns = list(columns)

    def encode(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        # Python row tuples take ~10x the memory of the Arrow batch: build them only in write,
        # one batch at a time, so that batches waiting in the pipeline stay compact.
        return batch.select(self._columns)

    def write(self, payload: pa.RecordBatch) -> None:
        columns = [sqlite_values(column) for column in payload.columns]
        self._cursor.executemany(self._sql, zip(*columns, strict=True))

    def close(self, error: BaseException | None = None) -> None:
        self._cursor.close()


def dialect_for(kind: str) -> Dialect:
    return PostgresDialect() if kind == "postgresql" else SqliteDialect()


def column_sql(dialect: Dialect, field: Field) -> str:
    return f"{quote(field.name)} {dialect.column_type(field.type)}"
