"""The local copy `mdhub sync` keeps: downloaded whole once, then changed only by what changed,
and always either the old copy or the new one — on a server stand-in that answers like
`/export` and `/changes` (docs/sync.md); and the two client calls it is built on."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, cast

import httpx
import pytest

from mdhub.client import Client
from mdhub.client.errors import GoneError, NetworkError, NotFoundError
from mdhub.client.sync import copy_path, state_path, sync_copy

SCHEMA = {"fields": [{"name": "id", "type": "string"}, {"name": "qty", "type": "integer"}]}


class Server:
    """What `sync_copy` uses of a Client, on records in a dict with a version and a change log."""

    url = "http://hub.test"

    def __init__(self, *, keys: tuple[str, ...] = ("id",)) -> None:
        self.keys = list(keys)
        self.schema: dict[str, Any] = SCHEMA
        self.records: dict[str, dict[str, Any]] = {}
        self.version = 0
        self.log: list[tuple[int, str]] = []
        self.oldest_since = 0
        self.exports = 0
        self.cut_after: int | None = None

    def commit(self, *upserts: tuple[str, int], deletes: tuple[str, ...] = ()) -> None:
        self.version += 1
        for key, qty in upserts:
            self.records[key] = {"id": key, "qty": qty}
            self.log.append((self.version, key))
        for key in deletes:
            del self.records[key]
            self.log.append((self.version, key))

    def dataset(self, name: str) -> dict[str, Any]:
        return {"name": name, "keys": self.keys, "schema": self.schema, "version": self.version}

    def export(self, dataset: str, path: Path, format: str) -> int:
        assert format == "ndjson"
        self.exports += 1
        path.write_text("".join(json.dumps(r) + "\n" for _, r in sorted(self.records.items())))
        return self.version

    @contextmanager
    def changes(self, dataset: str, since: int) -> Iterator[Iterator[dict[str, Any]]]:
        if since < self.oldest_since:
            raise GoneError(410, "gone", f"version {self.oldest_since} was a full load", {})
        yield self._lines(since)

    def _lines(self, since: int) -> Iterator[dict[str, Any]]:
        latest = {key: version for version, key in self.log if version > since}
        for count, (key, version) in enumerate(sorted(latest.items(), key=lambda kv: kv[1])):
            if count == self.cut_after:
                raise NetworkError("the changes stream was cut short")
            record = self.records.get(key)
            op = "upsert" if record else "delete"
            yield {"op": op, "version": version, "key": {"id": key}, "record": record}
        yield {"op": "end", "version": self.version, "count": len(latest)}


def sync(server: Server, directory: Path, *, full: bool = False) -> Any:
    return sync_copy(cast(Client, server), "items", directory, full=full)


def copy_of(directory: Path) -> dict[str, dict[str, Any]]:
    lines = copy_path(directory, "items").read_text().splitlines()
    return {record["id"]: record for record in map(json.loads, lines)}


@pytest.fixture
def server() -> Server:
    hub = Server()
    hub.commit(("a", 1), ("b", 2), ("c", 3))
    return hub


def test_the_first_sync_downloads_then_only_changes_are_applied(
    server: Server, tmp_path: Path
) -> None:
    first = sync(server, tmp_path)
    assert (first.full, first.version, first.rows) == ("no copy yet", 1, 3)
    assert copy_of(tmp_path) == server.records

    server.commit(("b", 20), ("d", 4), deletes=("a",))
    server.commit(("d", 40))
    second = sync(server, tmp_path)
    assert (second.full, second.version, second.rows) == (None, 3, 3)
    assert (second.upserted, second.deleted) == (2, 1)
    assert copy_of(tmp_path) == server.records
    assert server.exports == 1
    assert json.loads(state_path(tmp_path, "items").read_text())["version"] == 3

    unchanged = sync(server, tmp_path)
    assert (unchanged.upserted, unchanged.deleted, unchanged.rows) == (0, 0, 3)
    assert server.exports == 1


def test_changes_no_longer_known_download_the_dataset_again(server: Server, tmp_path: Path) -> None:
    sync(server, tmp_path)
    server.commit(deletes=("a", "b", "c"))
    server.commit(("z", 26))
    server.oldest_since = 3
    again = sync(server, tmp_path)
    assert again.full is not None and "no longer known" in again.full
    assert copy_of(tmp_path) == {"z": {"id": "z", "qty": 26}}
    assert server.exports == 2


def test_a_stream_cut_short_leaves_the_copy_and_its_state(server: Server, tmp_path: Path) -> None:
    sync(server, tmp_path)
    before = copy_path(tmp_path, "items").read_bytes(), state_path(tmp_path, "items").read_bytes()
    server.commit(("a", 10), ("b", 20))
    server.cut_after = 1
    with pytest.raises(NetworkError):
        sync(server, tmp_path)
    after = copy_path(tmp_path, "items").read_bytes(), state_path(tmp_path, "items").read_bytes()
    assert after == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["items.ndjson", "items.sync.json"]
    server.cut_after = None
    assert sync(server, tmp_path).upserted == 2
    assert copy_of(tmp_path) == server.records


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ("schema", "keys or schema changed"),
        ("damaged", "cannot be read"),
        ("full", "asked for"),
    ],
)
def test_the_copy_is_downloaded_whole_when_changes_would_not_do(
    server: Server, tmp_path: Path, change: str, reason: str
) -> None:
    sync(server, tmp_path)
    server.commit(("a", 10))
    if change == "schema":
        server.schema = {"fields": [*SCHEMA["fields"], {"name": "note", "type": "string"}]}
    elif change == "damaged":
        copy_path(tmp_path, "items").write_text('{"id": "a", "qty": 1}\nnot json\n')
    again = sync(server, tmp_path, full=change == "full")
    assert again.full is not None and reason in again.full
    assert copy_of(tmp_path) == server.records
    assert server.exports == 2


def test_a_dataset_without_keys_is_downloaded_whole_every_time(tmp_path: Path) -> None:
    server = Server(keys=())
    server.commit(("a", 1))
    sync(server, tmp_path)
    assert "no keys" in sync(server, tmp_path).full
    assert server.exports == 2


def http_client(handler: Any) -> Client:
    return Client("http://hub.test", api_key="k", transport=httpx.MockTransport(handler))


def test_export_writes_the_decoded_file_and_returns_its_version(tmp_path: Path) -> None:
    body = b'{"id":"a","qty":1}\n'

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/missing/export"):
            return httpx.Response(404, json={"error": {"code": "not_found", "message": "m"}})
        assert "gzip" in request.headers["Accept-Encoding"]
        headers = {"Content-Encoding": "gzip", "X-Mdhub-Version": "7"}
        return httpx.Response(200, content=gzip.compress(body), headers=headers)

    with http_client(handler) as client:
        assert client.export("items", tmp_path / "items.ndjson", "ndjson") == 7
        with pytest.raises(NotFoundError):
            client.export("missing", tmp_path / "missing.ndjson", "ndjson")
    assert (tmp_path / "items.ndjson").read_bytes() == body
    assert sorted(p.name for p in tmp_path.iterdir()) == ["items.ndjson"]


def test_changes_raise_gone_and_a_stream_without_its_end_line(tmp_path: Path) -> None:
    upsert = {"op": "upsert", "version": 2, "key": {"id": "a"}, "record": {"id": "a"}}
    end = {"op": "end", "version": 2, "count": 1}

    def handler(request: httpx.Request) -> httpx.Response:
        since = int(request.url.params["since"])
        if since == 0:
            return httpx.Response(410, json={"error": {"code": "gone", "message": "full load"}})
        lines = [upsert, end] if since == 1 else [upsert]
        return httpx.Response(200, content="".join(json.dumps(x) + "\n" for x in lines))

    with http_client(handler) as client:
        with pytest.raises(GoneError, match="full load"), client.changes("items", 0):
            pass
        with client.changes("items", 1) as changes:
            assert list(changes) == [upsert, end]
        with client.changes("items", 2) as changes, pytest.raises(NetworkError, match="short"):
            list(changes)
