"""The lookup shortcut on both databases: what it answers is what the route answers (record
and errors alike, byte for byte, counted under the same route), and every other request goes
on to the app."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
from fastapi import FastAPI
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mdhub.api.lookup_shortcut import ROUTE, LookupShortcut
from mdhub.app import create_app
from mdhub.config import Settings
from mdhub.services import api_keys, sessions
from tests.integration.test_records_api import COMPOSITE, ODD_ID, create, load, record_url

Answer = tuple[int, dict[str, str], bytes]
Body = Callable[[FastAPI, httpx.AsyncClient, str], Awaitable[None]]

VENDORS = {
    "fields": [{"name": "id", "type": "string"}, {"name": "n", "type": "integer"}],
    "primaryKey": ["id"],
}


def serve(settings: Settings, body: Body) -> None:
    """Run `body` with the app, an admin's client and a reader's key (not used yet)."""

    async def main() -> None:
        app = create_app(settings)
        async with app.router.lifespan_context(app):
            admin = api_keys.create_key(app.state.dbs, "default", "tests", "admin")["key"]
            reader = api_keys.create_key(app.state.dbs, "default", "tests", "reader")["key"]
            transport = httpx.ASGITransport(app=app)
            headers = {"Authorization": f"Bearer {admin}"}
            async with httpx.AsyncClient(
                transport=transport, base_url="http://test", headers=headers
            ) as client:
                await create(client, "vendors", VENDORS)
                await load(client, "vendors", [{"id": "V1", "n": "1"}, {"id": ODD_ID, "n": "2"}])
                await create(client, "pairs", COMPOSITE)
                await load(client, "pairs", [{"code": "A", "day": "2024-01-31", "n": "1"}])
                await body(app, client, reader)

    asyncio.run(main())


async def remembered(app: FastAPI, client: httpx.AsyncClient, secret: str) -> dict[str, str]:
    """Headers with `secret`, after requests that leave it remembered (its first use, which
    notes when the key was used, writes to the store)."""
    credential = {"Authorization": f"Bearer {secret}"}
    for _ in range(2):
        response = await client.get(record_url("vendors", "V1") + "?via=route", headers=credential)
        assert response.is_success, response.text
    assert sessions.cached_principal(app.state.dbs, secret) is not None
    return credential


class Behind:
    """The app behind the shortcut in these tests: it notes what reached it."""

    def __init__(self) -> None:
        self.paths: list[str] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.paths.append(scope["path"])
        await send({"type": "http.response.start", "status": 599, "headers": []})
        await send({"type": "http.response.body", "body": b""})


async def get(app: ASGIApp, url: str, headers: dict[str, str], **scope: Any) -> Answer:
    """A GET of `url` (path and query) sent straight to an ASGI app."""
    sent: list[Message] = []
    parsed = httpx.URL(url)
    request = {
        "type": "http",
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": parsed.path,
        "raw_path": parsed.raw_path.partition(b"?")[0],
        "query_string": parsed.query,
        "root_path": "",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
        "server": ("test", 80),
        "client": ("127.0.0.1", 1),
        **scope,
    }

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    await app(request, receive, send)
    start = sent[0]
    heads = {k.decode(): v.decode() for k, v in start.get("headers", [])}
    return start["status"], heads, b"".join(m.get("body", b"") for m in sent[1:])


def shown(answer: Answer) -> tuple[int, str | None, str | None, bytes]:
    status, headers, body = answer
    return status, headers.get("content-type"), headers.get("content-length"), body


def test_the_shortcut_answers_as_the_route_does(settings: Settings) -> None:
    async def body(app: FastAPI, client: httpx.AsyncClient, reader: str) -> None:
        credential = await remembered(app, client, reader)
        behind = Behind()
        shortcut = LookupShortcut(behind, state=app.state, metrics=app.state.metrics)
        urls = [
            record_url("vendors", "V1"),
            record_url("vendors", ODD_ID),
            record_url("pairs", "A,2024-01-31,1"),
            record_url("vendors", "V404"),  # no such record
            record_url("nothing", "V1"),  # no such dataset
            record_url("pairs", "A,2024-01-31"),  # a part missing
            record_url("pairs", "A,someday,1"),  # not a date
        ]
        for url in urls:
            mine = await get(shortcut, url, credential)
            # With a query string the shortcut leaves the request to the route.
            theirs = await get(app, url + "?via=route", credential)
            assert shown(mine) == shown(theirs), url
        assert behind.paths == []
        statuses = [shown(await get(shortcut, url, credential))[0] for url in urls]
        assert statuses == [200, 200, 200, 404, 404, 400, 400]

    serve(settings, body)


def test_every_other_request_goes_on_to_the_app(settings: Settings) -> None:
    async def body(app: FastAPI, client: httpx.AsyncClient, reader: str) -> None:
        unknown = api_keys.create_key(app.state.dbs, "default", "unused", "reader")["key"]
        known = await remembered(app, client, reader)
        behind = Behind()
        shortcut = LookupShortcut(behind, state=app.state, metrics=app.state.metrics)
        url = record_url("vendors", "V1")
        passed = [
            await get(shortcut, url, {}),  # no credential
            await get(shortcut, url, {"Authorization": f"Bearer {unknown}"}),  # not checked yet
            await get(shortcut, url, {"Authorization": "Basic %%%"}),  # malformed
            await get(shortcut, url + "?x=1", known),
            await get(shortcut, url, known, method="HEAD"),
            await get(shortcut, url, known, root_path="/behind/a/proxy"),
            await get(shortcut, record_url("vendors", "V\x001"), known),
            await get(shortcut, "/api/v1/datasets/vendors/records/", known),
            await get(shortcut, "/api/v1/datasets/vendors/versions", known),
        ]
        assert [status for status, _, _ in passed] == [599] * len(passed)
        assert len(behind.paths) == len(passed)
        assert (await get(shortcut, url, known))[0] == 200  # and the known credential is answered

    serve(settings, body)


def test_the_shortcut_counts_its_answers_under_the_routes_name(settings: Settings) -> None:
    async def body(app: FastAPI, client: httpx.AsyncClient, reader: str) -> None:
        credential = await remembered(app, client, reader)
        for url in (record_url("vendors", "V1"), record_url("vendors", "V404")):
            for query in ("?via=route", ""):
                await client.get(url + query, headers=credential)
        text = (await client.get("/metrics")).text
        counted = {
            line.split(" ")[0]: float(line.split(" ")[1])
            for line in text.splitlines()
            if line.startswith("mdhub_http_requests_total{") and "/records/" in line
        }
        assert counted == {
            f'mdhub_http_requests_total{{method="GET",route="{ROUTE}",status="200"}}': 2.0 + 2,
            f'mdhub_http_requests_total{{method="GET",route="{ROUTE}",status="404"}}': 2.0,
        }

    serve(settings, body)
