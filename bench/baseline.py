"""The raw baselines: what a competent engineer writes by hand, with nothing but the driver.

PostgreSQL (psycopg 3): `COPY` the CSV into a TEMP staging table, then one
`INSERT … SELECT * FROM staging ON CONFLICT (key) DO UPDATE SET … WHERE (t.a, …) IS DISTINCT FROM
(excluded.a, …)`, all in one transaction. The initial load copies straight into the (empty)
table; a delete copies the keys and runs `DELETE … USING staging`; an overwrite is the upsert
followed by `DELETE … WHERE NOT EXISTS (… staging …)`.

SQLite (the standard library): `csv.reader` over the file, `executemany` in batches of 50,000
rows into a TEMP staging table (untyped: the values stay text), then the same single
`INSERT … SELECT … WHERE true ON CONFLICT(key) DO UPDATE SET … WHERE t.a IS NOT excluded.a OR …`,
which also turns the CSV text into the column types; one transaction; the database file in WAL
mode with synchronous=FULL. The initial load inserts straight into the table.

The target tables have typed columns (PostgreSQL: TEXT, BIGINT, DOUBLE PRECISION, BOOLEAN, DATE,
TIMESTAMPTZ; SQLite: a STRICT table of TEXT, INTEGER, REAL) and a primary key on the key.

Every timed function returns the seconds from the first byte read to the commit (connecting
and creating the target table are not timed). When given a `stats` dict it fills it with what
the database reported (`inserted`, `written` = inserted + updated, `deleted`) and the table's
row count afterwards (`rows`, counted after the clock stopped).
"""

from __future__ import annotations

import csv
import itertools
import re
import sqlite3
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg

from bench.generate import SCHEMA

PgCursor = psycopg.Cursor[Any]
Counts = dict[str, int]  # what a database reported: inserted, written, deleted

PG_SCHEMA = "bench_raw"  # the PostgreSQL schema that holds the baseline's table
TABLE_NAME = "vendors"
# The same table layout as mdhub's keyed dataset tables (mdhub/db/dialect.py): STRICT types,
# and WITHOUT ROWID so that the rows live in the primary key's b-tree (no second index).
SQLITE_TABLE_OPTIONS = " STRICT, WITHOUT ROWID"
BATCH_ROWS = 50_000  # rows per executemany() on SQLite
COPY_BLOCK_BYTES = 1 << 20  # bytes per COPY write on PostgreSQL

PG_TYPES = {
    "string": "TEXT",
    "integer": "BIGINT",
    "number": "DOUBLE PRECISION",
    "boolean": "BOOLEAN",
    "date": "DATE",
    "datetime": "TIMESTAMPTZ",
}
SQLITE_TYPES = {
    "string": "TEXT",
    "integer": "INTEGER",
    "number": "REAL",
    "boolean": "INTEGER",
    "date": "TEXT",
    "datetime": "TEXT",
}
# SQLite: the CSV text of a staged value (`{}`) as the column's type; an empty field is NULL.
SQLITE_FROM_TEXT = {
    "string": "NULLIF({}, '')",
    "integer": "CAST(NULLIF({}, '') AS INTEGER)",
    "number": "CAST(NULLIF({}, '') AS REAL)",
    "boolean": "CASE {} WHEN 'true' THEN 1 WHEN 'false' THEN 0 END",
    "date": "NULLIF({}, '')",
    "datetime": "NULLIF({}, '')",
}


