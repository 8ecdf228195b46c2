"""Export over HTTP on both databases: every format and column type as GET …/records/{key}
answers them, CSV that mdhub reads back unchanged, gzip either way, one snapshot while a job
commits, and a client that leaves mid-stream releasing its transaction."""

from __future__ import annotations

import asyncio
import contextlib
import csv
import gzip
import io
import json
import sqlite3
import time
from collections.abc import Awaitable, Callable, Iterable
from datetime import UTC, date, datetime
from datetime import time as clock
from pathlib import Path
from typing import Any

import httpx
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.engine import make_url
from starlette.requests import ClientDisconnect

from mdhub.app import create_app
from mdhub.config import Settings
from mdhub.db import export as db_export
from mdhub.db.engine import data_file_for
from mdhub.services import api_keys, workspaces
from mdhub.services import export as export_service
from mdhub.services.hub import Hub
from tests.helpers import VENDORS_SCHEMA
from tests.integration.test_api import API, JOB_TIMEOUT, POLL_SECONDS, assert_error, push, stats
from tests.integration.test_records_api import (
    EVERY_TYPE,
    SENT,
    create,
    csv_of,
    load,
    record_url,
)

FORMATS = ("csv", "ndjson", "json", "parquet")
IDENTITY = {"Accept-Encoding": "identity"}
# Values that CSV and JSON must escape, extreme numbers, a year before 1000.
QUIRKY = {
    "id": 'q"uote,d',
    "qty": "-9223372036854775808",
    "amount": "0.30000000000000004",
    "active": "false",
    "since": "0999-12-31",
    "seen": "1999-12-31T23:59:59.000001Z",
    "opens": "00:00:00",
    "founded": "0999",
    "term": "P1Y",
    "meta": json.dumps({"x": "line\nbreak", "q": '"', "u": "é"}),
    "tags": json.dumps([[], {}]),
    "note": 'multi\nline, "quoted"\ttab\\back\x01',
}
NUMBERS = [
    {"id": f"n{i}", "amount": amount}
    for i, amount in enumerate(
        [
            "1e20",
            "1e-7",
            "123456789012345.6",
            "1e15",
            "-2.5",
            "100",
            "3.142963586695695e16",
            "5e-324",
        ]
    )
]
ROWS = [*SENT, QUIRKY, *NUMBERS]
# The CSV of ROWS (as the csv module reads it back), the same from both databases.
META = '{"a":1,"b":[1,2],"c":{"d":null}}'
EXPECTED_CSV = [
    [
        "id",
        "qty",
        "amount",
        "active",
        "since",
        "seen",
        "opens",
        "founded",
        "term",
        "meta",
        "tags",
        "note",
    ],
    ["empty", *[""] * 11],
    [
        "full",
        "42",
        "12.5",
        "true",
        "2024-02-29",
        "2024-03-01 10:20:30.5+00:00",
        "08:30:00",
        "1999",
        "P1DT2H",
        META,
        '[1,"x",true]',
        "anything",
    ],
    ["n0", "", "1e+20", *[""] * 9],
    ["n1", "", "1e-07", *[""] * 9],
    ["n2", "", "123456789012345.6", *[""] * 9],
    ["n3", "", "1e+15", *[""] * 9],
    ["n4", "", "-2.5", *[""] * 9],
    ["n5", "", "100", *[""] * 9],
    # PostgreSQL's shortest digits avoid a midpoint to the next float, which repr allows.
    ["n6", "", "3.1429635866956952e+16", *[""] * 9],
    ["n7", "", "5e-324", *[""] * 9],
    [
        'q"uote,d',
        "-9223372036854775808",
        "0.30000000000000004",
        "false",
        "0999-12-31",
        "1999-12-31 23:59:59.000001+00:00",
        "00:00:00",
        "0999",
        "P1Y",
        '{"q":"\\"","u":"é","x":"line\\nbreak"}',
        "[[],{}]",
        'multi\nline, "quoted"\ttab\\back\x01',
    ],
    [
        "x,y / z?é&#%",
        "-7",
        "0",
        "false",
        "1970-01-01",
        "2024-03-01 10:20:30+00:00",
        "23:59:59.25",
        "2024",
        "PT0S",
        "{}",
        "[]",
        "",
    ],
]
WORDS = {
    "fields": [
        {"name": "id", "type": "integer"},
        {"name": "ok", "type": "boolean", "trueValues": ["ja"], "falseValues": ["nein"]},
        {"name": "price", "type": "number"},
        {"name": "label", "type": "string"},
    ],
    "primaryKey": ["id"],
    "missingValues": ["NA"],
}
FORMATTED = {
    "fields": [
        {"name": "id", "type": "integer"},
        {"name": "price", "type": "number", "decimalChar": ","},
        {"name": "day", "type": "date", "format": "%d.%m.%Y"},
        {"name": "at", "type": "datetime", "format": "%d.%m.%Y %H:%M"},
        {"name": "opens", "type": "time", "format": "%H.%M"},
    ],
    "primaryKey": ["id"],
}
CONVENTIONS = {
    "words": (
        WORDS,
        [
            {"id": "1", "ok": "ja", "price": "12.5", "label": "x, y"},
            {"id": "2", "ok": "nein", "price": "INF", "label": ""},
            {"id": "3", "ok": "NA", "price": "-INF", "label": "NA"},
            {"id": "4", "ok": "ja", "price": "1e-05", "label": "é"},
        ],
        'id,ok,price,label\n1,ja,12.5,"x, y"\n2,nein,INF,\n3,NA,-INF,NA\n4,ja,1e-05,é\n',
    ),
    "formatted": (
        FORMATTED,
        [
            {
                "id": "1",
                "price": "12,5",
                "day": "31.01.2024",
                "at": "31.01.2024 13:45",
                "opens": "08.30",
            },
            {"id": "2", "price": "-0,25", "day": "", "at": "", "opens": ""},
        ],
        'id,price,day,at,opens\n1,"12,5",31.01.2024,31.01.2024 13:45,08.30\n2,"-0,25",,,\n',
    ),
}

