"""The HTTP API in-process on both databases: datasets, uploads in every format and operation,
row errors, multi-part jobs, the upload limit, idempotency, cancelling, lists, events, metrics."""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import io
import json
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from mdhub.app import create_app
from mdhub.config import Settings
from mdhub.services import api_keys, idempotency, job_views, submissions
from mdhub.services.hub import Hub
from tests.helpers import VENDORS_SCHEMA, table_rows, vendor, write_csv

API = "/api/v1"
FINAL = ("succeeded", "failed", "cancelled")
JOB_TIMEOUT = 60.0
POLL_SECONDS = 0.02

Body = Callable[[httpx.AsyncClient], Awaitable[None]]


def serve(settings: Settings, body: Body) -> None:
    """Run `body` against an app built on `settings`, its lifespan (and workers) running, with
    a client that sends an admin API key of the default workspace."""

    async def main() -> None:
        app = create_app(settings)
        async with app.router.lifespan_context(app):
            key = api_keys.create_key(app.state.dbs, "default", "tests", "admin")["key"]
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(
                transport=transport,
                base_url="http://test",
                headers={"Authorization": f"Bearer {key}"},
            ) as client:
                await body(client)

    asyncio.run(main())


def stats(**counts: int) -> dict[str, int]:
    names = ("read", "inserted", "updated", "unchanged", "deleted", "failed")
    return {name: counts.get(name, 0) for name in names}


def csv_bytes(rows: list[list[Any]], header: list[str] | None = None) -> bytes:
    lines = [",".join(header or ["id", "name", "amount", "qty", "active", "since"])]
    lines += [",".join(str(v) for v in row) for row in rows]
    return ("\n".join(lines) + "\n").encode()


def records(rows: list[list[Any]]) -> list[dict[str, Any]]:
    return [
        {"id": r[0], "name": r[1], "amount": r[2], "qty": r[3], "active": True, "since": r[5]}
        for r in rows
    ]


def parquet_bytes(rows: list[list[Any]]) -> bytes:
    recs = records(rows)
    table = pa.table(
        {
            "id": [r["id"] for r in recs],
            "name": [r["name"] for r in recs],
            "amount": pa.array([r["amount"] for r in recs], pa.float64()),
            "qty": pa.array([r["qty"] for r in recs], pa.int64()),
            "active": [True] * len(recs),
            "since": pa.array([r["since"] for r in recs]).cast(pa.date32()),
        }
    )
    sink = io.BytesIO()
    pq.write_table(table, sink)
    return sink.getvalue()


