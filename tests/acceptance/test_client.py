"""`mdhub.Client` against a real server: every format and operation, a server killed during
the upload and after it, 429 and 503 injected by a proxy, and the errors it gives up with."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from mdhub.client import (
    Client,
    JobFailed,
    NetworkError,
    RejectedError,
    RetryPolicy,
    UnavailableError,
)
from tests.acceptance.proxy import Fault, fault_proxy
from tests.acceptance.server import Processes, Server, free_port

SCHEMA = {
    "fields": [
        {"name": "id", "type": "string"},
        {"name": "name", "type": "string"},
        {"name": "qty", "type": "integer"},
    ],
    "primaryKey": ["id"],
}
FAST = RetryPolicy(attempts=6, base=0.05, cap=0.5, deadline=60)


def api_key(server: Server, role: str = "writer") -> str:
    with server.client() as http:
        answer = http.post("/api/v1/api-keys", json={"name": f"client-{role}", "role": role})
        assert answer.status_code == 201, answer.text
        return str(answer.json()["key"])


def stats(job: dict[str, Any]) -> dict[str, int]:
    return {k: v for k, v in job["statistics"].items() if v}


def write_csv(path: Path, rows: int, start: int = 0) -> Path:
    lines = ["id,name,qty"] + [f"k{i:07d},name {i},{i}" for i in range(start, start + rows)]
    path.write_text("\n".join(lines) + "\n")
    return path


def everything(client: Client, dataset: str) -> dict[str, dict[str, Any]]:
    return {r["id"]: r for r in client.find(dataset, page_size=2)}


def test_push_every_format_and_operation(processes: Processes, tmp_path: Path) -> None:
    server = processes.serve()
    with Client(server.url, username="admin", password="acceptance-admin") as admin:
        admin.create_dataset("items", schema=SCHEMA)
        admin.create_dataset("log", schema={"fields": SCHEMA["fields"]})
    with Client(server.url, api_key=api_key(server)) as client:
        first = client.push("items", write_csv(tmp_path / "a.csv", 3))
        assert stats(first) == {"read": 3, "inserted": 3}
        ndjson = tmp_path / "b.ndjson"
        ndjson.write_text(
            json.dumps({"id": "k0000000", "name": "renamed", "qty": 0})
            + "\n"
            + json.dumps({"id": "n1", "name": "new", "qty": 5})
            + "\n"
        )
        assert stats(client.push("items", ndjson)) == {"read": 2, "inserted": 1, "updated": 1}
        array = tmp_path / "c.json"
        array.write_text(json.dumps([{"id": "n1", "name": "new", "qty": 6}]))
        assert stats(client.push("items", array, "update")) == {"read": 1, "updated": 1}
        parquet = tmp_path / "d.parquet"
        pq.write_table(pa.table({"id": ["p1"], "name": ["pq"], "qty": [7]}), parquet)
        assert stats(client.push("items", parquet, "insert")) == {"read": 1, "inserted": 1}
        gone = client.push("items", [{"id": "p1"}, {"id": "k0000002"}], "delete")
        assert stats(gone) == {"read": 2, "deleted": 2}
        dry = client.push("items", [{"id": "z", "name": "z", "qty": 1}], dry_run=True)
        assert dry["dry_run"] and "z" not in everything(client, "items")
        assert sorted(everything(client, "items")) == ["k0000000", "k0000001", "n1"]
        replaced = client.push("items", write_csv(tmp_path / "e.csv", 2, start=1), "overwrite")
        assert stats(replaced) == {"read": 2, "inserted": 1, "unchanged": 1, "deleted": 2}
        assert sorted(everything(client, "items")) == ["k0000001", "k0000002"]
        log = client.push("log", write_csv(tmp_path / "f.csv", 4), "append")
        assert stats(log) == {"read": 4, "inserted": 4}
        queued = client.push("items", [{"id": "q", "name": "q", "qty": 1}], wait=False)
        assert client.wait(queued["id"])["status"] == "succeeded"
        assert client.record("items", "q")["qty"] == 1


def test_a_failed_job_and_a_refused_request_raise(processes: Processes, tmp_path: Path) -> None:
    server = processes.serve()
    with Client(server.url, api_key=api_key(server, "admin")) as client:
        client.create_dataset("items", schema=SCHEMA)
        bad = tmp_path / "bad.csv"
        bad.write_text("id,name,qty\na,x,not-a-number\n")
        with pytest.raises(JobFailed) as failed:
            client.push("items", bad)
        assert failed.value.job["status"] == "failed"
        assert failed.value.job["errors"][0]["column"] == "qty"
        with pytest.raises(RejectedError) as refused:
            client.push("items", bad, "merge")
        assert refused.value.status in (400, 422)
        assert list(client.find("items")) == []


def _restart(processes: Processes, server: Server) -> Server:
    server.kill()
    return processes.serve(wait=False, port=server.port, lease_seconds=2)


def _applied_once(client: Client, dataset: str, rows: int) -> None:
    jobs = [j for j in client.jobs(dataset=dataset) if j["status"] == "succeeded"]
    assert len(jobs) == 1, jobs
    assert jobs[0]["statistics"]["inserted"] == rows
    assert client.dataset(dataset)["row_count"] == rows
    assert client.dataset(dataset)["version"] == 1


def test_a_server_killed_after_the_upload_still_applies_the_job_once(
    processes: Processes, tmp_path: Path
) -> None:
    server = processes.serve(lease_seconds=2)
    key = api_key(server, "admin")
    file = write_csv(tmp_path / "big.csv", 100_000)
    restarted: list[Server] = []

    def kill_once(job: dict[str, Any]) -> None:
        if not restarted:
            restarted.append(_restart(processes, server))

    with Client(server.url, api_key=key, retry=RetryPolicy(base=0.2, cap=2)) as client:
        job = client.push("items", file, keys=["id"], on_job=kill_once)
        assert restarted and job["status"] == "succeeded"
        _applied_once(client, "items", 100_000)


def test_a_server_killed_during_the_upload_gets_it_again_once(
    processes: Processes, tmp_path: Path
) -> None:
    server = processes.serve(lease_seconds=2)
    key = api_key(server, "admin")
    file = write_csv(tmp_path / "big.csv", 200_000)  # several 1 MiB chunks
    restarted: list[Server] = []
    starts: list[int] = []

    def kill_midway(sent: int) -> None:
        if sent <= 1 << 20:
            starts.append(sent)
        if sent > 1 << 20 and not restarted:
            restarted.append(_restart(processes, server))

    with Client(server.url, api_key=key, retry=RetryPolicy(base=0.2, cap=2)) as client:
        job = client.push("items", file, keys=["id"], on_upload=kill_midway)
        assert restarted and job["status"] == "succeeded"
        assert len(starts) >= 2, "the upload was sent again from its start"
        _applied_once(client, "items", 200_000)


def test_429_and_503_are_retried_with_the_same_idempotency_key(
    processes: Processes, tmp_path: Path
) -> None:
    server = processes.serve()
    key = api_key(server, "admin")
    with fault_proxy(server.url) as (proxy, url):
        proxy.faults += [
            Fault("POST", "/api/v1/datasets/items/jobs", 503, times=2),
            Fault("GET", "/api/v1/jobs/", 429, headers={"Retry-After": "1"}),
            Fault("GET", "/api/v1/jobs/", 502),
        ]
        with Client(url, api_key=key, retry=FAST) as client:
            job = client.push("items", write_csv(tmp_path / "a.csv", 10), keys=["id"])
            assert job["status"] == "succeeded"
            posts = [s for s in proxy.seen if s[0] == "POST"]
            assert [s[2] for s in posts] == [503, 503, 202]
            assert len({s[3] for s in posts}) == 1 and posts[0][3]
            polls = [s[2] for s in proxy.seen if s[0] == "GET"]
            assert polls[:2] == [429, 502] and polls[-1] == 200
            assert len(list(client.jobs(dataset="items"))) == 1


def test_gives_up_with_the_servers_error_or_a_network_error(processes: Processes) -> None:
    server = processes.serve()
    key = api_key(server)
    quick = RetryPolicy(attempts=3, base=0.01, cap=0.05, deadline=10)
    with fault_proxy(server.url) as (proxy, url):
        proxy.faults.append(Fault("GET", "/api/v1/datasets", 503, times=100))
        with Client(url, api_key=key, retry=quick) as client, pytest.raises(UnavailableError) as e:
            list(client.datasets())
        assert e.value.status == 503 and e.value.code == "injected"
        assert len(proxy.seen) == 3
    with (
        Client(f"http://127.0.0.1:{free_port()}", api_key=key, retry=quick) as client,
        pytest.raises(NetworkError),
    ):
        client.dataset("items")


def test_a_user_logs_in_and_pages_through_find(processes: Processes, tmp_path: Path) -> None:
    server = processes.serve()
    with Client(server.url, username="admin", password="acceptance-admin") as client:
        client.push("items", write_csv(tmp_path / "a.csv", 25), keys=["id"])
        found = list(client.find("items", {"qty": {"$gte": 5}}, sort={"qty": -1}, page_size=4))
        assert [r["qty"] for r in found] == list(range(24, 4, -1))
        assert len(list(client.find("items", page_size=7))) == 25