Body = Callable[[FastAPI, httpx.AsyncClient, httpx.AsyncClient], Awaitable[None]]


def serve(settings: Settings, body: Body) -> None:
    """Run `body` with the app, a client of the default workspace's admin and one of another
    workspace's admin."""

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
                    transport=transport, base_url="http://test", headers=bearer(ours)
                ) as client,
                httpx.AsyncClient(
                    transport=transport, base_url="http://test", headers=bearer(theirs)
                ) as foreign,
            ):
                await body(app, client, foreign)

    asyncio.run(main())


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def download(
    client: httpx.AsyncClient, name: str, fmt: str = "csv", **headers: str
) -> httpx.Response:
    response = await client.get(
        f"{API}/datasets/{name}/export", params={"format": fmt}, headers={**IDENTITY, **headers}
    )
    assert response.status_code == 200, response.text
    return response


async def records_of(client: httpx.AsyncClient, name: str, keys: list[str]) -> list[Any]:
    """What GET …/records/{key} answers for each key."""
    found = []
    for key in keys:
        response = await client.get(record_url(name, key))
        assert response.status_code == 200, response.text
        found.append(response.json())
    return found


def from_csv(kind: str, value: str) -> Any:
    """A CSV field as the JSON value the records API gives."""
    if value == "":
        return None
    if kind in ("integer", "year"):
        return int(value)
    if kind == "number":
        return float(value)
    if kind == "boolean":
        return {"true": True, "false": False}[value]
    if kind == "datetime":
        return datetime.fromisoformat(value).astimezone(UTC).isoformat()
    if kind == "time":
        return clock.fromisoformat(value).isoformat()
    if kind in ("object", "array"):
        return json.loads(value)
    return value


def from_parquet(value: Any) -> Any:
    """A Parquet value (as pyarrow gives it) as the JSON value the records API gives."""
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    if isinstance(value, date | clock):
        return value.isoformat()
    return value


def parsed(fmt: str, body: bytes, schema: dict[str, Any]) -> list[dict[str, Any]]:
    """An exported file's records, values as the records API gives them."""
    kinds = {f["name"]: f["type"] for f in schema["fields"]}
    if fmt == "ndjson":
        assert body.endswith(b"\n")
        return [json.loads(line) for line in body.split(b"\n")[:-1]]
    if fmt == "json":
        found: list[dict[str, Any]] = json.loads(body)
        return found
    if fmt == "csv":
        reader = csv.DictReader(io.StringIO(body.decode(), newline=""))
        assert reader.fieldnames == list(kinds)
        return [{k: from_csv(kinds[k], v) for k, v in row.items()} for row in reader]
    table = pq.read_table(io.BytesIO(body))
    objects = [k for k, kind in kinds.items() if kind in ("object", "array")]
    return [
        {
            k: json.loads(v) if k in objects and v is not None else from_parquet(v)
            for k, v in r.items()
        }
        for r in table.to_pylist()
    ]


