"""Following a dataset's changes over HTTP on both databases: a consumer that syncs with
`changes?since=` ends identical to the dataset; changes collapse per key; full loads and pruned
history answer 410; one snapshot per stream, released when the client goes away."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import event, select
from starlette.requests import ClientDisconnect

from mdhub.app import create_app
from mdhub.config import Settings
from mdhub.db.dataset_tables import changes_table
from mdhub.db.dialect import quote as quote_name
from mdhub.db.tables import versions
from mdhub.services import api_keys, retention
from mdhub.services import changes as changes_service
from mdhub.services.datasets import get_dataset
from mdhub.worker.pool import WorkerOptions, WorkerPool
from tests.integration.test_api import API, JOB_TIMEOUT, POLL_SECONDS, assert_error, push, wait

SCHEMA = {
    "fields": [
        {"name": "code", "type": "string"},
        {"name": "n", "type": "integer"},
        {"name": "name", "type": "string"},
        {"name": "amount", "type": "number"},
        {"name": "seen", "type": "datetime"},
        {"name": "meta", "type": "object"},
    ],
    "primaryKey": ["code", "n"],
}
Key = tuple[Any, ...]


@dataclass
class Served:
    app: FastAPI
    client: httpx.AsyncClient
    key: str


Body = Callable[[Served], Awaitable[None]]


def serve(settings: Settings, body: Body) -> None:
    async def main() -> None:
        app = create_app(settings)
        async with app.router.lifespan_context(app):
            key = api_keys.create_key(app.state.dbs, "default", "tests", "admin")["key"]
            async with httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app),
                base_url="http://test",
                headers={"Authorization": f"Bearer {key}"},
            ) as client:
                await body(Served(app, client, key))

    asyncio.run(main())


def row(code: str, n: int, name: str, amount: float = 1.5) -> dict[str, Any]:
    return {
        "code": code,
        "n": n,
        "name": name,
        "amount": amount,
        "seen": "2024-03-01T12:00:00+02:00",
        "meta": {"name": name, "tags": [n]},
    }


async def create(client: httpx.AsyncClient, name: str, schema: dict[str, Any] = SCHEMA) -> None:
    response = await client.post(f"{API}/datasets", json={"name": name, "schema": schema})
    assert response.status_code == 201, response.text


async def job(
    client: httpx.AsyncClient, name: str, operation: str, rows: list[dict[str, Any]]
) -> int:
    """Apply inline records; returns the version the job produced."""
    response = await client.post(
        f"{API}/datasets/{name}/jobs", json={"operation": operation, "records": rows}
    )
    assert response.status_code == 202, response.text
    done = await wait(client, response.json()["id"])
    assert done["status"] == "succeeded", done
    return int(done["version"])


def parse(version: str, body: bytes) -> list[dict[str, Any]]:
    """The change lines of a complete stream (its `end` line checked and left out)."""
    lines = [json.loads(line) for line in body.decode().splitlines()]
    assert lines and lines[-1]["op"] == "end", lines
    end = lines.pop()
    assert end == {"op": "end", "version": int(version), "count": len(lines)}
    assert all(line["op"] in ("upsert", "delete") for line in lines)
    return lines


async def changes(
    client: httpx.AsyncClient, name: str, since: int
) -> tuple[int, list[dict[str, Any]]]:
    """The snapshot's version and the change lines since `since`."""
    response = await client.get(f"{API}/datasets/{name}/changes", params={"since": since})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/x-ndjson")
    version = response.headers["x-mdhub-version"]
    return int(version), parse(version, response.content)


def key_of(values: dict[str, Any]) -> Key:
    return (values["code"], values["n"])


async def record(client: httpx.AsyncClient, name: str, key: Key) -> dict[str, Any]:
    path = quote(",".join(str(part) for part in key), safe="")
    response = await client.get(f"{API}/datasets/{name}/records/{path}")
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    return found


async def truth(served: Served, name: str) -> dict[Key, dict[str, Any]]:
    """Every record of the dataset: its keys by SQL, each record by GET."""
    table = get_dataset(served.app.state.dbs, "default", name).table_name
    with served.app.state.dbs.data.connect() as conn:
        keys = conn.exec_driver_sql(f"SELECT code, n FROM {quote_name(table)}").all()
    return {tuple(k): await record(served.client, name, tuple(k)) for k in keys}


