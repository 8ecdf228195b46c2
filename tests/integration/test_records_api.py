"""Reading records over HTTP on both databases: one record by its key (every column type,
composite and URL-encoded keys), and a dataset's versions with their statistics."""

from __future__ import annotations

import asyncio
import csv
import io
import json
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote

import httpx

from mdhub.app import create_app
from mdhub.config import Settings
from mdhub.services import api_keys, workspaces
from tests.integration.test_api import API, assert_error, push, stats

Body = Callable[[httpx.AsyncClient, httpx.AsyncClient], Awaitable[None]]

EVERY_TYPE = {
    "fields": [
        {"name": "id", "type": "string"},
        {"name": "qty", "type": "integer"},
        {"name": "amount", "type": "number"},
        {"name": "active", "type": "boolean"},
        {"name": "since", "type": "date"},
        {"name": "seen", "type": "datetime"},
        {"name": "opens", "type": "time"},
        {"name": "founded", "type": "year"},
        {"name": "term", "type": "duration"},
        {"name": "meta", "type": "object"},
        {"name": "tags", "type": "array"},
        {"name": "note", "type": "any"},
    ],
    "primaryKey": ["id"],
}
COMPOSITE = {
    "fields": [
        {"name": "code", "type": "string"},
        {"name": "day", "type": "date"},
        {"name": "n", "type": "integer"},
        {"name": "label", "type": "string"},
    ],
    "primaryKey": ["code", "day", "n"],
}
# A single key may hold a comma: only composite keys are split.
ODD_ID = "x,y / z?é&#%"


def serve(settings: Settings, body: Body) -> None:
    """Run `body` with two clients: an admin of the default workspace and an admin of
    another workspace."""

    async def main() -> None:
        app = create_app(settings)
        async with app.router.lifespan_context(app):
            dbs = app.state.dbs
            ours = api_keys.create_key(dbs, "default", "tests", "admin")["key"]
            workspaces.create_workspace(dbs, "other", admin_user_id=None)
            theirs = api_keys.create_key(dbs, "other", "tests", "admin")["key"]
            transport = httpx.ASGITransport(app=app)
            async with (
                httpx.AsyncClient(
                    transport=transport, base_url="http://test", headers=_bearer(ours)
                ) as client,
                httpx.AsyncClient(
                    transport=transport, base_url="http://test", headers=_bearer(theirs)
                ) as foreign,
            ):
                await body(client, foreign)

    asyncio.run(main())


def _bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def csv_of(rows: list[dict[str, Any]]) -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode()


async def create(client: httpx.AsyncClient, name: str, schema: dict[str, Any]) -> None:
    response = await client.post(f"{API}/datasets", json={"name": name, "schema": schema})
    assert response.status_code == 201, response.text


async def load(client: httpx.AsyncClient, name: str, rows: list[dict[str, Any]]) -> dict[str, Any]:
    job = await push(client, name, csv_of(rows), "rows.csv", operation="upsert")
    assert job["status"] == "succeeded", job
    return job


def record_url(name: str, key: str) -> str:
    return f"{API}/datasets/{name}/records/{quote(key, safe='')}"