@dataclass(frozen=True)
class Table:
    """The target table: column names and Table Schema types, the key, the NOT NULL columns."""

    name: str
    columns: tuple[tuple[str, str], ...]
    key: str
    required: frozenset[str]

    @classmethod
    def from_schema(cls, descriptor: Mapping[str, Any], name: str = TABLE_NAME) -> Table:
        """The table of a Table Schema descriptor with a single-column primary key."""
        (key,) = descriptor["primaryKey"]
        fields = descriptor["fields"]
        required = {f["name"] for f in fields if f.get("constraints", {}).get("required")}
        return cls(
            name=name,
            columns=tuple((f["name"], f.get("type", "string")) for f in fields),
            key=key,
            required=frozenset(required | {key}),
        )

    @property
    def names(self) -> list[str]:
        return [name for name, _ in self.columns]

    @property
    def non_key(self) -> list[str]:
        return [name for name, _ in self.columns if name != self.key]

    def ddl(self, qualified_name: str, types: Mapping[str, str], suffix: str = "") -> str:
        """CREATE TABLE with typed columns and the primary key."""
        columns = [
            f'"{name}" {types[ftype]}' + (" NOT NULL" if name in self.required else "")
            for name, ftype in self.columns
        ]
        columns.append(f'PRIMARY KEY ("{self.key}")')
        return f"CREATE TABLE {qualified_name} ({', '.join(columns)}){suffix}"


VENDORS = Table.from_schema(SCHEMA)


def libpq_url(url: str) -> str:
    """A SQLAlchemy PostgreSQL URL (`postgresql+psycopg://…`) as a libpq connection URL."""
    return re.sub(r"^postgres(?:ql)?(?:\+\w+)?://", "postgresql://", url)


def _quoted(names: list[str]) -> str:
    return ", ".join(f'"{n}"' for n in names)


# PostgreSQL ---------------------------------------------------------------------------------


def _pg_connect(url: str) -> psycopg.Connection[Any]:
    return psycopg.connect(libpq_url(url), autocommit=True)


def _pg_table(table: Table) -> str:
    return f'{PG_SCHEMA}."{table.name}"'


def _pg_copy(cur: PgCursor, target: str, columns: list[str], path: Path) -> int:
    """Stream a CSV file (with a header line) into `target`; the number of rows copied."""
    sql = (
        f"COPY {target} ({_quoted(columns)}) FROM STDIN (FORMAT csv, HEADER true, ENCODING 'UTF8')"
    )
    with path.open("rb") as f, cur.copy(sql) as copy:
        while block := f.read(COPY_BLOCK_BYTES):
            copy.write(block)
    return cur.rowcount


def _pg_upsert_sql(table: Table, staging: str) -> str:
    target = _pg_table(table)
    cols = table.non_key
    sets = ", ".join(f'"{c}" = excluded."{c}"' for c in cols)
    old = ", ".join(f't."{c}"' for c in cols)
    new = ", ".join(f'excluded."{c}"' for c in cols)
    return (
        f"INSERT INTO {target} AS t ({_quoted(table.names)}) "
        f"SELECT {_quoted(table.names)} FROM {staging} "
        f'ON CONFLICT ("{table.key}") DO UPDATE SET {sets} '
        f"WHERE ({old}) IS DISTINCT FROM ({new})"
    )


def pg_create_table(url: str, table: Table = VENDORS) -> None:
    """(Re)create the baseline's schema and empty table (not timed)."""
    with _pg_connect(url) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {PG_SCHEMA} CASCADE")
        conn.execute(f"CREATE SCHEMA {PG_SCHEMA}")
        conn.execute(table.ddl(_pg_table(table), PG_TYPES))


def pg_row_count(url: str, table: Table = VENDORS) -> int:
    """The number of rows in the baseline's table."""
    with _pg_connect(url) as conn:
        row = conn.execute(f"SELECT count(*) FROM {_pg_table(table)}").fetchone()
    return int(row[0]) if row else 0


def _pg_run(
    url: str, table: Table, stats: dict[str, int] | None, body: Callable[[PgCursor], Counts]
) -> float:
    """Run `body` in one transaction; the seconds it took."""
    with _pg_connect(url) as conn:
        cur = conn.cursor()
        started = time.perf_counter()
        with conn.transaction():
            reported = body(cur)
        elapsed = time.perf_counter() - started
    if stats is not None:
        stats.update(reported)
        stats["rows"] = pg_row_count(url, table)
    return elapsed


def pg_initial(
    url: str, csv_path: Path, table: Table = VENDORS, stats: dict[str, int] | None = None
) -> float:
    """Initial load: COPY the CSV straight into the (empty) table."""

    def body(cur: PgCursor) -> Counts:
        return {"inserted": _pg_copy(cur, _pg_table(table), table.names, csv_path)}

    return _pg_run(url, table, stats, body)


