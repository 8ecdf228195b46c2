"""`mdhub serve` with several processes (MDHUB_PROCESSES): they share the port, the database is
set up once before they start, jobs and reads work through any of them, and `/metrics` sums
the requests of all of them whichever process answers the scrape."""

from __future__ import annotations

import re
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from prometheus_client.multiprocess import MultiProcessCollector

from tests.acceptance.server import Processes
from tests.acceptance.test_server import submit, wait_for_job
from tests.helpers import HEADER, VENDORS_SCHEMA, vendor, write_csv

PROCESSES = 2
SPREAD_SECONDS = 60.0
BATCH = 16
READYZ_SERIES = re.compile(r'^mdhub_http_requests_total\{[^}]*route="/readyz"[^}]*\} (\S+)$', re.M)


def serving_children(pid: int) -> list[int]:
    """The server processes uvicorn started under `pid` (its other children are helpers)."""
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [
        int(child)
        for child in children
        if b"spawn_main" in Path(f"/proc/{child}/cmdline").read_bytes()
    ]


def environment_of(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    pairs = (item.decode().partition("=") for item in raw if item)
    return {name: value for name, _, value in pairs}


def readyz_answers(url: str) -> float:
    """`/readyz` requests counted by `/metrics`, summed over their series."""
    text = httpx.get(f"{url}/metrics", timeout=30).text
    return sum(float(value) for value in READYZ_SERIES.findall(text))


def readyz_by_process(metrics_dir: Path, pids: list[int]) -> dict[int, float]:
    """`/readyz` requests each process has counted, read from its own file."""
    counts = {}
    for pid in pids:
        path = metrics_dir / f"counter_{pid}.db"
        found = MultiProcessCollector.merge([str(path)]) if path.exists() else []
        counts[pid] = sum(
            sample.value
            for metric in found
            for sample in metric.samples
            if sample.name == "mdhub_http_requests_total" and sample.labels["route"] == "/readyz"
        )
    return counts


def readyz_on_fresh_connections(url: str, count: int) -> None:
    """`count` requests, each on a connection of its own, so that any process may take it."""

    def one(_: int) -> None:
        assert httpx.get(f"{url}/readyz", timeout=30).status_code == 200

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(one, range(count)))


def test_processes_share_the_port_the_database_and_the_metrics(
    processes: Processes, tmp_path: Path
) -> None:
    server = processes.serve(processes=PROCESSES, admin_password="")

    # The first admin was created once, before the processes started, and its password works.
    created = re.findall(r"created user 'admin' with password (\S+) ", server.log_text())
    assert len(created) == 1, server.log_text()
    token = server.login(password=created[0])
    children = serving_children(server.pid)
    assert len(children) == PROCESSES

    # A job runs and its rows are read back, through whichever processes answer.
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=server.url, headers=headers, timeout=30) as client:
        answer = client.post(
            "/api/v1/datasets", json={"name": "vendors", "schema": VENDORS_SCHEMA, "keys": ["id"]}
        )
        assert answer.status_code == 201, answer.text
        rows = [vendor(i) for i in range(1, 51)]
        job = submit(client, "vendors", write_csv(tmp_path / "vendors.csv", rows, HEADER))
        assert wait_for_job(client, job["id"])["status"] == "succeeded"
    for i in (1, 25, 50):
        with httpx.Client(base_url=server.url, headers=headers, timeout=30) as fresh:
            assert fresh.get(f"/api/v1/datasets/vendors/records/V{i:04d}").json()["qty"] == 1

    # Requests on fresh connections until each process has answered some of them; the scrape
    # counts them all, whichever process answers it.
    metrics_dir = Path(environment_of(children[0])["PROMETHEUS_MULTIPROC_DIR"])
    scraped_before = readyz_answers(server.url)
    counted_before = readyz_by_process(metrics_dir, children)
    sent = 0
    deadline = time.monotonic() + SPREAD_SECONDS
    while True:
        readyz_on_fresh_connections(server.url, BATCH)
        sent += BATCH
        counted = readyz_by_process(metrics_dir, children)
        if all(counted[pid] > counted_before[pid] for pid in children):
            break
        if time.monotonic() > deadline:
            pytest.fail(f"not every process answered within {SPREAD_SECONDS} s: {counted}")
    assert sum(counted.values()) - sum(counted_before.values()) == sent
    assert readyz_answers(server.url) - scraped_before == sent

    server.stop()
    assert server.popen.returncode == 0
    assert not metrics_dir.exists()
