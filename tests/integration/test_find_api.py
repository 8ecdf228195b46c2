"""`POST /datasets/{name}/find` over HTTP on both databases: projection, sort, skip, cursor
paging while jobs change the dataset, a dataset without keys, and a 400 naming what is wrong."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from mdhub.config import Settings
from tests.integration.test_api import API, assert_error, push
from tests.integration.test_records_api import create, csv_of, load, serve

SCHEMA = {
    "fields": [
        {"name": "id", "type": "integer"},
        {"name": "name", "type": "string"},
        {"name": "country", "type": "string"},
        {"name": "limit", "type": "number"},
        {"name": "meta", "type": "object"},
        {"name": "tags", "type": "array"},
    ],
    "primaryKey": ["id"],
}
COUNTRIES = ["DE", "FR", "IT", "NO"]


def row(i: int, name: str | None = None) -> dict[str, Any]:
    return {
        "id": i,
        "name": name or f"vendor {i:04d}",
        "country": COUNTRIES[i % 4],
        "limit": i * 10.5,
        "meta": json.dumps({"tier": i % 3}),
        "tags": "[]",
    }


async def find(client: httpx.AsyncClient, name: str, **query: Any) -> httpx.Response:
    return await client.post(f"{API}/datasets/{name}/find", json=query)


async def found(client: httpx.AsyncClient, name: str, **query: Any) -> dict[str, Any]:
    response = await find(client, name, **query)
    assert response.status_code == 200, response.text
    page: dict[str, Any] = response.json()
    return page


def test_projection_sort_skip_and_limits(settings: Settings) -> None:
    async def body(client: httpx.AsyncClient, foreign: httpx.AsyncClient) -> None:
        await create(client, "vendors", SCHEMA)
        await load(client, "vendors", [row(i) for i in range(1, 41)])
        page = await found(
            client,
            "vendors",
            filter={"country": "DE", "meta.tier": {"$gte": 1}},
            projection={"name": 1, "limit": 1},
            sort={"limit": -1},
            limit=3,
        )
        # Germany: 4, 8, ..., 40; tier (i % 3) >= 1 drops 12, 24 and 36.
        assert page["results"] == [
            {"name": "vendor 0040", "limit": 420.0},
            {"name": "vendor 0032", "limit": 336.0},
            {"name": "vendor 0028", "limit": 294.0},
        ]
        assert page["next"]
        hidden = await found(client, "vendors", projection={"meta": 0, "tags": 0}, limit=1)
        assert set(hidden["results"][0]) == {"id", "name", "country", "limit"}
        skipped = await found(client, "vendors", skip=38, projection={"id": 1})
        assert skipped == {"results": [{"id": 39}, {"id": 40}], "next": None}
        regex = await found(
            client, "vendors", filter={"name": {"$regex": "VENDOR 000[1-3]$", "$options": "i"}}
        )
        assert [r["id"] for r in regex["results"]] == [1, 2, 3]
        # `query` is another name of the same filter.
        by_query = await found(client, "vendors", query={"country": "DE"}, projection={"id": 1})
        by_filter = await found(client, "vendors", filter={"country": "DE"}, projection={"id": 1})
        assert by_query == by_filter and len(by_query["results"]) == 10
        both = await find(client, "vendors", query={"id": 1}, filter={"id": 2})
        assert "not both" in assert_error(both, 400, "invalid_request")["message"]
        everything = await found(client, "vendors", limit=10_000)
        assert len(everything["results"]) == 40 and everything["next"] is None
        assert_error(await find(client, "vendors", limit=10_001), 400, "invalid_request")
        assert_error(await find(client, "nothing"), 404, "not_found")
        assert_error(await find(foreign, "vendors"), 404, "not_found")

    serve(settings, body)


@pytest.mark.parametrize(
    ("query", "said"),
    [
        ({"filter": {"country": {"$where": "1"}}}, "unknown or unsupported operator '$where'"),
        ({"filter": {"$nor": [{"id": 1}]}}, "unknown or unsupported operator '$nor'"),
        ({"filter": {"owner": "x"}}, "unknown field 'owner'"),
        ({"filter": {"id": "seven"}}, "field 'id' is integer; \"seven\" is not a valid integer"),
        ({"filter": {"id": {"$in": 3}}}, "filter.id.$in takes an array"),
        ({"filter": {"name.first": "x"}}, "field 'name' is string"),
        ({"filter": {"id": {"$regex": "1"}}}, "$regex matches text"),
        ({"filter": {"name": {"$regex": "("}}}, "not a valid pattern"),
        ({"filter": {"name": {"$regex": "a", "$options": "g"}}}, "$options may hold only"),
        ({"filter": {"meta": {"tier": 1}}}, "compare the values inside it with a dotted path"),
        ({"filter": {"id": {"$gt": 1, "x": 2}}}, "mixes operators and field names"),
        ({"filter": {"$or": []}}, "must be a non-empty array"),
        ({"projection": {"name": 1, "id": 0}}, "mixes fields to show (1) and fields to hide"),
        ({"projection": {"owner": 1}}, "projection.owner: unknown field"),
        ({"sort": {"meta": 1}}, "object fields cannot be sorted"),
        ({"sort": {"name": 2}}, "must be 1 (ascending) or -1"),
        ({"cursor": "not a cursor"}, "cursor is not valid"),
    ],
)
def test_a_bad_query_is_a_400_saying_what_is_wrong(
    settings: Settings, query: dict[str, Any], said: str
) -> None:
    async def body(client: httpx.AsyncClient, foreign: httpx.AsyncClient) -> None:
        await create(client, "vendors", SCHEMA)
        await load(client, "vendors", [row(1)])
        error = assert_error(await find(client, "vendors", **query), 400, "invalid_query")
        assert said in error["message"], error

    serve(settings, body)


def test_a_cursor_for_another_sort_is_refused(settings: Settings) -> None:
    async def body(client: httpx.AsyncClient, foreign: httpx.AsyncClient) -> None:
        await create(client, "vendors", SCHEMA)
        await load(client, "vendors", [row(i) for i in range(1, 6)])
        first = await found(client, "vendors", sort={"name": 1}, limit=2)
        error = assert_error(
            await find(client, "vendors", sort={"name": -1}, cursor=first["next"]),
            400,
            "invalid_query",
        )
        assert "another sort order" in error["message"]

    serve(settings, body)


def test_paging_while_jobs_change_the_dataset_never_repeats_a_row(settings: Settings) -> None:
    async def body(client: httpx.AsyncClient, foreign: httpx.AsyncClient) -> None:
        await create(client, "vendors", SCHEMA)
        await load(client, "vendors", [row(i) for i in range(0, 400, 2)])
        for sort in (None, {"country": 1}, {"limit": -1}):
            seen: list[int] = []
            cursor = None
            step = 0
            while True:
                page = await found(
                    client,
                    "vendors",
                    sort=sort,
                    limit=25,
                    cursor=cursor,
                    projection={"id": 1},
                )
                seen += [r["id"] for r in page["results"]]
                cursor = page["next"]
                if cursor is None:
                    break
                # Between pages: new keys on both sides of the cursor, renamed rows (sort
                # values unchanged), and deleted rows.
                step += 1
                fresh = [row(i) for i in (1000 + step, 2 * step + 1, 401 + 2 * step)]
                renamed = [row(i, name=f"renamed {step}") for i in range(0, 400, 40)]
                assert (await load(client, "vendors", fresh + renamed))["status"] == "succeeded"
                gone = csv_of([{"id": 398 - 4 * step}])
                job = await push(client, "vendors", gone, "gone.csv", operation="delete")
                assert job["status"] == "succeeded", job
            assert len(seen) == len(set(seen)), "a row came twice"
            assert {i for i in range(0, 200, 2)} <= set(seen)

    serve(settings, body)


def test_a_dataset_without_keys_pages_by_position(settings: Settings) -> None:
    async def body(client: httpx.AsyncClient, foreign: httpx.AsyncClient) -> None:
        keyless = {"fields": [{"name": "n", "type": "integer"}]}
        await create(client, "log", keyless)
        job = await push(
            client, "log", csv_of([{"n": i} for i in range(7)]), "log.csv", operation="append"
        )
        assert job["status"] == "succeeded", job
        seen: list[int] = []
        cursor = None
        while True:
            page = await found(client, "log", sort={"n": -1}, limit=3, cursor=cursor)
            seen += [r["n"] for r in page["results"]]
            cursor = page["next"]
            if cursor is None:
                break
        assert seen == [6, 5, 4, 3, 2, 1, 0]

    serve(settings, body)


def test_admin_declares_indexes(settings: Settings) -> None:
    async def body(client: httpx.AsyncClient, foreign: httpx.AsyncClient) -> None:
        url = f"{API}/datasets/vendors/indexes"
        await create(client, "vendors", SCHEMA)
        await load(client, "vendors", [row(i) for i in range(1, 41)])
        assert (await client.get(url)).json() == {"results": [], "next": None}
        made = await client.post(url, json={"fields": ["country", "limit"]})
        assert made.status_code == 201, made.text
        index = made.json()
        assert index["fields"] == ["country", "limit"]
        assert (await client.get(url)).json()["results"] == [index]
        assert_error(await client.post(url, json={"fields": ["country", "limit"]}), 409, "conflict")
        for fields, said in (
            (["owner"], "unknown field 'owner'"),
            (["meta"], "only fields of scalar types"),
            (["id"], "the key is indexed already"),
            (["name", "name"], "different fields"),
        ):
            error = assert_error(
                await client.post(url, json={"fields": fields}), 400, "invalid_request"
            )
            assert said in error["message"]
        assert_error(await foreign.get(url), 404, "not_found")
        page = await found(
            client, "vendors", filter={"country": "DE", "limit": {"$gt": 300}}, projection={"id": 1}
        )
        assert [r["id"] for r in page["results"]] == [32, 36, 40]
        # Jobs still apply to an indexed dataset.
        assert (await load(client, "vendors", [row(41)]))["status"] == "succeeded"
        assert (await client.delete(f"{url}/{index['name']}")).status_code == 204
        assert (await client.get(url)).json()["results"] == []
        assert_error(await client.delete(f"{url}/{index['name']}"), 404, "not_found")

    serve(settings, body)
