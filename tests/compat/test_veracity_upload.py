"""Uploads to the Veracity layer's Data Lake URLs as Microsoft's clients make them for large
files — chunks appended in parallel, so arriving out of order — and the protocol's edges:
appends in any order, gaps and overlaps at the flush, appends that also flush, the size limit,
and API processes that share the data directory. Effects are checked through mdhub's own API."""

from __future__ import annotations

import hashlib
import time
from typing import Any
from urllib.parse import parse_qs, urlencode, urlparse

import httpx
from azure.storage.filedatalake import DataLakeFileClient

from tests.acceptance.conftest import processes  # noqa: F401
from tests.acceptance.server import Processes, Server
from tests.compat.test_veracity import DEADLINE_SECONDS, hub, rows  # noqa: F401

Hub = tuple[Server, httpx.Client, dict[str, Any]]
CHUNK = 64 * 1024
COLUMNS = ("id", "name", "city", "employees")


def vendors_csv(count: int, *, start: int = 0) -> bytes:
    """A CSV of `count` vendors for the dataset `vendors`."""
    lines = [",".join(COLUMNS)] + [
        f"v{i:06d},Vendor number {i} of the larger upload,City {i % 97},{i}"
        for i in range(start, start + count)
    ]
    return ("\n".join(lines) + "\n").encode()


def csv_rows(data: bytes) -> dict[str, dict[str, Any]]:
    header, *lines = data.decode().splitlines()
    found = {}
    for line in lines:
        row: dict[str, Any] = dict(zip(header.split(","), line.split(","), strict=True))
        row["employees"] = int(row["employees"])
        found[row["id"]] = row
    return found


def stored_rows(api: httpx.Client) -> dict[str, dict[str, Any]]:
    """The dataset's rows through mdhub's export, with the CSV's columns only."""
    return {key: {c: row[c] for c in COLUMNS} for key, row in rows(api, "vendors").items()}


class Job:
    """An ingest job made through the Veracity endpoints, and raw Data Lake requests to its
    upload URL (as Microsoft's clients send them)."""

    def __init__(self, server: Server, key: dict[str, Any], *files: str) -> None:
        self.server = server
        self.headers = {"Authorization": f"Bearer {key['key']}"}
        answer = httpx.put(
            f"{self.api}/ingest/dataset/vendors",
            json={"files": [{"fileName": name, "operation": "Upsert"} for name in files]},
            headers=self.headers,
            timeout=10,
        )
        assert answer.status_code == 200, answer.text
        self.id = answer.json()["jobId"]
        self.sas_uri: str = answer.json()["sasToken"]

    @property
    def api(self) -> str:
        return f"{self.server.url}/compat/veracity/workspaces/default"

    def url(self, name: str, *, via: Server | None = None, **params: str | int) -> str:
        """The file's URL with `params` before the signature, on `via` (another server)."""
        base, _, signature = self.sas_uri.partition("?")
        if via is not None:
            base = urlparse(base)._replace(netloc=urlparse(via.url).netloc).geturl()
        return f"{base}/{name}?{urlencode(params)}&{signature}"

    def create(self, name: str, **where: Server) -> httpx.Response:
        return httpx.put(self.url(name, resource="file", **where), timeout=10)

    def append(
        self, name: str, position: int, data: bytes, *, via: Server | None = None, **params: str
    ) -> httpx.Response:
        url = self.url(name, via=via, action="append", position=position, **params)
        return httpx.patch(url, content=data, timeout=30)

    def flush(self, name: str, position: int, **where: Server) -> httpx.Response:
        return httpx.patch(self.url(name, action="flush", position=position, **where), timeout=30)

    def part(self, api: httpx.Client, name: str) -> dict[str, Any]:
        parts = api.get(f"/api/v1/jobs/{self.id}").json()["parts"]
        found: dict[str, Any] = next(p for p in parts if p["name"] == name)
        return found

    def start_and_wait(self) -> dict[str, Any]:
        """Step 4 and 5 of the document: start, then poll the status until it is final."""
        started = httpx.post(f"{self.api}/ingest/job/{self.id}/start", headers=self.headers)
        assert started.status_code == 200, started.text
        deadline = time.monotonic() + DEADLINE_SECONDS
        while True:
            status: dict[str, Any] = httpx.get(
                f"{self.api}/ingest/job/{self.id}/status", headers=self.headers
            ).json()
            if status["status"] not in ("Created", "Running"):
                return status
            assert time.monotonic() < deadline, f"job {self.id} still {status['status']}"
            time.sleep(0.1)


def pieces(data: bytes, size: int) -> list[tuple[int, bytes]]:
    return [(at, data[at : at + size]) for at in range(0, len(data), size)]


