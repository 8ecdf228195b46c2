"""mdhub as it is deployed: real `mdhub serve` and `mdhub worker` processes, driven over HTTP.

A worker killed mid-merge (invariants 1 and 2), workers racing over one queue and concurrent
submissions (invariant 6), one Idempotency-Key sent many times at once (invariant 3), and a
server that keeps answering while a long merge runs (invariant 6).
"""

from __future__ import annotations

import asyncio
import hashlib
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, select

from mdhub.db.dialect import quote
from mdhub.db.engine import open_databases
from mdhub.db.tables import versions
from tests.acceptance.server import MdhubProcess, Processes, Server
from tests.helpers import vendor, write_csv

JOB_SECONDS = 120.0
POLL_SECONDS = 0.05
LOG_POLL_SECONDS = 0.01
FINAL = ("succeeded", "failed", "cancelled")
ROWS = 200_000
NEW_ROWS = 1_000
LEASE_SECONDS = 2
COUNTER_SCHEMA: dict[str, Any] = {
    "fields": [{"name": "id", "type": "string"}, {"name": "value", "type": "integer"}],
    "primaryKey": ["id"],
}

postgresql_only = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
sqlite_only = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


# --- helpers -------------------------------------------------------------------------------


def submit(client: httpx.Client, dataset: str, path: Path, **fields: str) -> dict[str, Any]:
    """Upload a file as a multipart job; the answer must be 202."""
    with path.open("rb") as handle:
        answer = client.post(
            f"/api/v1/datasets/{dataset}/jobs",
            files={"file": (path.name, handle, "text/csv")},
            data=fields,
        )
    assert answer.status_code == 202, answer.text
    return answer.json()  # type: ignore[no-any-return]


def wait_for_job(client: httpx.Client, job_id: int, timeout: float = JOB_SECONDS) -> dict[str, Any]:
    """Poll the job until it ends (fail at the deadline)."""
    deadline = time.monotonic() + timeout
    while True:
        job: dict[str, Any] = client.get(f"/api/v1/jobs/{job_id}").json()
        if job["status"] in FINAL:
            return job
        if time.monotonic() > deadline:
            pytest.fail(f"job {job_id} did not end within {timeout} s: {job}")
        time.sleep(POLL_SECONDS)


def log_lines(client: httpx.Client, job_id: int) -> list[str]:
    """The job's log messages so far (a job logs a few lines: one page holds them)."""
    page = client.get(f"/api/v1/jobs/{job_id}/log", params={"limit": 1000}).json()
    return [line["message"] for line in page["results"]]


def wait_for_log(
    client: httpx.Client, job_id: int, text: str, timeout: float = JOB_SECONDS
) -> list[str]:
    """Poll the job's log until a line contains `text`; returns the lines read then."""
    deadline = time.monotonic() + timeout
    while True:
        lines = log_lines(client, job_id)
        if any(text in line for line in lines):
            return lines
        if time.monotonic() > deadline:
            pytest.fail(f"job {job_id} logged no {text!r} within {timeout} s: {lines}")
        time.sleep(LOG_POLL_SECONDS)


def load(client: httpx.Client, dataset: str, path: Path) -> dict[str, Any]:
    """Create a dataset keyed on `id` from a file and wait until it is loaded."""
    job = wait_for_job(client, submit(client, dataset, path, keys="id")["id"])
    assert job["status"] == "succeeded", job
    return job


def create_counter_datasets(client: httpx.Client, names: list[str]) -> None:
    for name in names:
        answer = client.post(
            "/api/v1/datasets", json={"name": name, "schema": COUNTER_SCHEMA, "keys": ["id"]}
        )
        assert answer.status_code == 201, answer.text


def counter_file(directory: Path, sequence: int) -> Path:
    """A small upsert: the shared `counter` row set to `sequence`, and a row of its own."""
    return write_csv(
        directory / f"job-{sequence}.csv",
        [["counter", sequence], [f"row-{sequence}", sequence]],
        header=["id", "value"],
    )


def snapshots(directory: Path) -> tuple[Path, Path]:
    """A ROWS-row vendors file, and its next snapshot: every row changed, NEW_ROWS new."""
    first = write_csv(directory / "vendors-1.csv", [vendor(i) for i in range(ROWS)])
    second = write_csv(
        directory / "vendors-2.csv", [vendor(i, amount=11.5) for i in range(ROWS + NEW_ROWS)]
    )
    return first, second


