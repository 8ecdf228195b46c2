"""The connections of single-statement reads (a dataset's description, a record by key): they
take no write lock on SQLite, leave nothing behind in the pool, and a pooled PostgreSQL
connection that died while idle is replaced before use, in the threaded read engine and in the
pool of reads awaited on the event loop alike."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy.exc import DBAPIError

from mdhub.db import async_reads
from mdhub.db import engine as db_engine
from mdhub.db.async_reads import AsyncReads
from mdhub.db.loop_reads import LoopReads
from mdhub.services.datasets import Dataset, get_dataset
from mdhub.services.hub import Hub
from mdhub.services.lookups import AwaitedStore, LoopStore, RecordLookups
from tests.helpers import VENDORS_SCHEMA, write_csv

DEADLINE_SECONDS = 10.0


@pytest.fixture
def loaded(hub: Hub, tmp_path: Path) -> Hub:
    hub.create_dataset("vendors", schema=VENDORS_SCHEMA, keys=["id"])
    rows = [[f"V{i}", f"Vendor {i}", "1.5", i, "true", "2024-01-31"] for i in range(3)]
    hub.apply("vendors", write_csv(tmp_path / "v.csv", rows))
    return hub


def describe(hub: Hub) -> Dataset:
    """The dataset's description, read through the threads' pooled read engine."""
    return get_dataset(hub.dbs, hub.workspace, "vendors")


def look_up(hub: Hub, reads: LoopReads) -> dict[str, object]:
    """A record read on the loop's own connections (SQLite)."""
    lookups = RecordLookups(LoopStore(reads))
    return asyncio.run(lookups.record(hub.workspace, "vendors", "V1"))


def test_reads_answer_while_both_sqlite_files_are_write_locked(loaded: Hub) -> None:
    if loaded.dbs.kind != "sqlite":
        pytest.skip("PostgreSQL readers never wait for writers")
    # A writer holds both files' write locks (as a job's merge and a submission would).
    with loaded.dbs.meta.begin() as meta, loaded.dbs.data.begin() as data:
        meta.exec_driver_sql("UPDATE datasets SET updated_at = updated_at")
        data.exec_driver_sql("CREATE TABLE held_lock (x INTEGER)")
        answered: list[object] = []

        def read() -> None:
            answered.append(describe(loaded).name)
            reads = LoopReads(loaded.dbs)
            try:
                answered.append(look_up(loaded, reads)["id"])
            finally:
                reads.close()

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        reader.join(DEADLINE_SECONDS)  # a reader waiting for the lock would take 60 s
        assert answered == ["vendors", "V1"]


def test_pooled_read_connections_keep_no_transaction_open(loaded: Hub) -> None:
    for _ in range(3):
        assert describe(loaded).schema_policy == "reject"
    # A writer after the reads gets its lock at once, and the next read sees what it wrote: no
    # pooled reader holds a snapshot open (on SQLite one would keep the WAL from being
    # checkpointed past it).
    with loaded.dbs.meta.begin() as conn:
        conn.exec_driver_sql("UPDATE datasets SET schema_policy = 'add'")
    assert describe(loaded).schema_policy == "add"


def test_loop_reads_keep_one_connection_per_file_and_no_transaction_open(loaded: Hub) -> None:
    if loaded.dbs.kind != "sqlite":
        pytest.skip("PostgreSQL reads are awaited, not run on the loop")
    reads = LoopReads(loaded.dbs)
    held = set()
    try:
        for _ in range(3):
            assert look_up(loaded, reads)["name"] == "Vendor 1"
            drivers = list(reads._connections.values())
            with reads.dbs.meta_reads.connect() as conn:
                drivers.append(conn.connection.dbapi_connection)
            assert all(d is not None and not d.in_transaction for d in drivers)
            held.update(id(d) for d in drivers)
        assert len(held) == 3  # one of the driver's per file and the engine's, kept
        with loaded.dbs.data.begin() as conn:  # and nothing holds the data file
            conn.exec_driver_sql("CREATE TABLE after_reads (x INTEGER)")
    finally:
        reads.close()


@pytest.fixture
def pg_hub(loaded: Hub) -> Iterator[Hub]:
    if loaded.dbs.kind != "postgresql":
        pytest.skip("SQLite has no server to lose")
    yield loaded


def kill_other_backends(hub: Hub) -> int:
    """Terminate every other session on the test's database (as a server restart would)."""
    url = hub.dbs.meta.url.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(url, autocommit=True) as admin:
        killed = admin.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ).fetchone()
    return int(killed[0]) if killed else 0