class Consumer:
    """A local copy kept in sync with `changes?since=`."""

    def __init__(self, since: int, copy: dict[Key, dict[str, Any]]) -> None:
        self.since = since
        self.copy = copy

    async def sync(self, client: httpx.AsyncClient, name: str) -> list[dict[str, Any]]:
        version, lines = await changes(client, name, self.since)
        for line in lines:
            key = key_of(line["key"])
            if line["op"] == "upsert":
                assert key_of(line["record"]) == key
                self.copy[key] = line["record"]
            else:
                assert line["record"] is None
                self.copy.pop(key, None)
        self.since = version
        return lines


def test_a_consumer_that_follows_changes_ends_identical(settings: Settings) -> None:
    async def body(served: Served) -> None:
        client = served.client
        await create(client, "items")
        assert await changes(client, "items", 0) == (0, [])

        initial = [row("A", i, f"a{i}") for i in range(1, 7)]
        first = await job(client, "items", "upsert", initial)
        gone = assert_error(
            await client.get(f"{API}/datasets/items/changes", params={"since": 0}), 410, "gone"
        )
        assert "/api/v1/datasets/items/export" in gone["message"]
        assert "full load" in gone["message"]
        assert gone["details"] == {
            "since": 0,
            "oldest_since": first,
            "version": first,
            "export": "/api/v1/datasets/items/export",
        }
        # The consumer downloads the dataset (here key by key), then follows from `first`.
        consumer = Consumer(first, await truth(served, "items"))
        assert len(consumer.copy) == 6
        assert await consumer.sync(client, "items") == []

        # Updates, inserts and unchanged rows.
        await job(
            client,
            "items",
            "upsert",
            [row("A", 1, "a1"), row("A", 2, "A2", 9.25), row("B", 1, "b1"), row("B", 2, "b2")],
        )
        lines = await consumer.sync(client, "items")
        assert sorted(key_of(line["key"]) for line in lines) == [("A", 2), ("B", 1), ("B", 2)]
        assert consumer.copy == await truth(served, "items")

        # Several jobs between two syncs: delete, overwrite, then an update of a new key.
        await job(client, "items", "delete", [{"code": "A", "n": 3}, {"code": "B", "n": 1}])
        kept = [row("A", i, f"a{i}") for i in (1, 2, 4)] + [row("C", 1, "c1")]
        await job(client, "items", "overwrite", kept)
        await job(client, "items", "update", [row("C", 1, "C1 again", 3.0)])
        lines = await consumer.sync(client, "items")
        ops = {key_of(line["key"]): line["op"] for line in lines}
        assert ops == {
            ("A", 2): "upsert",
            ("A", 3): "delete",
            ("A", 5): "delete",
            ("A", 6): "delete",
            ("B", 1): "delete",
            ("B", 2): "delete",
            ("C", 1): "upsert",
        }
        assert consumer.copy == await truth(served, "items")
        assert consumer.copy[("C", 1)]["name"] == "C1 again"
        assert consumer.copy[("A", 2)] == {**row("A", 2, "a2"), "seen": "2024-03-01T10:00:00+00:00"}

        # A job that changes nothing gives a version and no change.
        unchanged = await job(client, "items", "upsert", kept[:2])
        assert await consumer.sync(client, "items") == []
        assert consumer.since == unchanged
        assert consumer.copy == await truth(served, "items")

        # Numbers JSON cannot carry come as null, as a record read by key does.
        csv = b'code,n,name,amount,seen,meta\nC,2,inf,INF,2024-03-01T12:00:00Z,"{""a"": 1}"\n'
        assert (await push(client, "items", csv, "inf.csv", operation="upsert"))["status"] == (
            "succeeded"
        )
        lines = await consumer.sync(client, "items")
        assert [line["record"]["amount"] for line in lines] == [None]
        assert consumer.copy == await truth(served, "items")

    serve(settings, body)