SENT = [
    {
        "id": "full",
        "qty": "42",
        "amount": "12.5",
        "active": "true",
        "since": "2024-02-29",
        "seen": "2024-03-01T12:20:30.5+02:00",
        "opens": "08:30:00",
        "founded": "1999",
        "term": "P1DT2H",
        "meta": json.dumps({"a": 1, "b": [1, 2], "c": {"d": None}}),
        "tags": json.dumps([1, "x", True]),
        "note": "anything",
    },
    {
        "id": ODD_ID,
        "qty": "-7",
        "amount": "0",
        "active": "false",
        "since": "1970-01-01",
        "seen": "2024-03-01T10:20:30Z",
        "opens": "23:59:59.250",
        "founded": "2024",
        "term": "PT0S",
        "meta": "{}",
        "tags": "[]",
        "note": "",
    },
    {"id": "empty", **{f["name"]: "" for f in EVERY_TYPE["fields"][1:]}},
]
EXPECTED = {
    "full": {
        "id": "full",
        "qty": 42,
        "amount": 12.5,
        "active": True,
        "since": "2024-02-29",
        "seen": "2024-03-01T10:20:30.500000+00:00",
        "opens": "08:30:00",
        "founded": 1999,
        "term": "P1DT2H",
        "meta": {"a": 1, "b": [1, 2], "c": {"d": None}},
        "tags": [1, "x", True],
        "note": "anything",
    },
    ODD_ID: {
        "id": ODD_ID,
        "qty": -7,
        "amount": 0.0,
        "active": False,
        "since": "1970-01-01",
        "seen": "2024-03-01T10:20:30+00:00",
        "opens": "23:59:59.250000",
        "founded": 2024,
        "term": "PT0S",
        "meta": {},
        "tags": [],
        "note": None,
    },
    "empty": {"id": "empty", **{f["name"]: None for f in EVERY_TYPE["fields"][1:]}},
}


def test_record_by_key_has_every_type(settings: Settings) -> None:
    async def body(client: httpx.AsyncClient, foreign: httpx.AsyncClient) -> None:
        await create(client, "typed", EVERY_TYPE)
        await load(client, "typed", SENT)
        for key, expected in EXPECTED.items():
            response = await client.get(record_url("typed", key))
            assert response.status_code == 200, response.text
            assert response.json() == expected
            assert isinstance(response.json()["qty"] if key != "empty" else 0, int)
        assert_error(await client.get(record_url("typed", "missing")), 404, "not_found")
        assert_error(await foreign.get(record_url("typed", "full")), 404, "not_found")
        assert_error(await client.get(record_url("nothing", "full")), 404, "not_found")

    serve(settings, body)


def test_record_by_composite_key(settings: Settings) -> None:
    async def body(client: httpx.AsyncClient, foreign: httpx.AsyncClient) -> None:
        await create(client, "pairs", COMPOSITE)
        rows = [
            {"code": "A/1 é", "day": "2024-01-31", "n": "7", "label": "first"},
            {"code": "A/1 é", "day": "2024-01-31", "n": "8", "label": "second"},
            {"code": "B", "day": "2024-02-01", "n": "7", "label": "third"},
        ]
        await load(client, "pairs", rows)
        response = await client.get(record_url("pairs", "A/1 é,2024-01-31,8"))
        assert response.status_code == 200, response.text
        assert response.json() == {"code": "A/1 é", "day": "2024-01-31", "n": 8, "label": "second"}
        response = await client.get(f"{API}/datasets/pairs/records/B,2024-02-01,7")
        assert response.json()["label"] == "third"
        missing = await client.get(record_url("pairs", "B,2024-02-01,8"))
        assert_error(missing, 404, "not_found")
        wrong = assert_error(
            await client.get(record_url("pairs", "B,2024-02-01,seven")), 400, "invalid_request"
        )
        assert wrong["details"]["field"] == "n" and "'n'" in wrong["message"]
        wrong = assert_error(
            await client.get(record_url("pairs", "B,2024-02-30,7")), 400, "invalid_request"
        )
        assert wrong["details"]["field"] == "day"
        parts = assert_error(
            await client.get(record_url("pairs", "B,2024-02-01")), 400, "invalid_request"
        )
        assert parts["details"] == {"keys": ["code", "day", "n"], "parts": 2}
        assert_error(
            await client.get(record_url("pairs", "B,2024-02-01,7,x")), 400, "invalid_request"
        )
        assert_error(await foreign.get(record_url("pairs", "B,2024-02-01,7")), 404, "not_found")

    serve(settings, body)


