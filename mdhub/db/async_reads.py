"""Reads awaited on the event loop: PostgreSQL over psycopg's asynchronous connections.

A record lookup is one short statement that mostly waits on the network. Run in a thread,
the hand-off and the contention for the interpreter cost more than the statement; awaited on
the event loop, neither. The connections are in autocommit (one statement, one snapshot) and
prepare a statement they run often. One that sat idle is pinged before it is handed out, as
the threaded read engine's are (mdhub.db.engine), so a restarted server costs no request.

The connections are kept here rather than in a general-purpose pool: taking one and giving it
back is the hot path of every lookup, and psycopg_pool's bookkeeping (locks, callbacks,
statistics) cost a fifth of a lookup's server time. Connections are opened when needed, up to
ASYNC_READ_CONNECTIONS; the most recently used is handed out first.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

from psycopg import AsyncConnection, Error
from psycopg.pq import TransactionStatus
from psycopg.rows import namedtuple_row
from sqlalchemy.engine import make_url

from mdhub.db.engine import PG_PING_AFTER_IDLE_SECONDS, normalize_url

ASYNC_READ_CONNECTIONS = 16
# A lookup waits at most this long for a free connection before it fails.
ASYNC_READ_WAIT_SECONDS = 30.0


class AsyncReads:
    """Autocommit connections for one-statement reads, opened as needed."""

    def __init__(self, database_url: str, *, size: int = ASYNC_READ_CONNECTIONS) -> None:
        url = make_url(normalize_url(database_url)).set(drivername="postgresql")
        self._conninfo = url.render_as_string(hide_password=False)
        self._free = asyncio.Semaphore(size)  # connections that may be in use at once
        self._idle: list[tuple[AsyncConnection[Any], float]] = []  # with when each was idle
        self._closed = False

    async def open(self) -> None:
        self._closed = False

    async def close(self) -> None:
        self._closed = True
        idle, self._idle = self._idle, []
        for conn, _ in idle:
            await conn.close()

    async def fetch_one(self, sql: str, params: Mapping[str, Any]) -> tuple[Any, ...] | None:
        """The first row of `sql` (psycopg's `%(name)s` placeholders), as a tuple."""
        async with self._connection() as conn:
            cursor = await conn.execute(sql, params)
            return await cursor.fetchone()

    async def fetch_named(self, sql: str, params: Mapping[str, Any]) -> Any:
        """The first row of `sql` with its columns as attributes, or None."""
        async with self._connection() as conn, conn.cursor(row_factory=namedtuple_row) as cur:
            await cur.execute(sql, params)
            return await cur.fetchone()

    @asynccontextmanager
    async def _connection(self) -> AsyncIterator[AsyncConnection[Any]]:
        if self._free.locked():
            await asyncio.wait_for(self._free.acquire(), ASYNC_READ_WAIT_SECONDS)
        else:
            await self._free.acquire()  # at once: no suspension on the hot path
        conn = None
        try:
            conn = await self._take()
            yield conn
        finally:
            if conn is not None:
                await self._give_back(conn)
            self._free.release()

    async def _take(self) -> AsyncConnection[Any]:
        """An idle connection that is still alive, or a new one."""
        while self._idle:
            conn, idle_since = self._idle.pop()
            if time.monotonic() - idle_since < PG_PING_AFTER_IDLE_SECONDS:
                return conn
            try:
                await conn.execute("SELECT 1")
                return conn
            except Error:
                await conn.close()  # the server closed it: open another
        return await AsyncConnection.connect(self._conninfo, autocommit=True)

    async def _give_back(self, conn: AsyncConnection[Any]) -> None:
        # A read cancelled mid-statement has already cancelled it on the server (psycopg).
        healthy = not conn.closed and conn.info.transaction_status == TransactionStatus.IDLE
        if healthy and not self._closed:
            self._idle.append((conn, time.monotonic()))
        else:
            await conn.close()