def test_changes_collapse_to_the_latest_per_key_in_version_order(settings: Settings) -> None:
    async def body(served: Served) -> None:
        client = served.client
        await create(client, "items")
        base = await job(client, "items", "upsert", [row("K", 1, "keep"), row("Y", 1, "y")])
        v2 = await job(client, "items", "upsert", [row("X", 1, "x"), row("Y", 1, "y2")])
        v3 = await job(client, "items", "update", [row("X", 1, "x3"), row("Y", 1, "y3")])
        v4 = await job(client, "items", "update", [row("X", 1, "x4")])
        v5 = await job(client, "items", "delete", [{"code": "X", "n": 1}])
        assert [v2, v3, v4, v5] == list(range(base + 1, base + 5))

        version, lines = await changes(client, "items", base)
        assert version == v5
        expected_y = await record(client, "items", ("Y", 1))
        assert expected_y["name"] == "y3"
        assert lines == [
            {"op": "upsert", "version": v3, "key": {"code": "Y", "n": 1}, "record": expected_y},
            {"op": "delete", "version": v5, "key": {"code": "X", "n": 1}, "record": None},
        ]
        assert (await changes(client, "items", v3))[1] == lines[1:]
        assert await changes(client, "items", v5) == (v5, [])

        too_new = assert_error(
            await client.get(f"{API}/datasets/items/changes", params={"since": v5 + 1}),
            400,
            "invalid_request",
        )
        assert too_new["details"] == {"since": v5 + 1, "version": v5}
        for params in ({}, {"since": -1}, {"since": "one"}):
            response = await client.get(f"{API}/datasets/items/changes", params=params)
            assert_error(response, 400, "invalid_request")

    serve(settings, body)


def test_a_full_load_after_since_is_gone(settings: Settings) -> None:
    async def body(served: Served) -> None:
        client = served.client
        await create(client, "items")
        first = await job(client, "items", "upsert", [row("A", 1, "a"), row("B", 1, "b")])
        before = await job(client, "items", "upsert", [row("A", 1, "a2")])
        emptied = await job(
            client, "items", "delete", [{"code": "A", "n": 1}, {"code": "B", "n": 1}]
        )
        # Into an empty dataset, a load is a full load: not logged key by key.
        reload = await job(client, "items", "upsert", [row("C", 1, "c")])
        for since in (first, before, emptied):
            error = assert_error(
                await client.get(f"{API}/datasets/items/changes", params={"since": since}),
                410,
                "gone",
            )
            assert f"version {reload} was a full load" in error["message"]
            assert "GET /api/v1/datasets/items/export" in error["message"]
            assert error["details"]["oldest_since"] == reload
        assert await changes(client, "items", reload) == (reload, [])
        after = await job(client, "items", "upsert", [row("D", 1, "d")])
        _, lines = await changes(client, "items", reload)
        assert [(line["op"], line["version"], line["key"]) for line in lines] == [
            ("upsert", after, {"code": "D", "n": 1})
        ]

    serve(settings, body)


def created_at(served: Served, name: str) -> dict[int, datetime]:
    dataset = get_dataset(served.app.state.dbs, "default", name)
    with served.app.state.dbs.data.connect() as conn:
        rows = conn.execute(
            select(versions.c.version, versions.c.created_at).where(
                versions.c.dataset_id == dataset.id
            )
        ).all()
    return {int(version): stamp for version, stamp in rows}


def logged_versions(served: Served, name: str) -> list[int]:
    table = changes_table(get_dataset(served.app.state.dbs, "default", name).table_name)
    with served.app.state.dbs.data.connect() as conn:
        rows = conn.exec_driver_sql(
            f"SELECT DISTINCT _mdhub_version FROM {quote_name(table)} ORDER BY 1"
        ).all()
    return [int(r[0]) for r in rows]


