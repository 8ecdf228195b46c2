"""SQLite reads run on the event loop's thread itself: an indexed read of a local file costs
less than handing it to a thread, and in WAL mode it never waits for a writer.

`LoopReads` keeps one connection per file for the loop (used from that thread only): the
driver's own for the one-statement reads of every lookup, which SQLAlchemy's execution
machinery would cost several times over, and a metadata read engine of its own (in `dbs`)
for what needs SQLAlchemy's typed results. Each statement is its own read transaction (autocommit).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from sqlalchemy.pool import SingletonThreadPool

from mdhub.db.engine import SQLITE_PRAGMAS, Databases, sqlite_engine


class LoopReads:
    """The event loop's reads of one SQLite metadata file and its dataset file."""

    def __init__(self, dbs: Databases) -> None:
        meta_path, data_path = (Path(str(e.url.database)) for e in (dbs.meta, dbs.data))
        # SingletonThreadPool: one connection per thread, here the loop's, so that a read never
        # waits for the threads' pool.
        loop_engine = sqlite_engine(meta_path, begin="BEGIN", poolclass=SingletonThreadPool)
        self.dbs = replace(dbs, meta_reads=loop_engine)
        self._paths = {"meta": meta_path, "data": data_path}
        self._connections: dict[str, sqlite3.Connection] = {}

    def meta_row(self, sql: str, params: Mapping[str, Any]) -> tuple[Any, ...] | None:
        """The first row of `sql` (`:name` placeholders) on the metadata file."""
        return self._first("meta", sql, params)

    def data_row(self, sql: str, params: Mapping[str, Any]) -> tuple[Any, ...] | None:
        """The first row of `sql` on the dataset file."""
        return self._first("data", sql, params)

    def close(self) -> None:
        for conn in self._connections.values():
            conn.close()
        self._connections.clear()
        self.dbs.meta_reads.dispose()

    def _first(self, store: str, sql: str, params: Mapping[str, Any]) -> tuple[Any, ...] | None:
        conn = self._connections.get(store) or self._connect(store)
        rows = conn.execute(sql, params).fetchall()  # to the end: the read transaction is over
        return rows[0] if rows else None

    def _connect(self, store: str) -> sqlite3.Connection:
        conn = sqlite3.connect(self._paths[store], isolation_level=None)
        for pragma in (*SQLITE_PRAGMAS, "PRAGMA query_only=ON"):
            conn.execute(pragma)
        self._connections[store] = conn
        return conn