def _pg_stage(cur: PgCursor, definition: str, columns: list[str], csv_path: Path) -> None:
    """COPY the file into a new TEMP table `staging` (`definition`: its column list)."""
    cur.execute(f"CREATE TEMP TABLE staging ({definition}) ON COMMIT DROP")
    _pg_copy(cur, "staging", columns, csv_path)


def pg_upsert(
    url: str, csv_path: Path, table: Table = VENDORS, stats: dict[str, int] | None = None
) -> float:
    """Upsert: COPY into a TEMP staging table, then one INSERT … ON CONFLICT DO UPDATE."""

    def body(cur: PgCursor) -> Counts:
        _pg_stage(cur, f"LIKE {_pg_table(table)}", table.names, csv_path)
        cur.execute(_pg_upsert_sql(table, "staging"))
        return {"written": cur.rowcount}

    return _pg_run(url, table, stats, body)


def pg_delete(
    url: str, keys_csv: Path, table: Table = VENDORS, stats: dict[str, int] | None = None
) -> float:
    """Delete by key: COPY the keys into a TEMP staging table, then DELETE … USING staging."""

    def body(cur: PgCursor) -> Counts:
        _pg_stage(cur, f'"{table.key}" TEXT NOT NULL', [table.key], keys_csv)
        cur.execute("ANALYZE staging")
        cur.execute(
            f"DELETE FROM {_pg_table(table)} AS t USING staging AS s "
            f'WHERE t."{table.key}" = s."{table.key}"'
        )
        return {"deleted": cur.rowcount}

    return _pg_run(url, table, stats, body)


def pg_overwrite(
    url: str, csv_path: Path, table: Table = VENDORS, stats: dict[str, int] | None = None
) -> float:
    """Overwrite (the table becomes exactly the file): the upsert, then DELETE … NOT EXISTS."""

    def body(cur: PgCursor) -> Counts:
        _pg_stage(cur, f"LIKE {_pg_table(table)}", table.names, csv_path)
        cur.execute("ANALYZE staging")
        cur.execute(_pg_upsert_sql(table, "staging"))
        written = cur.rowcount
        cur.execute(
            f"DELETE FROM {_pg_table(table)} AS t WHERE NOT EXISTS "
            f'(SELECT 1 FROM staging AS s WHERE s."{table.key}" = t."{table.key}")'
        )
        return {"written": written, "deleted": cur.rowcount}

    return _pg_run(url, table, stats, body)


# SQLite -------------------------------------------------------------------------------------


def _sqlite_connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None)  # transactions are explicit
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = FULL")
    return conn


def _converted(table: Table, prefix: str = "") -> str:
    """The select list that turns staged CSV text into the column types."""
    return ", ".join(
        SQLITE_FROM_TEXT[ftype].format(f'{prefix}"{name}"') for name, ftype in table.columns
    )


def _csv_batches(path: Path) -> Iterator[list[list[str]]]:
    """Lists of up to BATCH_ROWS rows (lists of field strings) of a CSV file, header skipped."""
    with path.open(newline="", encoding="utf-8") as f:
        reader = csv.reader(f)
        next(reader)
        while batch := list(itertools.islice(reader, BATCH_ROWS)):
            yield batch


def sqlite_create_table(path: Path, table: Table = VENDORS) -> None:
    """(Re)create the baseline's database file and empty STRICT table (not timed)."""
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    conn = _sqlite_connect(path)
    try:
        conn.execute(table.ddl(f'"{table.name}"', SQLITE_TYPES, SQLITE_TABLE_OPTIONS))
    finally:
        conn.close()


def sqlite_row_count(path: Path, table: Table = VENDORS) -> int:
    """The number of rows in the baseline's table."""
    conn = sqlite3.connect(path)
    try:
        return int(conn.execute(f'SELECT count(*) FROM "{table.name}"').fetchone()[0])
    finally:
        conn.close()