def test_every_format_has_every_type_as_the_records_api(settings: Settings) -> None:
    async def body(app: FastAPI, client: httpx.AsyncClient, foreign: httpx.AsyncClient) -> None:
        await create(client, "typed", EVERY_TYPE)
        job = await load(client, "typed", ROWS)
        keys = sorted(row["id"] for row in ROWS)
        expected = await records_of(client, "typed", keys)
        for fmt in FORMATS:
            response = await download(client, "typed", fmt)
            assert response.headers["content-disposition"] == f'attachment; filename="typed.{fmt}"'
            assert response.headers["x-mdhub-version"] == str(job["version"])
            assert "content-encoding" not in response.headers
            found = parsed(fmt, response.content, EVERY_TYPE)
            assert found == expected, fmt
            assert [list(record) for record in found] == [list(r) for r in expected]

        # NDJSON and JSON: each record as json.dumps writes the records API's values.
        lines = [json.dumps(r, ensure_ascii=False, separators=(",", ":")) for r in expected]
        ndjson = await download(client, "typed", "ndjson")
        assert ndjson.headers["content-type"] == "application/x-ndjson"
        assert ndjson.content.decode() == "".join(f"{line}\n" for line in lines)
        as_json = (await download(client, "typed", "json")).content.decode()
        assert as_json == "[\n" + ",\n".join(lines) + "\n]\n"

        csv_file = await download(client, "typed", "csv")
        assert csv_file.headers["content-type"] == "text/csv; charset=utf-8"
        assert list(csv.reader(io.StringIO(csv_file.content.decode(), newline=""))) == EXPECTED_CSV

        table = pq.read_table(io.BytesIO((await download(client, "typed", "parquet")).content))
        assert table.schema.types == [
            pa.string(),
            pa.int64(),
            pa.float64(),
            pa.bool_(),
            pa.date32(),
            pa.timestamp("us", "UTC"),
            pa.time64("us"),
            pa.int64(),
            *[pa.string()] * 4,
        ]
        assert_error(await foreign.get(f"{API}/datasets/typed/export"), 404, "not_found")

    serve(settings, body)


def test_csv_reads_back_unchanged(settings: Settings) -> None:
    async def body(app: FastAPI, client: httpx.AsyncClient, foreign: httpx.AsyncClient) -> None:
        await create(client, "typed", EVERY_TYPE)
        await load(client, "typed", ROWS)
        exported = (await download(client, "typed")).content
        await create(client, "again", EVERY_TYPE)
        job = await push(client, "again", exported, "typed.csv", operation="upsert")
        assert job["status"] == "succeeded", job
        assert job["statistics"]["inserted"] == len(ROWS)
        assert (await download(client, "again")).content == exported
        for fmt in ("ndjson", "parquet"):
            ours = (await download(client, "typed", fmt)).content
            assert (await download(client, "again", fmt)).content == ours

    serve(settings, body)


