"""Database engines: the metadata store and the dataset store, on SQLite or PostgreSQL.

On PostgreSQL both are the same database. On SQLite they are two files, so that a long merge
holding the dataset file's write lock never stalls job submission or status updates.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

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

PG_TEMP_BUFFERS = "256MB"


@dataclass(frozen=True)
class Databases:
    """The two engines mdhub works with; `kind` is "sqlite" or "postgresql"."""

    meta: Engine
    data: Engine
    kind: str

    def dispose(self) -> None:
        self.meta.dispose()
        if self.data is not self.meta:
            self.data.dispose()


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
        meta = _sqlite_engine(meta_path, begin="BEGIN IMMEDIATE")
        data = _sqlite_engine(data_file_for(meta_path), begin="BEGIN")
        return Databases(meta=meta, data=data, kind="sqlite")
    if url.get_backend_name() == "postgresql":
        engine = create_engine(
            url,
            pool_pre_ping=True,
            pool_size=10,
            max_overflow=20,
            # Staging tables are temporary tables, which live in per-session buffers (8 MB by
            # default); allocated only when used, and settable only before a session's first one.
            connect_args={"options": f"-c temp_buffers={PG_TEMP_BUFFERS}"},
        )
        event.listen(engine, "before_cursor_execute", _escape_percents, retval=True)
        return Databases(meta=engine, data=engine, kind="postgresql")
    raise InvalidRequest(
        f"unsupported database '{url.get_backend_name()}': use sqlite or postgresql"
    )


def _escape_percents(
    _conn: Any, _cursor: Any, statement: str, parameters: Any, context: Any, _many: bool
) -> tuple[str, Any]:
    """psycopg reads `%` as a placeholder even in SQL without parameters, and a quoted
    identifier may hold one (a column named `a%b`): escape it in SQL passed as a string
    (`exec_driver_sql`); SQLAlchemy already does it for compiled statements."""
    if context is not None and context.compiled is None and not parameters:
        statement = statement.replace("%", "%%")
    return statement, parameters


def _sqlite_engine(path: Path, *, begin: str) -> Engine:
    # NullPool: each connection is opened for one unit of work, so no thread ever shares one.
    engine = create_engine(f"sqlite:///{path}", poolclass=NullPool)

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