@contextmanager
def data_engine(database_url: str) -> Iterator[Engine]:
    """The dataset store, read directly (not through the server)."""
    dbs = open_databases(database_url)
    try:
        yield dbs.data
    finally:
        dbs.dispose()


def table_checksum(database_url: str, table: str) -> tuple[int, str]:
    """Row count and a digest of a dataset table's contents, in key order."""
    digest = hashlib.sha256()
    count = 0
    with data_engine(database_url) as engine, engine.connect() as conn:
        result = conn.exec_driver_sql(f"SELECT * FROM {quote(table)} ORDER BY {quote('id')}")
        for row in result:
            digest.update(repr(tuple(row)).encode())
            count += 1
    return count, digest.hexdigest()


def version_rows(database_url: str) -> list[Any]:
    """Every row of the `versions` table: (dataset_id, version, job_id)."""
    with data_engine(database_url) as engine, engine.connect() as conn:
        return list(
            conn.execute(select(versions.c.dataset_id, versions.c.version, versions.c.job_id))
        )


def counter_value(database_url: str, table: str) -> int:
    with data_engine(database_url) as engine, engine.connect() as conn:
        value = conn.exec_driver_sql(
            f"SELECT {quote('value')} FROM {quote(table)} WHERE {quote('id')} = 'counter'"
        ).scalar_one()
    return int(value)


def wait_for_all(
    client: httpx.Client, job_ids: list[int], timeout: float = JOB_SECONDS
) -> dict[int, dict[str, Any]]:
    """Poll the job list until every job in `job_ids` has ended; returns them by id."""
    deadline = time.monotonic() + timeout
    while True:
        listed = client.get("/api/v1/jobs", params={"limit": 1000}).json()["results"]
        found = {job["id"]: job for job in listed if job["id"] in job_ids}
        pending = [i for i in job_ids if found.get(i, {}).get("status") not in FINAL]
        if not pending:
            return found
        if time.monotonic() > deadline:
            pytest.fail(f"{len(pending)} jobs did not end within {timeout} s: {pending[:10]}")
        time.sleep(0.2)


def assert_versions_follow_job_ids(jobs: list[dict[str, Any]]) -> None:
    """Per dataset, the jobs' versions are 1, 2, 3… in job-id (acceptance) order."""
    by_dataset: dict[str, list[dict[str, Any]]] = {}
    for job in jobs:
        by_dataset.setdefault(job["parts"][0]["dataset"], []).append(job)
    for dataset, found in by_dataset.items():
        in_order = [job["version"] for job in sorted(found, key=lambda job: job["id"])]
        assert in_order == list(range(1, len(found) + 1)), dataset


# --- invariants 1 and 2: a crash mid-merge loses nothing and applies once ------------------


@pytest.mark.slow
def test_a_job_killed_mid_merge_is_taken_up_again_and_applied_once(
    processes: Processes, database_url: str, tmp_path: Path
) -> None:
    first, second = snapshots(tmp_path)
    separate_worker = database_url.startswith("postgresql")
    runner: MdhubProcess
    if separate_worker:
        server = processes.serve(workers=0, lease_seconds=LEASE_SECONDS)
        runner = processes.worker(lease_seconds=LEASE_SECONDS)
    else:
        server = runner = processes.serve(workers=1, lease_seconds=LEASE_SECONDS)
    with server.client() as client:
        load(client, "vendors", first)
        before = client.get("/api/v1/datasets/vendors").json()
        contents = table_checksum(database_url, before["table"])
        assert contents[0] == ROWS
        job_id = submit(client, "vendors", second)["id"]
        lines = wait_for_log(client, job_id, "merging")
        runner.kill()
    assert not any("merged in" in line for line in lines), lines

    if not separate_worker:  # a server without workers, to look without taking the job up
        server = processes.serve(workers=0)
    with server.client() as client:
        after = client.get("/api/v1/datasets/vendors").json()
        assert (after["row_count"], after["version"]) == (ROWS, before["version"])
        assert table_checksum(database_url, before["table"]) == contents
        assert client.get(f"/api/v1/jobs/{job_id}").json()["status"] == "running"

    if separate_worker:
        processes.worker(lease_seconds=LEASE_SECONDS)
    else:
        server.stop()
        server = processes.serve(workers=1, lease_seconds=LEASE_SECONDS)
    with server.client() as client:
        job = wait_for_job(client, job_id)
        assert job["status"] == "succeeded", job
        assert job["attempt"] == 2
        assert job["statistics"]["updated"] == ROWS
        assert job["statistics"]["inserted"] == NEW_ROWS
        assert job["version"] == before["version"] + 1
        dataset = client.get("/api/v1/datasets/vendors").json()
        assert (dataset["row_count"], dataset["version"]) == (ROWS + NEW_ROWS, job["version"])
    assert [r.job_id for r in version_rows(database_url)].count(job_id) == 1
    assert table_checksum(database_url, before["table"])[0] == ROWS + NEW_ROWS