@pytest.mark.parametrize("convention", list(CONVENTIONS))
def test_csv_follows_the_schema_conventions(settings: Settings, convention: str) -> None:
    """Boolean words, the missing value, a decimal comma and strftime formats: exactly as
    mdhub reads them (on PostgreSQL `words` is written by the server, `formatted` by Arrow)."""
    schema, rows, expected = CONVENTIONS[convention]

    async def body(app: FastAPI, client: httpx.AsyncClient, foreign: httpx.AsyncClient) -> None:
        await create(client, "first", schema)
        await load(client, "first", rows)
        exported = (await download(client, "first")).content
        assert exported.decode() == expected
        await create(client, "second", schema)
        job = await push(client, "second", exported, "first.csv", operation="upsert")
        assert job["status"] == "succeeded", job
        assert (await download(client, "second")).content == exported
        keys = [row["id"] for row in rows]
        assert await records_of(client, "second", keys[:1]) == await records_of(
            client, "first", keys[:1]
        )

    serve(settings, body)


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_postgresql_writes_the_csv_that_arrow_writes(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The server's own COPY formatting is only a faster way to the same bytes."""

    async def body(app: FastAPI, client: httpx.AsyncClient, foreign: httpx.AsyncClient) -> None:
        await create(client, "typed", EVERY_TYPE)
        await load(client, "typed", ROWS)
        await create(client, "words", WORDS)
        await load(client, "words", CONVENTIONS["words"][1])
        by_server = [(await download(client, name)).content for name in ("typed", "words")]
        monkeypatch.setattr(export_service, "_server_writes_csv", lambda *_: False)
        by_arrow = [(await download(client, name)).content for name in ("typed", "words")]
        assert by_server == by_arrow

    serve(settings, body)


def test_gzip_on_request_or_as_a_file(settings: Settings) -> None:
    async def body(app: FastAPI, client: httpx.AsyncClient, foreign: httpx.AsyncClient) -> None:
        await create(client, "typed", EVERY_TYPE)
        await load(client, "typed", ROWS)
        for fmt in FORMATS:
            plain = await download(client, "typed", fmt)
            url = f"{API}/datasets/typed/export"
            async with client.stream(
                "GET", url, params={"format": fmt}, headers={"Accept-Encoding": "br, gzip;q=0.5"}
            ) as encoded:
                raw = b"".join([chunk async for chunk in encoded.aiter_raw()])
            assert encoded.status_code == 200
            assert encoded.headers["content-encoding"] == "gzip"
            assert encoded.headers["content-type"] == plain.headers["content-type"]
            assert encoded.headers["content-disposition"] == plain.headers["content-disposition"]
            assert raw[:2] == b"\x1f\x8b" and gzip.decompress(raw) == plain.content

            as_file = await client.get(
                url, params={"format": fmt, "compression": "gzip"}, headers=IDENTITY
            )
            assert as_file.status_code == 200, as_file.text
            assert as_file.headers["content-type"] == "application/gzip"
            assert "content-encoding" not in as_file.headers
            assert as_file.headers["content-disposition"] == (
                f'attachment; filename="typed.{fmt}.gz"'
            )
            assert gzip.decompress(as_file.content) == plain.content
        refused = await download(client, "typed", "csv", **{"Accept-Encoding": "gzip;q=0"})
        assert "content-encoding" not in refused.headers

    serve(settings, body)


def test_empty_datasets_give_valid_empty_files(settings: Settings) -> None:
    async def body(app: FastAPI, client: httpx.AsyncClient, foreign: httpx.AsyncClient) -> None:
        await create(client, "empty", EVERY_TYPE)
        created = await client.post(f"{API}/datasets", json={"name": "bare", "keys": ["id"]})
        assert created.status_code == 201, created.text
        names = [f["name"] for f in EVERY_TYPE["fields"]]
        expected = {
            "csv": (",".join(names) + "\n").encode(),
            "ndjson": b"",
            "json": b"[\n]\n",
        }
        for fmt in FORMATS:
            response = await download(client, "empty", fmt)
            assert response.headers["x-mdhub-version"] == "0"
            bare = await download(client, "bare", fmt)
            if fmt == "parquet":
                table = pq.read_table(io.BytesIO(response.content))
                assert table.num_rows == 0 and table.column_names == names
                assert pq.read_table(io.BytesIO(bare.content)).num_columns == 0
                continue
            assert response.content == expected[fmt]
            assert bare.content == (b"" if fmt != "json" else expected["json"])
            if fmt == "json":
                assert json.loads(response.content) == []

    serve(settings, body)


def test_a_dataset_without_keys_and_odd_field_names(settings: Settings) -> None:
    async def body(app: FastAPI, client: httpx.AsyncClient, foreign: httpx.AsyncClient) -> None:
        text_field, number_field = 'a, "b"', "n%s:x"
        fields = [{"name": text_field, "type": "string"}, {"name": number_field, "type": "integer"}]
        await create(client, "log", {"fields": fields})
        rows = [{text_field: "x", number_field: n} for n in ("1", "1", "")]
        job = await push(client, "log", csv_of(rows), "log.csv", operation="append")
        assert job["status"] == "succeeded", job
        lines = (await download(client, "log")).content.decode().splitlines()
        assert lines == ['"a, ""b""",n%s:x', "x,1", "x,1", "x,"]
        found = json.loads((await download(client, "log", "json")).content)
        assert found == [{text_field: "x", number_field: n} for n in (1, 1, None)]
        table = pq.read_table(io.BytesIO((await download(client, "log", "parquet")).content))
        assert table.column_names == [text_field, number_field] and table.num_rows == 3

    serve(settings, body)


def test_unknown_format_dataset_or_compression(settings: Settings) -> None:
    async def body(app: FastAPI, client: httpx.AsyncClient, foreign: httpx.AsyncClient) -> None:
        await create(client, "typed", EVERY_TYPE)
        url = f"{API}/datasets/typed/export"
        error = assert_error(
            await client.get(url, params={"format": "xml"}), 400, "invalid_request"
        )
        assert "format" in error["message"]
        bad = await client.get(url, params={"compression": "zip"})
        assert_error(bad, 400, "invalid_request")
        missing = await client.get(f"{API}/datasets/nothing/export")
        assert_error(missing, 404, "not_found")

    serve(settings, body)


# Streaming: many chunks (PostgreSQL CSV: 256 KiB; SQLite: 8,192 rows each).
STREAM_ROWS = 40_000


def stream_rows(rows: Iterable[tuple[int, str]]) -> bytes:
    """A CSV of VENDORS_SCHEMA rows: for each (i, name), the row K<i> named `<name> <i>`."""
    lines = ["id,name,amount,qty,active,since"]
    lines += [f"K{i:06d},{name} {i},{i / 4},{i},true,2024-01-15" for i, name in rows]
    return ("\n".join(lines) + "\n").encode()


class RawRequest:
    """One GET sent straight to the ASGI app with `client`'s credential, its body read chunk
    by chunk (httpx's ASGITransport gathers all of it first): the app waits while a chunk is
    not read."""

    def __init__(
        self, app: FastAPI, client: httpx.AsyncClient, path: str, *, spec: str = "2.3"
    ) -> None:
        self.app = app
        self.spec = spec
        query = path.partition("?")[2]
        self.scope = {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": spec},
            "http_version": "1.1",
            "method": "GET",
            "scheme": "http",
            "path": path.split("?")[0],
            "raw_path": path.split("?")[0].encode(),
            "query_string": query.encode(),
            "root_path": "",
            "headers": [
                (b"host", b"test"),
                (b"authorization", client.headers["authorization"].encode()),
            ],
            "server": ("test", 80),
            "client": ("127.0.0.1", 1234),
        }
        self.messages: asyncio.Queue[dict[str, Any]] = asyncio.Queue(maxsize=1)
        self.left = asyncio.Event()
        self.headers: dict[str, str] = {}
        self._asked = False
        self.task: asyncio.Task[None] | None = None

    async def start(self) -> int:
        """Send the request; returns the status once the headers arrive."""
        self.task = asyncio.create_task(self._run())
        start = await asyncio.wait_for(self.messages.get(), JOB_TIMEOUT)
        self.headers = {k.decode(): v.decode() for k, v in start["headers"]}
        return int(start["status"])

    async def read(self) -> bytes | None:
        """The next chunk of the body; None at its end."""
        message = await asyncio.wait_for(self.messages.get(), JOB_TIMEOUT)
        return message["body"] if message.get("more_body") else None

    async def leave(self) -> None:
        """Go away mid-stream, and wait until the app has finished with the request."""
        self.left.set()
        assert self.task is not None
        while not self.task.done():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.messages.get(), POLL_SECONDS)
        await self.task

    async def _run(self) -> None:
        try:
            await self.app(self.scope, self._receive, self._send)
        except ClientDisconnect:
            assert self.spec == "2.4"

    async def _receive(self) -> dict[str, Any]:
        if not self._asked:
            self._asked = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await self.left.wait()
        return {"type": "http.disconnect"}

    async def _send(self, message: dict[str, Any]) -> None:
        if self.left.is_set() and self.spec == "2.4":
            raise OSError("the client went away")
        await self.messages.put(message)


