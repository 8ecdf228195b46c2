"""Reads awaited on the event loop: PostgreSQL over psycopg's asynchronous connections.

A record lookup is one short statement that mostly waits on the network. Run in a thread,
the hand-off and the contention for the interpreter cost more than the statement; awaited on
the event loop, neither. The connections are in autocommit (one statement, one snapshot) and
prepare a statement they run often. One that sat idle is pinged before it is handed out, as
the threaded read engine's are (mdhub.db.engine), so a restarted server costs no request.
"""

from __future__ import annotations

import time
import weakref
from collections.abc import Mapping
from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import namedtuple_row
from psycopg_pool import AsyncConnectionPool
from sqlalchemy.engine import make_url

from mdhub.db.engine import PG_PING_AFTER_IDLE_SECONDS, normalize_url

ASYNC_READ_POOL_MIN = 2
ASYNC_READ_POOL_MAX = 16
# A lookup waits at most this long for a free connection before it fails.
ASYNC_READ_WAIT_SECONDS = 30.0


class AsyncReads:
    """A pool of autocommit connections for one-statement reads."""

    def __init__(self, database_url: str) -> None:
        url = make_url(normalize_url(database_url)).set(drivername="postgresql")
        self._idle_since: weakref.WeakKeyDictionary[AsyncConnection[Any], float] = (
            weakref.WeakKeyDictionary()
        )
        self.pool: AsyncConnectionPool[AsyncConnection[Any]] = AsyncConnectionPool(
            url.render_as_string(hide_password=False),
            min_size=ASYNC_READ_POOL_MIN,
            max_size=ASYNC_READ_POOL_MAX,
            timeout=ASYNC_READ_WAIT_SECONDS,
            kwargs={"autocommit": True},
            # Idle from when it is made or given back.
            configure=self._mark_idle,
            reset=self._mark_idle,
            check=self._check,
            open=False,
        )

    async def open(self) -> None:
        await self.pool.open()

    async def close(self) -> None:
        await self.pool.close()

    async def fetch_one(self, sql: str, params: Mapping[str, Any]) -> tuple[Any, ...] | None:
        """The first row of `sql` (psycopg's `%(name)s` placeholders), as a tuple."""
        async with self.pool.connection() as conn:
            cursor = await conn.execute(sql, params)
            return await cursor.fetchone()

    async def fetch_named(self, sql: str, params: Mapping[str, Any]) -> Any:
        """The first row of `sql` with its columns as attributes, or None."""
        async with self.pool.connection() as conn, conn.cursor(row_factory=namedtuple_row) as cur:
            await cur.execute(sql, params)
            return await cur.fetchone()

    async def _mark_idle(self, conn: AsyncConnection[Any]) -> None:
        self._idle_since[conn] = time.monotonic()

    async def _check(self, conn: AsyncConnection[Any]) -> None:
        """Ping a connection that sat idle; raising makes the pool replace it."""
        idle_since = self._idle_since.get(conn)
        if idle_since is not None and time.monotonic() - idle_since >= PG_PING_AFTER_IDLE_SECONDS:
            await conn.execute("SELECT 1")