# --- invariant 6: competing workers, concurrent submissions ---------------------------------


@pytest.mark.slow
@postgresql_only
def test_two_workers_race_over_one_queue(
    processes: Processes, database_url: str, tmp_path: Path
) -> None:
    server = processes.serve(workers=0)
    workers = [processes.worker(wait=False) for _ in range(2)]
    for worker in workers:
        worker.wait_for_log("worker started")
    names = ["alpha", "beta", "gamma"]
    with server.client() as client:
        create_counter_datasets(client, names)
        job_ids = [submit(client, names[i % 3], counter_file(tmp_path, i))["id"] for i in range(30)]
        jobs = wait_for_all(client, job_ids)
    assert [jobs[i]["status"] for i in job_ids] == ["succeeded"] * 30
    assert sorted(r.job_id for r in version_rows(database_url)) == sorted(job_ids)
    assert_versions_follow_job_ids(list(jobs.values()))
    for worker in workers:
        assert "claimed" in worker.log_text(), f"{worker.name} ran no job"


async def _submit_concurrently(
    server: Server, files: list[tuple[str, Path]], at_once: int
) -> list[httpx.Response]:
    limits = httpx.Limits(max_connections=at_once)
    async with httpx.AsyncClient(
        base_url=server.url, timeout=60, limits=limits, headers=server.headers()
    ) as client:
        gate = asyncio.Semaphore(at_once)

        async def one(dataset: str, path: Path) -> httpx.Response:
            async with gate:
                return await client.post(
                    f"/api/v1/datasets/{dataset}/jobs",
                    files={"file": (path.name, path.read_bytes(), "text/csv")},
                )

        return await asyncio.gather(*(one(dataset, path) for dataset, path in files))


@pytest.mark.slow
def test_concurrent_submissions_apply_in_acceptance_order(
    processes: Processes, database_url: str, tmp_path: Path
) -> None:
    server = processes.serve(workers=2)
    names = [f"counter-{i}" for i in range(4)]
    with server.client() as client:
        create_counter_datasets(client, names)
    files = [(names[i % 4], counter_file(tmp_path, i)) for i in range(200)]
    answers = asyncio.run(_submit_concurrently(server, files, at_once=16))
    assert [a.status_code for a in answers] == [202] * 200, [a.text for a in answers[:3]]
    sequence_of = {a.json()["id"]: i for i, a in enumerate(answers)}
    with server.client() as client:
        jobs = wait_for_all(client, list(sequence_of))
        tables = {name: client.get(f"/api/v1/datasets/{name}").json()["table"] for name in names}
    assert [job["status"] for job in jobs.values()] == ["succeeded"] * 200
    assert_versions_follow_job_ids(list(jobs.values()))
    for name in names:
        last = max(
            (job for job in jobs.values() if job["parts"][0]["dataset"] == name),
            key=lambda job: job["version"],
        )
        assert counter_value(database_url, tables[name]) == sequence_of[last["id"]], name
        assert table_checksum(database_url, tables[name])[0] == 1 + 50


# --- invariant 3: one Idempotency-Key, many identical requests at once ----------------------


def send_with_key(client: httpx.Client, path: Path, key: str) -> httpx.Response:
    return client.post(
        "/api/v1/datasets/counter/jobs",
        files={"file": (path.name, path.read_bytes(), "text/csv")},
        headers={"Idempotency-Key": key},
    )