async def load_stream_rows(client: httpx.AsyncClient) -> None:
    response = await client.post(f"{API}/datasets", json={"name": "big", "schema": VENDORS_SCHEMA})
    assert response.status_code == 201, response.text
    job = await push(
        client,
        "big",
        stream_rows((i, "name") for i in range(STREAM_ROWS)),
        "big.csv",
        operation="upsert",
    )
    assert job["status"] == "succeeded", job


@pytest.mark.parametrize("fmt", ["csv", "ndjson"])
def test_a_stream_is_one_snapshot_while_a_job_commits(settings: Settings, fmt: str) -> None:
    async def body(app: FastAPI, client: httpx.AsyncClient, foreign: httpx.AsyncClient) -> None:
        await load_stream_rows(client)
        before = await download(client, "big", fmt)

        request = RawRequest(app, client, f"{API}/datasets/big/export?format={fmt}")
        assert await request.start() == 200
        chunks = [await request.read()]
        # While the stream is half-read: every 40th row deleted, the next one changed (all
        # through the key order), 1,000 rows added at its end.
        kept = [(i, "changed" if i % 40 == 1 else "name") for i in range(STREAM_ROWS) if i % 40]
        added = [(i, "name") for i in range(STREAM_ROWS, STREAM_ROWS + 1_000)]
        job = await push(
            client, "big", stream_rows(kept + added), "next.csv", operation="overwrite"
        )
        assert job["status"] == "succeeded", job
        assert job["statistics"] == stats(
            read=STREAM_ROWS, inserted=1_000, updated=1_000, unchanged=38_000, deleted=1_000
        )
        unread = 0
        while (chunk := await request.read()) is not None:
            chunks.append(chunk)
            unread += 1
        await request.task
        assert unread >= 1, "the stream was read whole before the job committed"
        assert b"".join(c for c in chunks if c) == before.content
        assert request.headers["x-mdhub-version"] == before.headers["x-mdhub-version"]

        after = await download(client, "big", fmt)
        assert after.content != before.content
        assert int(after.headers["x-mdhub-version"]) == job["version"]
        assert b"K039960" not in after.content and b"K040999" in after.content
        assert b"changed 39961" in after.content

    serve(settings, body)