def _sqlite_run(
    path: Path,
    table: Table,
    stats: dict[str, int] | None,
    body: Callable[[sqlite3.Connection], Counts],
) -> float:
    """Run `body` in one transaction; the seconds it took."""
    conn = _sqlite_connect(path)
    try:
        started = time.perf_counter()
        conn.execute("BEGIN")
        try:
            reported = body(conn)
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        elapsed = time.perf_counter() - started
    finally:
        conn.close()
    if stats is not None:
        stats.update(reported)
        stats["rows"] = sqlite_row_count(path, table)
    return elapsed


def _sqlite_stage(conn: sqlite3.Connection, names: list[str], csv_path: Path) -> None:
    conn.execute(f"CREATE TEMP TABLE staging ({_quoted(names)})")
    insert = f"INSERT INTO temp.staging VALUES ({', '.join('?' * len(names))})"
    for batch in _csv_batches(csv_path):
        conn.executemany(insert, batch)


def _sqlite_upsert_sql(table: Table) -> str:
    cols = table.non_key
    sets = ", ".join(f'"{c}" = excluded."{c}"' for c in cols)
    changed = " OR ".join(f'"{table.name}"."{c}" IS NOT excluded."{c}"' for c in cols)
    return (
        f'INSERT INTO "{table.name}" ({_quoted(table.names)}) '
        f"SELECT {_converted(table)} FROM temp.staging WHERE true "
        f'ON CONFLICT("{table.key}") DO UPDATE SET {sets} WHERE {changed}'
    )


def sqlite_initial(
    path: Path, csv_path: Path, table: Table = VENDORS, stats: dict[str, int] | None = None
) -> float:
    """Initial load: executemany() batches straight into the (empty) table."""
    params = [SQLITE_FROM_TEXT[ftype].format("?") for _, ftype in table.columns]
    insert = f'INSERT INTO "{table.name}" ({_quoted(table.names)}) VALUES ({", ".join(params)})'

    def body(conn: sqlite3.Connection) -> Counts:
        inserted = 0
        for batch in _csv_batches(csv_path):
            inserted += conn.executemany(insert, batch).rowcount
        return {"inserted": inserted}

    return _sqlite_run(path, table, stats, body)


def sqlite_upsert(
    path: Path, csv_path: Path, table: Table = VENDORS, stats: dict[str, int] | None = None
) -> float:
    """Upsert: executemany() into a TEMP staging table, then one INSERT … ON CONFLICT."""

    def body(conn: sqlite3.Connection) -> Counts:
        _sqlite_stage(conn, table.names, csv_path)
        return {"written": conn.execute(_sqlite_upsert_sql(table)).rowcount}

    return _sqlite_run(path, table, stats, body)


def sqlite_delete(
    path: Path, keys_csv: Path, table: Table = VENDORS, stats: dict[str, int] | None = None
) -> float:
    """Delete by key: the keys into a TEMP staging table, then DELETE … WHERE key IN staging."""

    def body(conn: sqlite3.Connection) -> Counts:
        _sqlite_stage(conn, [table.key], keys_csv)
        deleted = conn.execute(
            f'DELETE FROM "{table.name}" WHERE "{table.key}" IN '
            f'(SELECT "{table.key}" FROM temp.staging)'
        ).rowcount
        return {"deleted": deleted}

    return _sqlite_run(path, table, stats, body)


def sqlite_overwrite(
    path: Path, csv_path: Path, table: Table = VENDORS, stats: dict[str, int] | None = None
) -> float:
    """Overwrite: the upsert, then DELETE of the rows whose key is not in staging."""

    def body(conn: sqlite3.Connection) -> Counts:
        _sqlite_stage(conn, table.names, csv_path)
        written = conn.execute(_sqlite_upsert_sql(table)).rowcount
        deleted = conn.execute(
            f'DELETE FROM "{table.name}" WHERE "{table.key}" NOT IN '
            f'(SELECT "{table.key}" FROM temp.staging)'
        ).rowcount
        return {"written": written, "deleted": deleted}

    return _sqlite_run(path, table, stats, body)
