"""A read-only snapshot of the dataset store: what an export or a changes stream reads from."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Connection

from mdhub.db.engine import Databases

# A read-only snapshot, and values written in UTC, with ISO dates and shortest exact floats.
PG_SNAPSHOT = (
    "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY",
    "SET LOCAL TIME ZONE 'UTC'",
    "SET LOCAL DateStyle = 'ISO, YMD'",
    "SET LOCAL extra_float_digits = 1",
    "SET LOCAL standard_conforming_strings = on",
)
# One pass over the table reads each page once: a small page cache keeps memory flat.
SQLITE_SNAPSHOT = ("PRAGMA cache_size = -2048",)


@contextmanager
def snapshot(dbs: Databases) -> Iterator[Connection]:
    """A connection in a read-only transaction whose reads all see one snapshot of the
    dataset store; the transaction ends, and the connection goes back, when the block does.

    PostgreSQL: REPEATABLE READ. SQLite (WAL): a read transaction keeps what its first read
    saw until it ends, whatever writers commit meanwhile."""
    with dbs.data.connect() as conn, conn.begin():
        for statement in PG_SNAPSHOT if dbs.kind == "postgresql" else SQLITE_SNAPSHOT:
            conn.exec_driver_sql(statement)
        yield conn