def test_pruned_history_is_gone_and_what_is_kept_still_works(settings: Settings) -> None:
    async def body(served: Served) -> None:
        client, dbs = served.client, served.app.state.dbs
        await create(client, "items")
        await create(client, "other")
        first = await job(client, "items", "upsert", [row("A", 1, "a"), row("B", 1, "b")])
        v2 = await job(client, "items", "upsert", [row("A", 1, "a2")])
        v3 = await job(client, "items", "upsert", [row("B", 1, "b3")])
        v4 = await job(client, "items", "upsert", [row("A", 1, "a4"), row("C", 1, "c")])
        await job(client, "other", "upsert", [row("O", 1, "o")])
        other = await job(client, "other", "upsert", [row("O", 1, "o2")])
        assert logged_versions(served, "items") == [v2, v3, v4]

        stamps = created_at(served, "items")
        assert stamps[v3] < stamps[v4]
        # As if 30 days had passed since just after version 3 was made.
        now = stamps[v3] + (stamps[v4] - stamps[v3]) / 2 + timedelta(days=30)
        assert retention.prune_changes(dbs, timedelta(days=30), now=now) == 2
        assert retention.prune_changes(dbs, timedelta(days=30), now=now) == 0
        assert logged_versions(served, "items") == [v4]
        assert logged_versions(served, "other") == [other]

        for since in (first, v2):
            error = assert_error(
                await client.get(f"{API}/datasets/items/changes", params={"since": since}),
                410,
                "gone",
            )
            assert "pruned" in error["message"] and "/export" in error["message"]
            assert error["details"]["oldest_since"] == v3
        _, lines = await changes(client, "items", v3)
        assert [(line["key"]["code"], line["version"]) for line in lines] == [
            ("A", v4),
            ("C", v4),
        ]
        assert await changes(client, "items", v4) == (v4, [])
        # The versions themselves are kept.
        listed = (await client.get(f"{API}/datasets/items/versions")).json()["results"]
        assert [v["version"] for v in listed] == [v4, v3, v2, first]

    serve(settings, body)


def test_the_worker_pool_prunes_past_the_retention(settings: Settings) -> None:
    assert Settings(change_retention_days=7).change_retention == timedelta(days=7)
    assert Settings(change_retention_days=0).change_retention is None

    async def body(served: Served) -> None:
        client, app = served.client, served.app
        await create(client, "items")
        first = await job(client, "items", "upsert", [row("A", 1, "a")])
        await job(client, "items", "upsert", [row("A", 1, "a2")])
        assert logged_versions(served, "items") != []
        options = WorkerOptions(poll_seconds=POLL_SECONDS, change_retention=timedelta(0))
        pool = WorkerPool(app.state.dbs, app.state.storage, 1, options=options)
        pool.start()
        try:
            deadline = time.monotonic() + JOB_TIMEOUT
            while logged_versions(served, "items"):
                assert time.monotonic() < deadline, "the change log was not pruned"
                await asyncio.sleep(POLL_SECONDS)
        finally:
            pool.stop()
        response = await client.get(f"{API}/datasets/items/changes", params={"since": first})
        assert_error(response, 410, "gone")

    serve(settings, body)


def test_a_dataset_without_keys_or_unknown(settings: Settings) -> None:
    async def body(served: Served) -> None:
        client = served.client
        await create(client, "plain", {"fields": [{"name": "a", "type": "string"}]})
        error = assert_error(
            await client.get(f"{API}/datasets/plain/changes", params={"since": 0}),
            400,
            "invalid_request",
        )
        assert "no keys" in error["message"] and "/export" in error["message"]
        response = await client.get(f"{API}/datasets/nothing/changes", params={"since": 0})
        assert_error(response, 404, "not_found")
        # Keys declared, no schema or row yet: nothing changed.
        created = await client.post(f"{API}/datasets", json={"name": "later", "keys": ["id"]})
        assert created.status_code == 201, created.text
        assert await changes(client, "later", 0) == (0, [])

    serve(settings, body)


class RawRequest:
    """One GET sent straight to the ASGI app, to pause or leave a streamed answer midway."""

    def __init__(self, served: Served, path: str, *, spec: str = "2.3") -> None:
        self.served = served
        self.scope = {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": spec},
            "http_version": "1.1",
            "method": "GET",
            "scheme": "http",
            "path": path.split("?")[0],
            "raw_path": path.split("?")[0].encode(),
            "query_string": path.partition("?")[2].encode(),
            "root_path": "",
            "headers": [(b"host", b"test"), (b"authorization", f"Bearer {served.key}".encode())],
            "server": ("test", 80),
            "client": ("127.0.0.1", 1234),
        }
        self.status = 0
        self.headers: dict[str, str] = {}
        self.body = b""
        self.started = asyncio.Event()
        self.resume = asyncio.Event()
        self.left = asyncio.Event()
        self.leave_after_chunks: int | None = None
        self.on_leave: Callable[[], None] = lambda: None
        self.chunks = 0
        self._received = False

    async def receive(self) -> dict[str, Any]:
        if not self._received:
            self._received = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await self.left.wait()
        return {"type": "http.disconnect"}

    async def send(self, message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]
            self.headers = {k.decode(): v.decode() for k, v in message["headers"]}
            self.started.set()
            await self.resume.wait()
            return
        self.body += message.get("body", b"")
        if message.get("body"):
            self.chunks += 1
        if self.leave_after_chunks is not None and self.chunks >= self.leave_after_chunks:
            self.on_leave()
            self.left.set()
            if self.scope["asgi"]["spec_version"] == "2.4":
                raise OSError("the client went away")
            await asyncio.Event().wait()  # blocked until the server notices the disconnect

    async def run(self) -> None:
        await self.served.app(self.scope, self.receive, self.send)