def test_an_export_is_one_snapshot_when_a_job_commits_as_it_starts(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A job commits right after the export read the dataset's version: the export holds the
    rows of the version it names (on SQLite, whose rows are read on a connection of their
    own, it starts again)."""

    async def body(app: FastAPI, client: httpx.AsyncClient, foreign: httpx.AsyncClient) -> None:
        await create(client, "moving", VENDORS_SCHEMA)
        job = await push(client, "moving", stream_rows((i, "name") for i in range(50)), "a.csv")
        before = await download(client, "moving")
        started: list[int] = []
        read_state = db_export.snapshot_state

        def state_then_a_job(conn: Any, dataset_id: int, table: str) -> db_export.SnapshotState:
            state = read_state(conn, dataset_id, table)
            started.append(state.version)
            if len(started) == 1:  # another writer commits, as a worker would
                changed = tmp_path / "b.csv"
                changed.write_bytes(stream_rows((i, "changed") for i in range(50)))
                with Hub.open(settings) as hub:
                    assert hub.apply("moving", changed)["status"] == "succeeded"
            return state

        monkeypatch.setattr(db_export, "snapshot_state", state_then_a_job)
        exported = await download(client, "moving")
        monkeypatch.undo()
        after = await download(client, "moving")
        assert after.content != before.content
        version = int(exported.headers["x-mdhub-version"])
        assert version in (job["version"], job["version"] + 1)
        expected = before if version == job["version"] else after
        assert exported.content == expected.content
        if app.state.dbs.kind == "sqlite":
            assert started == [job["version"], job["version"] + 1]
            assert exported.content == after.content

    serve(settings, body)


def open_transactions(app: FastAPI) -> int:
    """Sessions of this database still in an export's transaction (PostgreSQL), or a reader
    that keeps the dataset file's log from being checkpointed (SQLite)."""
    dbs = app.state.dbs
    if dbs.kind == "postgresql":
        with dbs.data.connect() as conn:
            found = conn.execute(
                text(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                    "AND state <> 'idle' AND query LIKE 'COPY%'"
                )
            )
            return int(found.scalar_one())
    path = data_file_for(Path(str(make_url(app.state.settings.database_url).database)))
    with contextlib.closing(sqlite3.connect(path, timeout=0.2)) as conn:
        busy, _, _ = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
    return int(busy)


@pytest.mark.parametrize("spec", ["2.3", "2.4"])
def test_a_client_that_leaves_mid_stream_ends_the_transaction(
    settings: Settings, spec: str
) -> None:
    async def body(app: FastAPI, client: httpx.AsyncClient, foreign: httpx.AsyncClient) -> None:
        await load_stream_rows(client)
        request = RawRequest(app, client, f"{API}/datasets/big/export?format=csv", spec=spec)
        assert await request.start() == 200
        assert await request.read()
        # A job commits while the export is open (on SQLite it then holds the log unchecked).
        more = stream_rows((i, "again") for i in range(10))
        job = await push(client, "big", more, "more.csv", operation="upsert")
        assert job["status"] == "succeeded", job
        assert await asyncio.to_thread(open_transactions, app) >= 1
        await request.leave()
        deadline = time.monotonic() + JOB_TIMEOUT
        while await asyncio.to_thread(open_transactions, app):
            assert time.monotonic() < deadline, "the export's transaction is still open"
            await asyncio.sleep(POLL_SECONDS)
        assert b"again 5" in (await download(client, "big")).content

    serve(settings, body)