def assert_error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """The response is the one error shape with this status and code; returns the error."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}
    error: dict[str, Any] = body["error"]
    assert set(error) == {"code", "message", "details"}
    assert error["code"] == code and error["message"]
    assert isinstance(error["details"], dict)
    return error


async def wait(
    client: httpx.AsyncClient, job_id: int, statuses: tuple[str, ...] = FINAL
) -> dict[str, Any]:
    """Poll the job until its status is one of `statuses` (a final one by default)."""
    deadline = time.monotonic() + JOB_TIMEOUT
    while True:
        response = await client.get(f"{API}/jobs/{job_id}")
        assert response.status_code == 200, response.text
        job: dict[str, Any] = response.json()
        if job["status"] in statuses:
            return job
        if time.monotonic() > deadline:
            pytest.fail(f"job {job_id} still {job['status']} after {JOB_TIMEOUT} s")
        await asyncio.sleep(POLL_SECONDS)


def accepted(response: httpx.Response) -> int:
    """A 202 with the job and its URL in Location; returns the job id."""
    assert response.status_code == 202, response.text
    job_id = int(response.json()["id"])
    assert response.headers["location"] == f"{API}/jobs/{job_id}"
    return job_id


async def upload(
    client: httpx.AsyncClient,
    dataset: str,
    content: bytes,
    filename: str,
    fields: dict[str, str] | None = None,
    *,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    """A multipart upload of one file, with form fields."""
    return await client.post(
        f"{API}/datasets/{dataset}/jobs",
        files={"file": (filename, content)},
        data=fields or {},
        headers=headers,
    )


async def push(
    client: httpx.AsyncClient, dataset: str, content: bytes, filename: str, **fields: str
) -> dict[str, Any]:
    """Upload a file as a job and wait for its end."""
    job_id = accepted(await upload(client, dataset, content, filename, fields))
    return await wait(client, job_id)


async def create_vendors(client: httpx.AsyncClient, name: str = "vendors") -> None:
    response = await client.post(f"{API}/datasets", json={"name": name, "schema": VENDORS_SCHEMA})
    assert response.status_code == 201, response.text


async def dataset(client: httpx.AsyncClient, name: str) -> dict[str, Any]:
    response = await client.get(f"{API}/datasets/{name}")
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    return found


def ids(hub: Hub, name: str) -> list[str]:
    return [r[0] for r in table_rows(hub, name)]


INITIAL = [vendor(i) for i in range(1, 6)]


# 1. datasets


def test_datasets_create_get_list_patch_delete(settings: Settings) -> None:
    async def body(client: httpx.AsyncClient) -> None:
        response = await client.post(
            f"{API}/datasets", json={"name": "vendors", "schema": VENDORS_SCHEMA}
        )
        assert response.status_code == 201, response.text
        assert response.headers["location"] == f"{API}/datasets/vendors"
        created = response.json()
        assert created["name"] == "vendors" and created["keys"] == ["id"]
        assert (created["version"], created["row_count"], created["last_job"]) == (0, 0, None)
        assert created["schema_policy"] == "reject"
        assert [f["name"] for f in created["schema"]["fields"]] == [
            "id",
            "name",
            "amount",
            "qty",
            "active",
            "since",
        ]
        assert created["schema"]["fields"][3]["type"] == "integer"

        again = await client.post(f"{API}/datasets", json={"name": "vendors"})
        assert "vendors" in assert_error(again, 409, "conflict")["message"]

        got = await dataset(client, "vendors")
        assert got["schema"] == created["schema"] and got["keys"] == ["id"]

        for name in ("customers", "products"):
            response = await client.post(f"{API}/datasets", json={"name": name, "keys": ["id"]})
            assert response.status_code == 201, response.text
        first = (await client.get(f"{API}/datasets", params={"limit": 2})).json()
        assert [d["name"] for d in first["results"]] == ["customers", "products"]
        assert first["next"] == "products"
        rest = (
            await client.get(f"{API}/datasets", params={"limit": 2, "cursor": first["next"]})
        ).json()
        assert [d["name"] for d in rest["results"]] == ["vendors"] and rest["next"] is None

        patched = await client.patch(f"{API}/datasets/vendors", json={"schema_policy": "add"})
        assert patched.status_code == 200, patched.text
        assert patched.json()["schema_policy"] == "add"
        assert (await dataset(client, "vendors"))["schema_policy"] == "add"
        bad_patch = await client.patch(f"{API}/datasets/vendors", json={"schema_policy": "x"})
        assert_error(bad_patch, 400, "invalid_request")

        deleted = await client.delete(f"{API}/datasets/vendors")
        assert deleted.status_code == 204 and deleted.content == b""
        gone = await client.get(f"{API}/datasets/vendors")
        assert "vendors" in assert_error(gone, 404, "not_found")["message"]
        assert_error(await client.delete(f"{API}/datasets/vendors"), 404, "not_found")
        names = [d["name"] for d in (await client.get(f"{API}/datasets")).json()["results"]]
        assert names == ["customers", "products"]

    serve(settings, body)


def test_invalid_requests_and_unknown_routes_get_the_error_shape(settings: Settings) -> None:
    async def body(client: httpx.AsyncClient) -> None:
        bad_name = await client.post(f"{API}/datasets", json={"name": "no spaces!"})
        error = assert_error(bad_name, 400, "invalid_request")
        assert error["details"]["problems"][0]["location"] == "body.name"
        unknown_field = await client.post(f"{API}/datasets", json={"name": "a", "rows": 1})
        assert_error(unknown_field, 400, "invalid_request")
        not_json = await client.post(
            f"{API}/datasets", content=b"{", headers={"content-type": "application/json"}
        )
        assert_error(not_json, 400, "invalid_request")
        bad_schema = await client.post(
            f"{API}/datasets",
            json={"name": "a", "schema": {"fields": [{"name": "x", "type": "nonsense"}]}},
        )
        assert bad_schema.status_code == 400 and bad_schema.json()["error"]["message"]
        assert_error(await client.get(f"{API}/nothing/here"), 404, "not_found")
        assert_error(await client.get(f"{API}/jobs/424242"), 404, "not_found")
        assert_error(await client.get(f"{API}/jobs/x"), 400, "invalid_request")
        assert (await client.get(f"{API}/datasets")).json() == {"results": [], "next": None}

    serve(settings, body)


# 2. uploads


def test_every_format_through_multipart(settings: Settings, hub: Hub) -> None:
    rows = [vendor(i, amount=i + 0.25, qty=i) for i in range(1, 6)]
    files = {
        "csv": ("v.csv", csv_bytes(rows)),
        "ndjson": ("v.ndjson", "".join(json.dumps(r) + "\n" for r in records(rows)).encode()),
        "json": ("v.json", json.dumps(records(rows)).encode()),
        "parquet": ("v.parquet", parquet_bytes(rows)),
        "csvgz": ("v.csv.gz", gzip.compress(csv_bytes(rows))),
    }

    async def body(client: httpx.AsyncClient) -> None:
        for fmt, (filename, content) in files.items():
            await create_vendors(client, f"v_{fmt}")
            job = await push(client, f"v_{fmt}", content, filename)
            assert job["status"] == "succeeded", (fmt, job)
            assert job["statistics"] == stats(read=5, inserted=5), fmt
            assert job["version"] == 1 and job["versions"] == {f"v_{fmt}": 1}
            assert job["parts"][0]["name"] == filename
            assert job["parts"][0]["bytes"] == len(content)
            assert job["parts"][0]["checksum"] == f"sha256:{hashlib.sha256(content).hexdigest()}"
            assert job["progress"]["percent"] == 100.0
            got = await dataset(client, f"v_{fmt}")
            assert (got["version"], got["row_count"], got["last_job"]) == (1, 5, job["id"])
            assert [(r[0], r[2], r[3]) for r in table_rows(hub, f"v_{fmt}")] == [
                (f"V{i:04d}", i + 0.25, i) for i in range(1, 6)
            ]
            same = await push(client, f"v_{fmt}", content, filename)
            assert same["statistics"] == stats(read=5, unchanged=5), fmt

    serve(settings, body)


def test_every_operation_through_multipart(settings: Settings, hub: Hub) -> None:
    async def body(client: httpx.AsyncClient) -> None:
        await create_vendors(client)
        job = await push(client, "vendors", csv_bytes(INITIAL), "v1.csv", operation="upsert")
        assert job["statistics"] == stats(read=5, inserted=5) and job["version"] == 1

        upsert = [vendor(1), vendor(2, name="Renamed"), vendor(6)]
        job = await push(client, "vendors", csv_bytes(upsert), "v2.csv", operation="upsert")
        assert job["statistics"] == stats(read=3, inserted=1, updated=1, unchanged=1)
        assert job["version"] == 2

        insert = [vendor(7), vendor(8)]
        job = await push(client, "vendors", csv_bytes(insert), "v3.csv", operation="insert")
        assert job["statistics"] == stats(read=2, inserted=2) and job["version"] == 3

        update = [vendor(3, qty=30), vendor(4)]
        job = await push(client, "vendors", csv_bytes(update), "v4.csv", operation="update")
        assert job["statistics"] == stats(read=2, updated=1, unchanged=1)

        keys = csv_bytes([["V0005"], ["V0008"], ["V0999"]], header=["id"])
        job = await push(client, "vendors", keys, "v5.csv", operation="delete")
        assert job["statistics"] == stats(read=3, deleted=2, unchanged=1)
        assert ids(hub, "vendors") == ["V0001", "V0002", "V0003", "V0004", "V0006", "V0007"]
        by_id = {r[0]: r for r in table_rows(hub, "vendors")}
        assert by_id["V0002"][1] == "Renamed" and by_id["V0003"][3] == 30

        overwrite = [vendor(1), vendor(2, qty=9), vendor(9)]
        job = await push(client, "vendors", csv_bytes(overwrite), "v6.csv", operation="overwrite")
        assert job["statistics"] == stats(read=3, inserted=1, updated=1, unchanged=1, deleted=4)
        assert job["version"] == 6
        assert ids(hub, "vendors") == ["V0001", "V0002", "V0009"]
        got = await dataset(client, "vendors")
        assert (got["version"], got["row_count"]) == (6, 3)

        response = await client.post(
            f"{API}/datasets",
            json={
                "name": "events",
                "schema": {
                    "fields": [
                        {"name": "event", "type": "string"},
                        {"name": "n", "type": "integer"},
                    ]
                },
            },
        )
        assert response.status_code == 201 and response.json()["keys"] == []
        events = csv_bytes([["a", 1], ["b", 2]], header=["event", "n"])
        for version in (1, 2):
            job = await push(client, "events", events, "e.csv", operation="append")
            assert job["statistics"] == stats(read=2, inserted=2) and job["version"] == version
        assert sorted(table_rows(hub, "events")) == [("a", 1), ("a", 1), ("b", 2), ("b", 2)]
        assert (await dataset(client, "events"))["row_count"] == 4

    serve(settings, body)


def test_raw_body_inline_records_and_dataset_creation(settings: Settings, hub: Hub) -> None:
    async def body(client: httpx.AsyncClient) -> None:
        await create_vendors(client)
        response = await client.post(
            f"{API}/datasets/vendors/jobs",
            content=csv_bytes(INITIAL),
            headers={"content-type": "text/csv"},
            params={"operation": "upsert", "filename": "x.csv"},
        )
        job = await wait(client, accepted(response))
        assert job["status"] == "succeeded", job
        assert job["statistics"] == stats(read=5, inserted=5)
        assert [(p["name"], p["format"], p["operation"]) for p in job["parts"]] == [
            ("x.csv", "csv", "upsert")
        ]

        inline = {"operation": "upsert", "records": records([vendor(1, qty=7), vendor(10)])}
        response = await client.post(f"{API}/datasets/vendors/jobs", json=inline)
        job = await wait(client, accepted(response))
        assert job["status"] == "succeeded", job
        assert job["statistics"] == stats(read=2, inserted=1, updated=1)
        by_id = {r[0]: r for r in table_rows(hub, "vendors")}
        assert by_id["V0001"][3] == 7 and by_id["V0010"][1] == "Vendor 10"
        assert (await dataset(client, "vendors"))["version"] == 2

        job = await push(client, "fresh", csv_bytes(INITIAL[:2]), "f.csv", keys="id")
        assert job["status"] == "succeeded", job
        assert job["statistics"] == stats(read=2, inserted=2)
        fresh = await dataset(client, "fresh")
        assert fresh["keys"] == ["id"] and fresh["row_count"] == 2
        assert [f["type"] for f in fresh["schema"]["fields"]][:4] == [
            "string",
            "string",
            "number",
            "integer",
        ]
        assert ids(hub, "fresh") == ["V0001", "V0002"]

        inline_new = {"records": records([vendor(1)]), "keys": ["id"]}
        job = await wait(
            client, accepted(await client.post(f"{API}/datasets/inl/jobs", json=inline_new))
        )
        assert job["status"] == "succeeded" and job["statistics"] == stats(read=1, inserted=1)
        assert (await dataset(client, "inl"))["keys"] == ["id"]

        missing = await upload(client, "nowhere", csv_bytes(INITIAL), "n.csv")
        assert "nowhere" in assert_error(missing, 404, "not_found")["message"]
        listed = (await client.get(f"{API}/jobs", params={"dataset": "nowhere"})).json()
        assert listed["results"] == []

    serve(settings, body)


def test_a_dry_run_reports_exactly_and_changes_nothing(settings: Settings, hub: Hub) -> None:
    async def body(client: httpx.AsyncClient) -> None:
        await create_vendors(client)
        await push(client, "vendors", csv_bytes(INITIAL), "v1.csv")
        before = table_rows(hub, "vendors")
        rows = [vendor(1), vendor(2, name="Changed"), vendor(6)]
        job = await push(
            client, "vendors", csv_bytes(rows), "d.csv", operation="overwrite", dry_run="true"
        )
        assert job["status"] == "succeeded" and job["dry_run"] is True
        assert job["version"] is None and job["versions"] == {}
        assert job["statistics"] == stats(read=3, inserted=1, updated=1, unchanged=1, deleted=3)
        sample = job["sample"]["d.csv"]
        assert sample["updated"][0]["before"]["name"] == "Vendor 2"
        assert sample["updated"][0]["after"]["name"] == "Changed"
        assert table_rows(hub, "vendors") == before
        got = await dataset(client, "vendors")
        assert (got["version"], got["row_count"]) == (1, 5)
        assert got["last_job"] != job["id"]

    serve(settings, body)


# 3. row errors


def test_a_malformed_file_fails_with_located_errors_and_changes_nothing(
    settings: Settings, hub: Hub
) -> None:
    async def body(client: httpx.AsyncClient) -> None:
        await create_vendors(client)
        await push(client, "vendors", csv_bytes(INITIAL), "v1.csv")
        before = table_rows(hub, "vendors")
        rows = [
            vendor(20),
            ["V0021", "x", 1.5, "two", "true", "2024-01-01"],
            vendor(22),
            ["V0023", "y", 1.5, "3.5", "true", "2024-01-01"],
            ["V0024", "z", 1.5, "", "true", "2024-01-01"],
            ["V0025", "w", 1.5, "x9", "true", "2024-01-01"],
        ]
        job = await push(client, "vendors", csv_bytes(rows), "bad.csv")
        assert job["status"] == "failed" and job["error"]["code"] == "row_errors"
        assert "line 3" in job["error"]["message"]
        assert job["error_count"] == 3
        expected = [
            {"part": "bad.csv", "line": 3, "column": "qty", "value": "two"},
            {"part": "bad.csv", "line": 5, "column": "qty", "value": "3.5"},
            {"part": "bad.csv", "line": 7, "column": "qty", "value": "x9"},
        ]
        page = (await client.get(f"{API}/jobs/{job['id']}/errors")).json()
        assert page["total"] == 3 and page["next"] is None
        assert [{k: e[k] for k in expected[0]} for e in page["results"]] == expected
        assert all(e["message"] for e in page["results"])

        seen: list[dict[str, Any]] = []
        cursor: int | None = None
        while True:
            params: dict[str, Any] = {"limit": 2}
            if cursor is not None:
                params["cursor"] = cursor
            response = await client.get(f"{API}/jobs/{job['id']}/errors", params=params)
            assert response.status_code == 200, response.text
            page = response.json()
            assert len(page["results"]) <= 2 and page["total"] == 3
            seen += page["results"]
            cursor = page["next"]
            if cursor is None:
                break
        assert [e["line"] for e in seen] == [3, 5, 7]

        log = (await client.get(f"{API}/jobs/{job['id']}/log")).json()
        assert log["results"] and log["next"] is None
        assert any(line["level"] == "error" for line in log["results"])
        assert all(line["message"] for line in log["results"])
        assert table_rows(hub, "vendors") == before
        assert (await dataset(client, "vendors"))["version"] == 1

        dup = [vendor(30), vendor(31), vendor(30, name="again")]
        job = await push(client, "vendors", csv_bytes(dup), "dup.csv")
        assert job["status"] == "failed"
        errors = (await client.get(f"{API}/jobs/{job['id']}/errors")).json()["results"]
        assert [(e["part"], e["line"], e["message"]) for e in errors] == [
            ("dup.csv", 4, "duplicate key (V0030): also on line 2")
        ]
        assert table_rows(hub, "vendors") == before
        assert (await dataset(client, "vendors"))["version"] == 1

    serve(settings, body)


# 4. multi-part jobs


PARTS = [
    {"name": "v", "dataset": "vendors", "operation": "upsert", "format": "csv"},
    {"name": "c", "dataset": "customers", "operation": "upsert", "format": "csv"},
]


async def two_datasets(client: httpx.AsyncClient) -> None:
    await create_vendors(client, "vendors")
    await create_vendors(client, "customers")
    for name in ("vendors", "customers"):
        job = await push(client, name, csv_bytes(INITIAL), "v1.csv")
        assert job["status"] == "succeeded", job


def test_a_multi_part_job_applies_every_part(settings: Settings, hub: Hub) -> None:
    async def body(client: httpx.AsyncClient) -> None:
        await two_datasets(client)
        response = await client.post(f"{API}/jobs", json={"parts": PARTS})
        assert response.status_code == 201, response.text
        job = response.json()
        assert job["status"] == "created"
        assert [(p["name"], p["dataset"], p["uploaded"]) for p in job["parts"]] == [
            ("v", "vendors", False),
            ("c", "customers", False),
        ]
        url = f"{API}/jobs/{job['id']}"
        early = assert_error(await client.post(f"{url}/start"), 409, "conflict")
        assert early["details"]["missing_parts"] == ["v", "c"]

        vendors = csv_bytes([vendor(1, qty=5), vendor(6)])
        put = await client.put(f"{url}/parts/v", content=vendors)
        assert put.status_code == 200, put.text
        assert put.json()["status"] == "created"
        assert put.json()["parts"][0]["bytes"] == len(vendors)
        early = assert_error(await client.post(f"{url}/start"), 409, "conflict")
        assert early["details"]["missing_parts"] == ["c"] and "c" in early["message"]
        assert_error(await client.put(f"{url}/parts/zzz", content=b"id\n1\n"), 404, "not_found")

        put = await client.put(f"{url}/parts/c", content=csv_bytes([vendor(2, name="C2")]))
        assert put.status_code == 200 and put.json()["status"] == "created"
        started = await client.post(f"{url}/start")
        assert started.status_code == 202, started.text
        assert started.headers["location"] == url
        done = await wait(client, job["id"])
        assert done["status"] == "succeeded", done
        assert done["statistics"] == stats(read=3, inserted=1, updated=2)
        assert done["versions"] == {"vendors": 2, "customers": 2} and done["version"] is None
        assert_error(await client.post(f"{url}/start"), 409, "conflict")
        assert_error(await client.put(f"{url}/parts/v", content=vendors), 409, "conflict")

        assert ids(hub, "vendors") == [f"V{i:04d}" for i in range(1, 7)]
        assert {r[0]: r[3] for r in table_rows(hub, "vendors")}["V0001"] == 5
        assert {r[0]: r[1] for r in table_rows(hub, "customers")}["V0002"] == "C2"
        for name in ("vendors", "customers"):
            assert (await dataset(client, name))["version"] == 2

    serve(settings, body)


def test_a_multi_part_job_with_a_bad_part_changes_no_dataset(settings: Settings, hub: Hub) -> None:
    async def body(client: httpx.AsyncClient) -> None:
        await two_datasets(client)
        before = {name: table_rows(hub, name) for name in ("vendors", "customers")}
        job = (await client.post(f"{API}/jobs", json={"parts": PARTS, "start": True})).json()
        url = f"{API}/jobs/{job['id']}"
        good = csv_bytes([vendor(1, qty=5), vendor(6)])
        assert (await client.put(f"{url}/parts/v", content=good)).status_code == 200
        bad = csv_bytes([vendor(2), ["V0007", "x", "lots", 1, "true", "2024-01-01"]])
        assert (await client.put(f"{url}/parts/c", content=bad)).status_code == 200
        done = await wait(client, job["id"])
        assert done["status"] == "failed" and done["error"]["code"] == "row_errors"
        assert [(e["part"], e["line"], e["column"]) for e in done["errors"]] == [("c", 3, "amount")]
        assert done["versions"] == {}
        for name, rows in before.items():
            assert table_rows(hub, name) == rows
            assert (await dataset(client, name))["version"] == 1

    serve(settings, body)


def test_start_true_queues_the_job_when_its_last_part_arrives(settings: Settings, hub: Hub) -> None:
    async def body(client: httpx.AsyncClient) -> None:
        await create_vendors(client, "vendors")
        await create_vendors(client, "customers")
        response = await client.post(f"{API}/jobs", json={"parts": PARTS, "start": True})
        assert response.status_code == 201
        url = f"{API}/jobs/{response.json()['id']}"
        first = await client.put(f"{url}/parts/c", content=csv_bytes([vendor(9)]))
        assert first.json()["status"] == "created"
        last = await client.put(f"{url}/parts/v", content=csv_bytes([vendor(9)]))
        assert last.status_code == 200 and last.json()["status"] == "queued"
        late = await client.put(f"{url}/parts/v", content=csv_bytes([vendor(10)]))
        assert assert_error(late, 409, "conflict")["details"] == {"status": "queued"}
        assert_error(await client.post(f"{url}/start"), 409, "conflict")

        job = await asyncio.to_thread(hub.run, response.json()["id"])
        assert job["status"] == "succeeded" and job["statistics"] == stats(read=2, inserted=2)
        assert job["versions"] == {"vendors": 1, "customers": 1}
        assert ids(hub, "vendors") == ids(hub, "customers") == ["V0009"]

    serve(replace(settings, workers=0), body)


# 5. the upload limit


def test_an_upload_over_the_limit_is_refused_and_stores_nothing(
    settings: Settings, tmp_path: Path
) -> None:
    big = csv_bytes([vendor(i) for i in range(200)])
    assert len(big) > 5000

    def stored() -> list[Path]:
        return sorted(p for p in (tmp_path / "uploads").rglob("*") if p.is_file())

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(big), 500):
            yield big[start : start + 500]

    async def body(client: httpx.AsyncClient) -> None:
        await create_vendors(client)
        small = await push(client, "vendors", csv_bytes(INITIAL[:1]), "ok.csv")
        assert small["status"] == "succeeded"
        kept = stored()

        response = await upload(client, "vendors", big[:5000], "big.csv")
        error = assert_error(response, 413, "payload_too_large")
        assert "MDHUB_MAX_UPLOAD_BYTES" in error["message"]
        assert error["details"]["limit"] == 1000

        raw = await client.post(
            f"{API}/datasets/vendors/jobs",
            content=big[:5000],
            headers={"content-type": "text/csv"},
        )
        assert "MDHUB_MAX_UPLOAD_BYTES" in assert_error(raw, 413, "payload_too_large")["message"]

        chunked = await client.post(
            f"{API}/datasets/vendors/jobs",
            content=chunks(),
            headers={"content-type": "text/csv"},
        )
        assert "content-length" not in chunked.request.headers
        error = assert_error(chunked, 413, "payload_too_large")
        assert "MDHUB_MAX_UPLOAD_BYTES" in error["message"]

        jobs = (await client.get(f"{API}/jobs")).json()["results"]
        assert [j["id"] for j in jobs] == [small["id"]]
        assert stored() == kept
        assert all(p.relative_to(tmp_path / "uploads").parts[0] == "sha256" for p in kept)

    serve(replace(settings, max_upload_bytes=1000), body)


# 6. idempotency


def test_an_idempotency_key_gives_the_first_answer_again(settings: Settings, hub: Hub) -> None:
    content = csv_bytes(INITIAL)

    async def body(client: httpx.AsyncClient) -> None:
        await create_vendors(client)
        key = {"Idempotency-Key": "nightly-2024-01-15"}
        first = await upload(
            client, "vendors", content, "v.csv", {"operation": "upsert"}, headers=key
        )
        job_id = accepted(first)
        await wait(client, job_id)
        second = await upload(
            client, "vendors", content, "v.csv", {"operation": "upsert"}, headers=key
        )
        assert accepted(second) == job_id
        listed = (await client.get(f"{API}/jobs")).json()["results"]
        assert [j["id"] for j in listed] == [job_id]
        assert (await dataset(client, "vendors"))["version"] == 1

        other = await upload(
            client, "vendors", csv_bytes(INITIAL[:2]), "v.csv", {"operation": "upsert"}, headers=key
        )
        assert_error(other, 422, "idempotency_key_reused")
        other_op = await upload(
            client, "vendors", content, "v.csv", {"operation": "insert"}, headers=key
        )
        assert_error(other_op, 422, "idempotency_key_reused")

        # The first request with this key is still being answered (reserved, not completed).
        pending = {"Idempotency-Key": "in-flight"}
        request = submissions.job_request("vendors", {"operation": "upsert"}, "v.csv")
        first_print = idempotency.fingerprint(
            method="POST",
            path=f"{API}/datasets/vendors/jobs",
            request=request,
            sha256=hashlib.sha256(content).hexdigest(),
        )
        assert idempotency.begin(hub.dbs, "default", "in-flight", first_print) is None
        busy = await upload(
            client, "vendors", content, "v.csv", {"operation": "upsert"}, headers=pending
        )
        assert_error(busy, 409, "idempotency_in_flight")
        assert len((await client.get(f"{API}/jobs")).json()["results"]) == 1

        multi = {"parts": [PARTS[0]]}
        key = {"Idempotency-Key": "multi-1"}
        created = await client.post(f"{API}/jobs", json=multi, headers=key)
        assert created.status_code == 201, created.text
        again = await client.post(f"{API}/jobs", json=multi, headers=key)
        assert again.status_code == 201 and again.json()["id"] == created.json()["id"]
        assert again.headers["location"] == f"{API}/jobs/{created.json()['id']}"
        changed = await client.post(f"{API}/jobs", json={**multi, "dry_run": True}, headers=key)
        assert_error(changed, 422, "idempotency_key_reused")
        assert len((await client.get(f"{API}/jobs")).json()["results"]) == 2

    serve(settings, body)


def test_a_dataset_created_with_an_idempotency_key_is_created_once(settings: Settings) -> None:
    async def body(client: httpx.AsyncClient) -> None:
        new = {"name": "vendors", "schema": VENDORS_SCHEMA}
        key = {"Idempotency-Key": "create-vendors"}
        first = await client.post(f"{API}/datasets", json=new, headers=key)
        assert first.status_code == 201, first.text
        # A retry whose first answer was lost: the same answer, not a 409.
        again = await client.post(f"{API}/datasets", json=new, headers=key)
        assert (again.status_code, again.json()) == (201, first.json())
        assert again.headers["location"] == f"{API}/datasets/vendors"
        other = await client.post(f"{API}/datasets", json={"name": "other"}, headers=key)
        assert_error(other, 422, "idempotency_key_reused")
        listed = (await client.get(f"{API}/datasets")).json()["results"]
        assert [d["name"] for d in listed] == ["vendors"]
        # Without a key, or with a new one, creating it again is the conflict it always was.
        assert_error(await client.post(f"{API}/datasets", json=new), 409, "conflict")
        fresh = {"Idempotency-Key": "create-vendors-2"}
        assert_error(await client.post(f"{API}/datasets", json=new, headers=fresh), 409, "conflict")
        # The failed request freed its key: it may be used for another request.
        other = await client.post(f"{API}/datasets", json={"name": "other"}, headers=fresh)
        assert other.status_code == 201, other.text

    serve(settings, body)


# 7. cancel


def test_a_queued_job_is_cancelled_at_once(settings: Settings, hub: Hub) -> None:
    async def body(client: httpx.AsyncClient) -> None:
        await create_vendors(client)
        job_id = accepted(await upload(client, "vendors", csv_bytes(INITIAL), "v.csv"))
        assert (await client.get(f"{API}/jobs/{job_id}")).json()["status"] == "queued"
        response = await client.post(f"{API}/jobs/{job_id}/cancel")
        assert response.status_code == 202, response.text
        job = response.json()
        assert job["status"] == "cancelled" and job["error"]["code"] == "cancelled"
        assert job["finished_at"] is not None
        again = assert_error(await client.post(f"{API}/jobs/{job_id}/cancel"), 409, "conflict")
        assert again["details"] == {"status": "cancelled"}
        assert_error(await client.post(f"{API}/jobs/99999/cancel"), 404, "not_found")
        assert hub.run(job_id)["status"] == "cancelled"  # nothing left to run
        assert table_rows(hub, "vendors") == []
        assert (await dataset(client, "vendors"))["version"] == 0

    serve(replace(settings, workers=0), body)


def test_a_running_job_is_cancelled_and_rolled_back(
    settings: Settings, hub: Hub, tmp_path: Path
) -> None:
    big = write_csv(tmp_path / "big.csv", [vendor(i, qty=2) for i in range(200_000)])

    async def body(client: httpx.AsyncClient) -> None:
        await create_vendors(client)
        await push(client, "vendors", csv_bytes(INITIAL), "v1.csv")
        before = table_rows(hub, "vendors")
        response = await client.post(
            f"{API}/datasets/vendors/jobs",
            content=big.read_bytes(),
            headers={"content-type": "text/csv"},
            params={"filename": "big.csv"},
        )
        job_id = accepted(response)
        await wait(client, job_id, ("running", *FINAL))
        cancel = await client.post(f"{API}/jobs/{job_id}/cancel")
        assert cancel.status_code == 202, cancel.text
        assert cancel.json()["cancel_requested"] is True
        job = await wait(client, job_id)
        assert job["status"] == "cancelled", job
        assert job["error"]["code"] == "cancelled" and job["versions"] == {}
        assert table_rows(hub, "vendors") == before
        got = await dataset(client, "vendors")
        assert (got["version"], got["row_count"]) == (1, 5)

    serve(settings, body)


# 8. lists, events, metrics


def test_job_lists_filter_and_paginate(settings: Settings) -> None:
    async def body(client: httpx.AsyncClient) -> None:
        await create_vendors(client, "vendors")
        await create_vendors(client, "customers")
        made: dict[str, list[int]] = {"vendors": [], "customers": []}
        for i in range(3):
            for name in made:
                job = await push(client, name, csv_bytes([vendor(i)]), f"{i}.csv")
                made[name].append(job["id"])
        bad = await push(client, "vendors", csv_bytes([[1, 2]], header=["x", "y"]), "bad.csv")
        assert bad["status"] == "failed"

        everything = (await client.get(f"{API}/jobs")).json()
        all_ids = sorted([*made["vendors"], *made["customers"], bad["id"]], reverse=True)
        assert [j["id"] for j in everything["results"]] == all_ids
        assert everything["next"] is None

        vendors = (await client.get(f"{API}/jobs", params={"dataset": "vendors"})).json()
        assert [j["id"] for j in vendors["results"]] == sorted(
            [*made["vendors"], bad["id"]], reverse=True
        )
        ok = await client.get(f"{API}/jobs", params={"dataset": "vendors", "status": "succeeded"})
        assert [j["id"] for j in ok.json()["results"]] == sorted(made["vendors"], reverse=True)
        failed = (await client.get(f"{API}/jobs", params={"status": "failed"})).json()
        assert [j["id"] for j in failed["results"]] == [bad["id"]]
        assert_error(
            await client.get(f"{API}/jobs", params={"status": "odd"}), 400, "invalid_request"
        )

        seen: list[int] = []
        cursor: int | None = None
        while True:
            params: dict[str, Any] = {"limit": 3, "status": "succeeded"}
            if cursor is not None:
                params["cursor"] = cursor
            page = (await client.get(f"{API}/jobs", params=params)).json()
            assert len(page["results"]) <= 3
            seen += [j["id"] for j in page["results"]]
            cursor = page["next"]
            if cursor is None:
                break
        assert seen == sorted([*made["vendors"], *made["customers"]], reverse=True)

    serve(settings, body)


async def read_events(client: httpx.AsyncClient, job_id: int) -> list[tuple[str, dict[str, Any]]]:
    """The job's Server-Sent Events, read up to and including `end`."""
    events: list[tuple[str, dict[str, Any]]] = []
    name = ""
    async with client.stream("GET", f"{API}/jobs/{job_id}/events") as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        async for line in response.aiter_lines():
            if line.startswith("event: "):
                name = line[len("event: ") :]
            elif line.startswith("data: "):
                events.append((name, json.loads(line[len("data: ") :])))
                if name == "end":
                    break
    return events