def test_one_idempotency_key_sent_ten_times_at_once_creates_one_job(
    processes: Processes, tmp_path: Path
) -> None:
    server = processes.serve(workers=1)
    path = counter_file(tmp_path, 1)
    key = "nightly-2024-01-15"
    start = threading.Barrier(10)

    def send_together(client: httpx.Client) -> httpx.Response:
        start.wait(timeout=30)
        return send_with_key(client, path, key)

    with server.client() as client:
        create_counter_datasets(client, ["counter"])
        with ThreadPoolExecutor(10) as pool:
            answers = list(pool.map(lambda _: send_together(client), range(10)))
        accepted = {a.json()["id"] for a in answers if a.status_code == 202}
        assert len(accepted) == 1, [a.text for a in answers]
        job_id = accepted.pop()
        for answer in answers:
            if answer.status_code != 202:
                assert answer.status_code == 409, answer.text
                assert answer.json()["error"]["code"] == "idempotency_in_flight"
        listed = client.get("/api/v1/jobs").json()["results"]
        assert [job["id"] for job in listed] == [job_id]

        again = send_with_key(client, path, key)
        assert (again.status_code, again.json()["id"]) == (202, job_id)
        assert wait_for_job(client, job_id)["status"] == "succeeded"
        assert send_with_key(client, path, key).json()["id"] == job_id
        assert client.get("/api/v1/jobs").json()["results"][0]["id"] == job_id
        assert client.get("/api/v1/datasets/counter").json()["version"] == 1


# --- invariant 6: a long job blocks neither submissions nor reads ---------------------------


@pytest.mark.slow
@sqlite_only
def test_submissions_and_reads_answer_during_a_long_merge(
    processes: Processes, tmp_path: Path
) -> None:
    first, second = snapshots(tmp_path)
    small = counter_file(tmp_path, 1)
    server = processes.serve(workers=1)
    with server.client() as client:
        load(client, "vendors", first)
        create_counter_datasets(client, ["counter"])
        long_job = submit(client, "vendors", second)["id"]
        lines = wait_for_log(client, long_job, "merging")
        assert not any("merged in" in line for line in lines), lines

        started = time.monotonic()
        small_job = submit(client, "counter", small)
        submitted = time.monotonic() - started
        started = time.monotonic()
        listed = client.get("/api/v1/datasets")
        read = time.monotonic() - started
        merge_done = any("merged in" in line for line in log_lines(client, long_job))

        assert listed.status_code == 200
        assert submitted < 2.0 and read < 2.0, (submitted, read)
        assert not merge_done, "the merge ended before the requests were answered"
        assert wait_for_job(client, long_job)["status"] == "succeeded"
        assert wait_for_job(client, small_job["id"])["status"] == "succeeded"


# --- bad requests are 400s on both databases, never 500s -----------------------------------


def test_out_of_range_ids_and_nul_characters_are_refused_with_400(
    processes: Processes, tmp_path: Path
) -> None:
    server = processes.serve(workers=0)
    with server.client() as client:
        create_counter_datasets(client, ["counter"])
        for url in (
            f"/api/v1/jobs/{2**64}",
            f"/api/v1/jobs/{2**64}/log",
            f"/api/v1/jobs?cursor={2**64}",
            "/api/v1/jobs?dataset=a%00b",
            "/api/v1/datasets?cursor=%00",
            "/api/v1/datasets/a%00b",
        ):
            answer = client.get(url)
            assert answer.status_code == 400, (url, answer.text)
            assert answer.json()["error"]["code"] == "invalid_request"
        path = counter_file(tmp_path, 1)
        answer = client.post(
            "/api/v1/datasets/counter/jobs",
            files={"file": (path.name, path.read_bytes(), "text/csv")},
            data={"encoding": "utf\x00-8"},
        )
        assert answer.status_code == 400, answer.text
        assert client.get("/api/v1/jobs").json()["results"] == []


@sqlite_only
def test_a_405_lists_every_method_of_the_path(processes: Processes) -> None:
    server = processes.serve(workers=0)
    with server.client() as client:
        for method, url, allowed in (
            ("PUT", "/api/v1/datasets/anything", "DELETE, GET, PATCH"),
            ("DELETE", "/api/v1/jobs", "GET, POST"),
        ):
            answer = client.request(method, url)
            assert answer.status_code == 405
            assert answer.headers["Allow"] == allowed
            assert answer.json()["error"]["code"] == "method_not_allowed"


def test_the_access_log_has_a_line_per_request_unless_turned_off(processes: Processes) -> None:
    for setting, logged in (({}, True), ({"access_log": "false"}, False)):
        server = processes.serve(workers=0, **setting)
        path = f"/api/v1/datasets/access-log-{int(logged)}"
        with server.client() as client:
            assert client.get(path).status_code == 404
        server.stop()  # every line written
        log = server.log_text()
        assert "Application shutdown complete" in log
        assert (path in log) is logged, log[-2000:]