def test_microsofts_client_uploads_a_large_file_in_parallel_chunks(
    hub: Hub,  # noqa: F811
    processes: Processes,  # noqa: F811
) -> None:
    server, api, key = hub
    data = vendors_csv(12_000)
    assert len(data) > 8 * CHUNK
    job = Job(server, key, "Vendors.csv")
    url = urlparse(job.sas_uri)
    folder = url.path.strip("/").split("/")
    appended: list[int] = []

    def record(response: Any) -> None:
        query = parse_qs(urlparse(response.http_request.url).query)
        if query.get("action") == ["append"]:
            appended.append(int(query["position"][0]))

    with DataLakeFileClient(
        account_url=f"{url.scheme}://{url.netloc}",
        file_system_name=folder[0],
        file_path="/".join([*folder[1:], "Vendors.csv"]),
        credential=url.query,
    ) as client:
        client.upload_data(
            data,
            overwrite=True,
            chunk_size=CHUNK,
            max_concurrency=4,
            raw_response_hook=record,
        )
    # The client sent one append per chunk, four at a time.
    assert sorted(appended) == [at for at, _ in pieces(data, CHUNK)]
    part = job.part(api, "Vendors.csv")
    assert part["bytes"] == len(data)
    assert part["checksum"] == f"sha256:{hashlib.sha256(data).hexdigest()}"
    # Committed: nothing of it stays staged.
    assert list((processes.data_dir / "compat-veracity").iterdir()) == []

    status = job.start_and_wait()
    assert status["status"] == "Completed", status
    assert stored_rows(api) == csv_rows(data)


def test_appends_in_any_order_gaps_overlaps_and_append_with_flush(hub: Hub) -> None:  # noqa: F811
    server, api, key = hub
    name = "Vendors.csv"
    job = Job(server, key, name)
    data = vendors_csv(300)
    chunks = pieces(data, 1000)
    assert len(chunks) > 3

    # Appends sent last first, and a stray piece past the end: the flush commits [0, end)
    # and discards the rest, as Data Lake does.
    assert job.create(name).status_code == 201
    assert job.append(name, len(data) + 500, b"not,part,of,it\n").status_code == 202
    for at, chunk in reversed(chunks):
        assert job.append(name, at, chunk).status_code == 202
    flushed = job.flush(name, len(data))
    assert flushed.status_code == 200, flushed.text
    committed = job.part(api, name)
    assert committed["checksum"] == f"sha256:{hashlib.sha256(data).hexdigest()}"

    # A create empties the file; a gap or an overlap refuses the flush and keeps the part.
    assert job.create(name).status_code == 201
    assert job.flush(name, len(data)).headers["x-ms-error-code"] == "InvalidFlushPosition"
    other = vendors_csv(300, start=1000)
    for at, chunk in pieces(other, 1000)[::2]:
        assert job.append(name, at, chunk).status_code == 202
    gap = job.flush(name, len(other))
    assert gap.status_code == 400, gap.text
    assert gap.headers["x-ms-error-code"] == "InvalidFlushPosition"
    assert gap.json()["error"]["code"] == "InvalidFlushPosition"
    assert job.create(name).status_code == 201
    assert job.append(name, 0, other[:1500]).status_code == 202
    assert job.append(name, 1000, other[1000:]).status_code == 202
    overlap = job.flush(name, len(other))
    assert (overlap.status_code, overlap.headers["x-ms-error-code"]) == (
        400,
        "InvalidFlushPosition",
    )
    # Short of the data appended (the flush would cut a piece) is refused too.
    assert job.flush(name, 700).headers["x-ms-error-code"] == "InvalidFlushPosition"
    assert job.part(api, name) == committed

    # `flush=true` on an append commits what it appended: here the whole file in one.
    assert job.create(name).status_code == 201
    single = job.append(name, 0, other, flush="true")
    assert single.status_code == 202, single.text
    assert job.part(api, name)["checksum"] == f"sha256:{hashlib.sha256(other).hexdigest()}"
    # Committed: the staged file is gone, and it must be created again to be written.
    assert job.append(name, 0, other).headers["x-ms-error-code"] == "PathNotFound"

    status = job.start_and_wait()
    assert status["status"] == "Completed", status
    assert stored_rows(api) == csv_rows(other)


def test_api_processes_sharing_the_data_dir_take_pieces_of_one_file(
    hub: Hub,  # noqa: F811
    processes: Processes,  # noqa: F811
) -> None:
    first, api, key = hub
    second = processes.serve()
    name = "Vendors.csv"
    job = Job(first, key, name)
    data = vendors_csv(200)
    chunks = pieces(data, 900)

    assert job.create(name, via=second).status_code == 201
    for index, (at, chunk) in reversed(list(enumerate(chunks))):
        assert job.append(name, at, chunk, via=(first, second)[index % 2]).status_code == 202
    assert job.flush(name, len(data), via=first).status_code == 200
    assert job.start_and_wait()["status"] == "Completed"
    assert stored_rows(api) == csv_rows(data)


def test_the_upload_limit_applies_to_the_end_of_every_append(
    hub: Hub,  # noqa: F811
    processes: Processes,  # noqa: F811
) -> None:
    _, api, key = hub
    limited = processes.serve(max_upload_bytes=5000)
    name = "Vendors.csv"
    job = Job(limited, key, name)
    assert job.create(name).status_code == 201
    for position, size in ((4000, 1001), (5001, 1), (0, 5000 + CHUNK)):
        refused = job.append(name, position, b"x" * size)
        assert refused.status_code == 413, (position, size, refused.text)
        # A body over the limit on its own is refused before it is read, in mdhub's shape.
        assert size > 5000 or refused.headers["x-ms-error-code"] == "RequestBodyTooLarge"
    data = vendors_csv(200)[:5000]
    assert job.append(name, 4000, data[4000:]).status_code == 202
    assert job.append(name, 0, data[:4000]).status_code == 202
    assert job.flush(name, 5000).status_code == 200
    assert job.part(api, name)["bytes"] == 5000