def test_events_stream_progress_then_end(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    read = threading.Event()
    get_job = job_views.get_job

    def watched_get_job(*args: Any, **kwargs: Any) -> dict[str, Any]:
        found = get_job(*args, **kwargs)
        read.set()
        return found

    monkeypatch.setattr(job_views, "get_job", watched_get_job)

    async def body(client: httpx.AsyncClient) -> None:
        await create_vendors(client)
        created = await client.post(f"{API}/jobs", json={"parts": [PARTS[0]], "start": True})
        job_id = created.json()["id"]
        read.clear()
        listening = asyncio.create_task(read_events(client, job_id))
        deadline = time.monotonic() + JOB_TIMEOUT
        while not read.is_set():  # the stream has read the job (still waiting for its part)
            assert time.monotonic() < deadline, "the event stream did not start"
            await asyncio.sleep(POLL_SECONDS)
        put = await client.put(f"{API}/jobs/{job_id}/parts/v", content=csv_bytes(INITIAL))
        assert put.status_code == 200
        events = await asyncio.wait_for(listening, JOB_TIMEOUT)
        names = [name for name, _ in events]
        assert names[0] == "progress" and names[-1] == "end"
        assert set(names[:-1]) == {"progress"}
        assert events[0][1]["status"] == "created"
        end = events[-1][1]
        assert end["id"] == job_id and end["status"] == "succeeded"
        assert end["statistics"] == stats(read=5, inserted=5)

        finished = await read_events(client, job_id)
        assert [name for name, _ in finished] == ["end"]

    serve(settings, body)


def test_metrics_count_jobs_and_requests(settings: Settings) -> None:
    async def body(client: httpx.AsyncClient) -> None:
        await create_vendors(client)
        for i in range(2):
            job = await push(client, "vendors", csv_bytes([vendor(i)]), f"{i}.csv")
            assert job["status"] == "succeeded"
        failed = await push(client, "vendors", csv_bytes([[1]], header=["x"]), "bad.csv")
        assert failed["status"] == "failed"
        # The worker counts a finished job just after recording its status.
        finished = [
            'mdhub_jobs_finished_total{status="succeeded"} 2.0',
            'mdhub_jobs_finished_total{status="failed"} 1.0',
        ]
        deadline = time.monotonic() + JOB_TIMEOUT
        while True:
            response = await client.get("/metrics")
            assert response.status_code == 200
            text = response.text
            if all(line in text for line in finished) or time.monotonic() > deadline:
                break
            await asyncio.sleep(POLL_SECONDS)
        for line in finished:
            assert line in text
        assert 'mdhub_jobs{status="succeeded"} 2.0' in text
        assert 'mdhub_jobs{status="failed"} 1.0' in text
        assert 'mdhub_jobs{status="queued"} 0.0' in text
        assert (
            'mdhub_http_requests_total{method="POST",route="/api/v1/datasets",status="201"} 1.0'
            in text
        )
        assert (
            'mdhub_http_requests_total{method="POST",route="/api/v1/datasets/{name}/jobs",'
            'status="202"} 3.0' in text
        )

    serve(settings, body)
