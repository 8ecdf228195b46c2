"""Database engines: the metadata store and the dataset store, on SQLite or PostgreSQL.

On PostgreSQL both are the same database. On SQLite they are two files, so that a long merge
holding the dataset file's write lock never stalls job submission or status updates.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, exc
from sqlalchemy.engine import URL, make_url
from sqlalchemy.pool import NullPool, QueuePool

from mdhub.db.filters import sqlite_regexp
from mdhub.errors import InvalidRequest

SQLITE_PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    # FULL: a committed job survives a power cut, not only a process crash (invariant 2).
    "PRAGMA synchronous=FULL",
    "PRAGMA foreign_keys=ON",
    "PRAGMA busy_timeout=60000",
    "PRAGMA temp_store=FILE",
    # 32 MiB of page cache per connection: most of the speed of a larger cache, and peak RSS
    # stays under 300 MB with 5M-row datasets.
    "PRAGMA cache_size=-32768",
)

SQLITE_READ_POOL = {"poolclass": QueuePool, "pool_size": 8, "max_overflow": 32}
PG_TEMP_BUFFERS = "256MB"
PG_POOL_SIZE = 20
PG_POOL_OVERFLOW = 30
PG_READ_POOL_SIZE = 16
PG_READ_POOL_OVERFLOW = 16
# A pooled PostgreSQL connection idle this long is pinged before use (a restarted server has
# closed it); one in steady use is not, which spares a round trip per request.
PG_PING_AFTER_IDLE_SECONDS = 2.0


@dataclass(frozen=True)
class Databases:
    """The engines mdhub works with: the metadata and dataset stores, and their engines for
    reads; `kind` is "sqlite" or "postgresql".

    Reads of one statement each (a dataset's description) go through `read_meta()`, an engine
    of its own: on PostgreSQL in autocommit (no BEGIN and ROLLBACK round trips around the
    statement), on SQLite pooled (the writers' connections are opened per unit of work, so that
    no temporary table outlives it) in a plain deferred transaction, which takes no write lock.
    Record lookups have connections of their own (mdhub.services.lookups)."""

    meta: Engine
    data: Engine
    kind: str
    meta_reads: Engine

    def read_meta(self) -> Connection:
        return self.meta_reads.connect()

    def dispose(self) -> None:
        for engine in {self.meta, self.data, self.meta_reads}:
            engine.dispose()


def normalize_url(url: str) -> str:
    """Accept the usual PostgreSQL spellings and select the psycopg 3 driver."""
    for prefix in ("postgres://", "postgresql://", "postgresql+psycopg2://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def data_file_for(meta_path: Path) -> Path:
    """The dataset file that sits next to a SQLite metadata file."""
    return meta_path.with_name(f"{meta_path.stem}-data{meta_path.suffix or '.db'}")


def open_databases(database_url: str) -> Databases:
    """Create the engines for a database URL (SQLite file or PostgreSQL)."""
    url = make_url(normalize_url(database_url))
    if url.get_backend_name() == "sqlite":
        if not url.database or url.database == ":memory:":
            raise InvalidRequest("SQLite needs a file path: sqlite:///path/to/mdhub.db")
        meta_path = Path(url.database)
        meta_path.parent.mkdir(parents=True, exist_ok=True)
        # Metadata transactions are short and often read before they write: BEGIN IMMEDIATE
        # takes the write lock up front, so they queue on busy_timeout instead of failing.
        data_path = data_file_for(meta_path)
        return Databases(
            meta=sqlite_engine(meta_path, begin="BEGIN IMMEDIATE", poolclass=NullPool),
            data=sqlite_engine(data_path, begin="BEGIN", poolclass=NullPool),
            kind="sqlite",
            meta_reads=sqlite_engine(meta_path, begin="BEGIN", **SQLITE_READ_POOL),
        )
    if url.get_backend_name() == "postgresql":
        engine = _pg_engine(
            url,
            pool_size=PG_POOL_SIZE,
            max_overflow=PG_POOL_OVERFLOW,
            # Staging tables are temporary tables, which live in per-session buffers (8 MB by
            # default); allocated only when used, and settable only before a session's first one.
            connect_args={"options": f"-c temp_buffers={PG_TEMP_BUFFERS}"},
        )
        reads = _pg_engine(
            url,
            pool_size=PG_READ_POOL_SIZE,
            max_overflow=PG_READ_POOL_OVERFLOW,
            isolation_level="AUTOCOMMIT",
        )
        return Databases(meta=engine, data=engine, kind="postgresql", meta_reads=reads)
    raise InvalidRequest(
        f"unsupported database '{url.get_backend_name()}': use sqlite or postgresql"
    )


def _pg_engine(url: URL, **options: Any) -> Engine:
    """A pooled engine. The pool keeps its connections open: one beyond them is opened and
    closed per use, which costs more than the request it serves."""
    engine = create_engine(url, **options)
    event.listen(engine, "before_cursor_execute", _escape_percents, retval=True)
    _ping_when_idle(engine)
    return engine


def _ping_when_idle(engine: Engine) -> None:
    """Check a pooled connection that sat idle before handing it out; a dead one is replaced
    (the pool retries on DisconnectionError)."""

    @event.listens_for(engine, "checkin")
    def _checked_in(_dbapi_connection: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checked_out(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        idle_since = record.info.get("idle_since")
        if idle_since is None or time.monotonic() - idle_since < PG_PING_AFTER_IDLE_SECONDS:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except engine.dialect.loaded_dbapi.Error as error:
            if engine.dialect.is_disconnect(error, dbapi_connection, None):
                raise exc.DisconnectionError(str(error)) from error
            raise


def _escape_percents(
    _conn: Any, _cursor: Any, statement: str, parameters: Any, context: Any, _many: bool
) -> tuple[str, Any]:
    """psycopg reads `%` as a placeholder even in SQL without parameters, and a quoted
    identifier may hold one (a column named `a%b`): escape it in SQL passed as a string
    (`exec_driver_sql`); SQLAlchemy already does it for compiled statements."""
    if context is not None and context.compiled is None and not parameters:
        statement = statement.replace("%", "%%")
    return statement, parameters


def sqlite_engine(path: Path, *, begin: str, **pool: Any) -> Engine:
    """With NullPool each connection is opened for one unit of work. Pooled (for reads, where
    opening the file and setting the pragmas costs more than the read), a connection serves
    one thread at a time, which SQLite allows across threads."""
    engine = create_engine(f"sqlite:///{path}", **pool)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the sqlite3 module, decide where transactions begin, so that DDL
        # is transactional and BEGIN IMMEDIATE can be used.
        dbapi_connection.isolation_level = None
        dbapi_connection.create_function("regexp", 2, sqlite_regexp, deterministic=True)
        cursor = dbapi_connection.cursor()
        for pragma in SQLITE_PRAGMAS:
            cursor.execute(pragma)
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql(begin)

    return engine