def test_an_idle_pooled_connection_killed_by_the_server_is_replaced(
    pg_hub: Hub, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert describe(pg_hub).name == "vendors"  # the pool now holds a connection
    assert kill_other_backends(pg_hub) >= 1
    monkeypatch.setattr(db_engine, "PG_PING_AFTER_IDLE_SECONDS", 0.0)
    assert describe(pg_hub).name == "vendors"


def test_without_the_idle_check_a_killed_connection_fails_its_request(
    pg_hub: Hub, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The check above is what saves the request: without it the dead connection is used."""
    assert describe(pg_hub).name == "vendors"
    assert kill_other_backends(pg_hub) >= 1
    monkeypatch.setattr(db_engine, "PG_PING_AFTER_IDLE_SECONDS", 3600.0)
    with pytest.raises(DBAPIError) as failed:
        describe(pg_hub)
    assert failed.value.connection_invalidated
    assert describe(pg_hub).name == "vendors"  # the pool dropped it: the next request reconnects


def lookups_around_a_kill(hub: Hub) -> list[object]:
    """A record read through a pool of awaited reads, then read again after every other
    session was killed: the two answers' ids, or the error of the second read."""

    async def run() -> list[object]:
        reads = AsyncReads(hub.dbs.meta.url.render_as_string(hide_password=False))
        await reads.open()
        try:
            lookups = RecordLookups(AwaitedStore(reads))
            first = await lookups.record(hub.workspace, "vendors", "V1")
            assert kill_other_backends(hub) >= 1
            try:
                second: object = await lookups.record(hub.workspace, "vendors", "V1")
            except psycopg.OperationalError as error:
                return [first["id"], error]
            return [first["id"], second["id"]]  # type: ignore[index]
        finally:
            await reads.close()

    return asyncio.run(run())


def test_an_idle_awaited_read_connection_killed_by_the_server_is_replaced(
    pg_hub: Hub, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(async_reads, "PG_PING_AFTER_IDLE_SECONDS", 0.0)
    assert lookups_around_a_kill(pg_hub) == ["V1", "V1"]


def test_without_the_idle_check_a_killed_awaited_read_connection_fails(
    pg_hub: Hub, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(async_reads, "PG_PING_AFTER_IDLE_SECONDS", 3600.0)
    first, second = lookups_around_a_kill(pg_hub)
    assert first == "V1"
    assert isinstance(second, psycopg.OperationalError)


def awaited(hub: Hub, body: Any, **options: Any) -> Any:
    """Run `body(reads)` on awaited reads of the hub's (PostgreSQL) database."""
    if hub.dbs.kind != "postgresql":
        pytest.skip("SQLite reads are not awaited")

    async def run() -> Any:
        reads = AsyncReads(hub.dbs.meta.url.render_as_string(hide_password=False), **options)
        await reads.open()
        try:
            return await body(reads)
        finally:
            await reads.close()

    return asyncio.run(run())


def backends_alive(hub: Hub, pids: set[int]) -> int:
    url = hub.dbs.meta.url.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(url, autocommit=True) as conn:
        found = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE pid = ANY(%s)", (list(pids),)
        ).fetchone()
    return int(found[0]) if found else 0


def test_awaited_reads_use_at_most_their_connections_and_close_them(hub: Hub) -> None:
    async def body(reads: AsyncReads) -> set[int]:
        statement = "SELECT pg_backend_pid(), pg_sleep(0.05)"
        rows = await asyncio.gather(*(reads.fetch_one(statement, {}) for _ in range(6)))
        assert len(rows) == 6
        return {row[0] for row in rows if row}

    pids = awaited(hub, body, size=2)
    assert 1 <= len(pids) <= 2
    started = time.monotonic()
    while backends_alive(hub, pids):  # closing ends their sessions
        assert time.monotonic() - started < DEADLINE_SECONDS


def test_a_read_cancelled_mid_statement_leaves_no_busy_connection(hub: Hub) -> None:
    async def body(reads: AsyncReads) -> tuple[object, ...] | None:
        slow = asyncio.ensure_future(reads.fetch_one(SLOW, {}))
        started = time.monotonic()
        while not sleeping(hub):  # under way on the server
            assert time.monotonic() - started < DEADLINE_SECONDS
            await asyncio.sleep(0)
        slow.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await slow
        row = await reads.fetch_one("SELECT 42", {})
        while sleeping(hub):  # cancelled on the server too
            assert time.monotonic() - started < DEADLINE_SECONDS
        return row

    assert awaited(hub, body, size=1) == (42,)


SLOW = "SELECT pg_sleep(30)"


def sleeping(hub: Hub) -> bool:
    """Whether a session runs SLOW."""
    url = hub.dbs.meta.url.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(url, autocommit=True) as conn:
        found = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE query = %s AND state = 'active'", (SLOW,)
        ).fetchone()
    return bool(found and found[0])