def test_a_stream_reads_one_snapshot_while_a_job_commits(settings: Settings) -> None:
    async def body(served: Served) -> None:
        client = served.client
        await create(client, "items")
        base = await job(client, "items", "upsert", [row("A", 1, "a"), row("B", 1, "b")])
        v2 = await job(client, "items", "upsert", [row("A", 1, "a2"), row("B", 1, "b2")])
        before = await changes(client, "items", base)

        request = RawRequest(served, f"{API}/datasets/items/changes?since={base}")
        running = asyncio.create_task(request.run())
        await asyncio.wait_for(request.started.wait(), JOB_TIMEOUT)
        # The stream has its snapshot and has sent its headers; a job commits meanwhile.
        v3 = await job(client, "items", "upsert", [row("A", 1, "a3"), row("C", 1, "c3")])
        await job(client, "items", "delete", [{"code": "B", "n": 1}])
        request.resume.set()
        await asyncio.wait_for(running, JOB_TIMEOUT)
        assert request.status == 200
        assert request.headers["x-mdhub-version"] == str(v2)
        assert (v2, parse(str(v2), request.body)) == before

        _, now = await changes(client, "items", base)
        assert [(line["op"], line["key"]["code"]) for line in now] == [
            ("upsert", "A"),
            ("upsert", "C"),
            ("delete", "B"),
        ]
        assert now[0]["version"] == v3 and now[0]["record"]["name"] == "a3"

    serve(settings, body)


@pytest.mark.parametrize("spec", ["2.3", "2.4"])
def test_a_client_that_stops_reading_releases_the_snapshot(
    settings: Settings, spec: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(changes_service, "BATCH_ROWS", 2)
    settings = replace(settings, workers=0)

    async def body(served: Served) -> None:
        dbs = served.app.state.dbs
        # A worker only while the data is loaded: then the stream holds the only connection.
        rows = [row("A", i, f"a{i}") for i in range(1, 11)]
        pool = WorkerPool(dbs, served.app.state.storage, 1)
        pool.start()
        try:
            await create(served.client, "items")
            first = await job(served.client, "items", "upsert", rows[:1])
            await job(served.client, "items", "upsert", rows)
        finally:
            pool.stop()

        held = 0
        lock = threading.Lock()

        def checkout(*_: Any) -> None:
            nonlocal held
            with lock:
                held += 1

        def checkin(*_: Any) -> None:
            nonlocal held
            with lock:
                held -= 1

        event.listen(dbs.data, "checkout", checkout)
        event.listen(dbs.data, "checkin", checkin)
        try:
            request = RawRequest(served, f"{API}/datasets/items/changes?since={first}", spec=spec)
            request.leave_after_chunks = 1
            held_while_streaming: list[int] = []
            request.on_leave = lambda: held_while_streaming.append(held)
            request.resume.set()
            await asyncio.wait_for(run_quietly(request), JOB_TIMEOUT)
            assert held_while_streaming == [1]
            assert request.status == 200 and request.chunks == 1
            assert request.body.count(b"\n") == 2  # one chunk of two lines, no end line
            deadline = time.monotonic() + JOB_TIMEOUT
            while held > 0:
                assert time.monotonic() < deadline, "the stream's connection was not released"
                await asyncio.sleep(POLL_SECONDS)
        finally:
            event.remove(dbs.data, "checkout", checkout)
            event.remove(dbs.data, "checkin", checkin)

    serve(settings, body)


async def run_quietly(request: RawRequest) -> None:
    """Run the request; with ASGI 2.4 the app reports the client's leaving by raising."""
    try:
        await request.run()
    except ClientDisconnect:
        assert request.scope["asgi"]["spec_version"] == "2.4"