def test_integer_key_of_the_wrong_type(settings: Settings) -> None:
    async def body(client: httpx.AsyncClient, foreign: httpx.AsyncClient) -> None:
        schema = {"fields": [{"name": "id", "type": "integer"}], "primaryKey": ["id"]}
        await create(client, "numbered", schema)
        await load(client, "numbered", [{"id": "1"}, {"id": "20"}])
        assert (await client.get(record_url("numbered", "20"))).json() == {"id": 20}
        error = assert_error(
            await client.get(record_url("numbered", "2.5")), 400, "invalid_request"
        )
        assert error["details"]["field"] == "id"
        assert_error(await client.get(record_url("numbered", "3")), 404, "not_found")

    serve(settings, body)


def test_versions_newest_first_with_statistics(settings: Settings) -> None:
    async def body(client: httpx.AsyncClient, foreign: httpx.AsyncClient) -> None:
        await create(client, "pairs", COMPOSITE)
        first = [
            {"code": "A", "day": "2024-01-01", "n": "1", "label": "one"},
            {"code": "A", "day": "2024-01-01", "n": "2", "label": "two"},
            {"code": "B", "day": "2024-01-01", "n": "1", "label": "three"},
        ]
        second = [
            {"code": "A", "day": "2024-01-01", "n": "1", "label": "one"},
            {"code": "A", "day": "2024-01-01", "n": "2", "label": "TWO"},
            {"code": "C", "day": "2024-01-02", "n": "1", "label": "four"},
        ]
        job1 = await load(client, "pairs", first)
        job2 = await load(client, "pairs", second)
        response = await client.get(f"{API}/datasets/pairs/versions")
        assert response.status_code == 200, response.text
        page = response.json()
        assert page["next"] is None
        versions = page["results"]
        assert [v["version"] for v in versions] == [job2["version"], job1["version"]]
        assert job2["version"] > job1["version"]
        assert [v["job"] for v in versions] == [job2["id"], job1["id"]]
        assert versions[0]["statistics"] == stats(read=3, inserted=1, updated=1, unchanged=1)
        assert versions[1]["statistics"] == stats(read=3, inserted=3)
        assert [v["row_count"] for v in versions] == [4, 3]
        assert {v["operation"] for v in versions} == {"upsert"}
        # The first load into an empty dataset is a full load.
        assert [v["full_load"] for v in versions] == [False, True]
        assert all(v["created_at"].endswith("+00:00") for v in versions)

        one = (await client.get(f"{API}/datasets/pairs/versions", params={"limit": 1})).json()
        assert one["results"] == versions[:1] and one["next"] == job2["version"]
        rest = await client.get(
            f"{API}/datasets/pairs/versions", params={"limit": 1, "cursor": one["next"]}
        )
        assert rest.json() == {"results": versions[1:], "next": None}
        bad = await client.get(f"{API}/datasets/pairs/versions", params={"limit": 0})
        assert bad.status_code in (400, 422)
        assert_error(await foreign.get(f"{API}/datasets/pairs/versions"), 404, "not_found")

    serve(settings, body)


def test_numbers_json_cannot_hold_read_as_null(settings: Settings) -> None:
    """JSON has no infinities or NaN: such a stored number reads as null, as exports write it."""

    async def body(client: httpx.AsyncClient, foreign: httpx.AsyncClient) -> None:
        schema = {
            "fields": [{"name": "id", "type": "string"}, {"name": "x", "type": "number"}],
            "primaryKey": ["id"],
        }
        await create(client, "odd", schema)
        sent = [{"id": "inf", "x": "INF"}, {"id": "minus", "x": "-INF"}, {"id": "nan", "x": "NaN"}]
        await load(client, "odd", [*sent, {"id": "one", "x": "1.5"}])
        for key in ("inf", "minus", "nan"):
            response = await client.get(record_url("odd", key))
            assert response.status_code == 200, response.text
            assert json.loads(response.text) == {"id": key, "x": None}
        assert (await client.get(record_url("odd", "one"))).json() == {"id": "one", "x": 1.5}

    serve(settings, body)
