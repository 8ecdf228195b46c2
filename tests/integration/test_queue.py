"""The job queue and its workers on both databases: order per dataset, leases, fencing, and
two worker pools racing over one queue."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from mdhub.db.engine import open_databases
from mdhub.db.tables import versions
from mdhub.errors import JobCancelled, LeaseLost
from mdhub.services import jobs
from mdhub.services.hub import Hub
from mdhub.worker import queue, runner
from mdhub.worker.pool import WorkerOptions, WorkerPool
from mdhub.worker.queue import Claim
from mdhub.worker.runner import LOCAL_FILE, run_claimed
from tests.helpers import VENDORS_SCHEMA, table_rows, vendor, write_csv

DEADLINE_SECONDS = 60.0


def claim_after_expiry(hub: Hub, owner: str, job_id: int) -> Claim:
    """Claim `job_id` as soon as its current lease has expired."""
    deadline = time.monotonic() + DEADLINE_SECONDS
    while time.monotonic() < deadline:
        held = queue.claim(hub.dbs, owner, only=job_id)
        if held is not None:
            return held
        time.sleep(0.01)
    pytest.fail(f"job {job_id} could not be claimed again within {DEADLINE_SECONDS} s")


def job_versions(hub: Hub, job_id: int) -> list[tuple[int, int]]:
    """(dataset id, version) rows the job left in the versions table."""
    with hub.dbs.data.connect() as conn:
        rows = conn.execute(
            select(versions.c.dataset_id, versions.c.version).where(versions.c.job_id == job_id)
        ).all()
    return sorted((int(d), int(v)) for d, v in rows)


@pytest.fixture
def loaded(hub: Hub, tmp_path: Path) -> Hub:
    """Datasets `a` and `b`, each holding V0001..V0005 at version 1."""
    for name in ("a", "b"):
        hub.create_dataset(name, schema=VENDORS_SCHEMA)
        path = write_csv(tmp_path / f"{name}0.csv", [vendor(i) for i in range(1, 6)])
        assert hub.apply(name, path)["status"] == "succeeded"
    return hub


def test_jobs_on_one_dataset_are_claimed_in_queue_order(loaded: Hub, tmp_path: Path) -> None:
    hub = loaded
    first = hub.submit("a", write_csv(tmp_path / "1.csv", [vendor(1, qty=10)]))
    second = hub.submit("a", write_csv(tmp_path / "2.csv", [vendor(1, qty=20)]))
    other = hub.submit("b", write_csv(tmp_path / "3.csv", [vendor(1, qty=30)]))

    held = queue.claim(hub.dbs, "w1")
    assert held is not None and (held.job_id, held.attempt, held.owner) == (first, 1, "w1")
    assert hub.job(first)["status"] == "running"
    # Job 1 runs with a valid lease: job 2 waits behind it, job 3 on dataset b does not.
    assert queue.claim(hub.dbs, "w2", only=second) is None
    taken = queue.claim(hub.dbs, "w2")
    assert taken is not None and taken.job_id == other
    assert queue.claim(hub.dbs, "w3") is None
    assert hub.job(second)["status"] == "queued"

    assert run_claimed(hub.dbs, hub.storage, taken) == "succeeded"
    assert queue.claim(hub.dbs, "w3") is None  # finishing job 3 frees nothing on dataset a
    assert run_claimed(hub.dbs, hub.storage, held) == "succeeded"
    after = queue.claim(hub.dbs, "w3")
    assert after is not None and after.job_id == second
    assert run_claimed(hub.dbs, hub.storage, after) == "succeeded"

    assert [hub.job(j)["version"] for j in (first, second, other)] == [2, 3, 2]
    assert {r[0]: r[3] for r in table_rows(hub, "a")}["V0001"] == 20
    assert {r[0]: r[3] for r in table_rows(hub, "b")}["V0001"] == 30


def test_a_job_on_two_datasets_waits_behind_earlier_jobs_on_either(
    loaded: Hub, tmp_path: Path
) -> None:
    hub = loaded
    on_b = hub.submit("b", write_csv(tmp_path / "b.csv", [vendor(6)]))
    path = write_csv(tmp_path / "ab.csv", [vendor(7)])
    both = jobs.create_job(
        hub.dbs,
        "default",
        [
            jobs.NewPart(dataset=d, operation="upsert", name=d, location=f"{LOCAL_FILE}{path}")
            for d in ("a", "b")
        ],
    )
    on_a = hub.submit("a", write_csv(tmp_path / "a.csv", [vendor(8)]))

    held_b = queue.claim(hub.dbs, "w1")
    assert held_b is not None and held_b.job_id == on_b
    # The two-dataset job waits for the job on b; the later job on a waits for it in turn.
    assert queue.claim(hub.dbs, "w2") is None
    assert run_claimed(hub.dbs, hub.storage, held_b) == "succeeded"
    held_both = queue.claim(hub.dbs, "w2")
    assert held_both is not None and held_both.job_id == both
    assert queue.claim(hub.dbs, "w3") is None
    assert run_claimed(hub.dbs, hub.storage, held_both) == "succeeded"
    held_a = queue.claim(hub.dbs, "w3")
    assert held_a is not None and held_a.job_id == on_a
    assert run_claimed(hub.dbs, hub.storage, held_a) == "succeeded"
    assert hub.job(both)["versions"] == {"a": 2, "b": 3}
    assert hub.job(on_a)["version"] == 3


def test_a_failed_job_does_not_hold_up_the_next_one(loaded: Hub, tmp_path: Path) -> None:
    hub = loaded
    bad = hub.submit("a", write_csv(tmp_path / "bad.csv", [["V1", "x", "no", 1, "true", ""]]))
    good = hub.submit("a", write_csv(tmp_path / "good.csv", [vendor(9)]))
    held = queue.claim(hub.dbs, "w1")
    assert held is not None and held.job_id == bad
    assert run_claimed(hub.dbs, hub.storage, held) == "failed"
    after = queue.claim(hub.dbs, "w1")
    assert after is not None and after.job_id == good
    assert run_claimed(hub.dbs, hub.storage, after) == "succeeded"
    assert hub.dataset("a").version == 2


def test_an_expired_lease_is_claimed_again_and_the_old_claim_cannot_renew(
    loaded: Hub, tmp_path: Path
) -> None:
    hub = loaded
    job_id = hub.submit("a", write_csv(tmp_path / "1.csv", [vendor(1, qty=5)]))
    later = hub.submit("a", write_csv(tmp_path / "2.csv", [vendor(1, qty=6)]))
    first = queue.claim(hub.dbs, "w1", lease_seconds=0.01)
    assert first is not None and (first.job_id, first.attempt) == (job_id, 1)
    assert queue.renew(hub.dbs, first, lease_seconds=0.01)

    second = claim_after_expiry(hub, "w2", job_id)
    assert (second.job_id, second.attempt, second.owner) == (job_id, 2, "w2")
    # The job is still running (under its new claim): the later job keeps waiting.
    assert queue.claim(hub.dbs, "w3", only=later) is None
    assert not queue.renew(hub.dbs, first)
    assert queue.renew(hub.dbs, second)
    job = hub.job(job_id)
    assert (job["status"], job["attempt"]) == ("running", 2)

    assert run_claimed(hub.dbs, hub.storage, second) == "succeeded"
    assert not queue.renew(hub.dbs, second)  # ended: nothing left to renew
    assert hub.job(job_id)["statistics"]["updated"] == 1


def test_a_claim_that_lost_its_lease_does_not_commit(
    loaded: Hub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    hub = loaded
    before = table_rows(hub, "a")
    job_id = hub.submit("a", write_csv(tmp_path / "1.csv", [vendor(1, qty=5), vendor(6)]))
    zombie = queue.claim(hub.dbs, "zombie", only=job_id, lease_seconds=0.01)
    assert zombie is not None
    owner = claim_after_expiry(hub, "owner", job_id)
    assert owner.attempt == zombie.attempt + 1

    assert run_claimed(hub.dbs, hub.storage, zombie) == "lost"
    # A zombie that never looks at the job while it works is stopped by the commit fence.
    with monkeypatch.context() as patched:
        patched.setattr(runner.DbReporter, "check_cancelled", lambda *_a, **_k: None)
        assert run_claimed(hub.dbs, hub.storage, zombie) == "lost"
    with hub.dbs.data.begin() as conn, pytest.raises(LeaseLost):  # noqa: SIM117
        with queue.fenced_commit(hub.dbs, conn, zombie):
            pytest.fail("the fence let a stale claim commit")
    assert table_rows(hub, "a") == before
    assert hub.dataset("a").version == 1
    assert job_versions(hub, job_id) == []
    assert hub.job(job_id)["status"] == "running"

    assert run_claimed(hub.dbs, hub.storage, owner) == "succeeded"
    job = hub.job(job_id)
    assert (job["status"], job["attempt"], job["version"]) == ("succeeded", 2, 2)
    assert job["statistics"]["inserted"] == 1 and job["statistics"]["updated"] == 1
    assert job_versions(hub, job_id) == [(hub.dataset("a").id, 2)]
    assert hub.dataset("a").row_count == 6


def test_a_cancel_requested_while_a_job_runs_stops_its_commit(loaded: Hub, tmp_path: Path) -> None:
    hub = loaded
    before = table_rows(hub, "a")
    job_id = hub.submit("a", write_csv(tmp_path / "1.csv", [vendor(1, qty=5)]))
    held = queue.claim(hub.dbs, "w1", only=job_id)
    assert held is not None
    jobs.cancel_job(hub.dbs, "default", job_id)
    job = hub.job(job_id)
    assert (job["status"], job["cancel_requested"]) == ("running", True)
    with hub.dbs.data.begin() as conn, pytest.raises(JobCancelled):  # noqa: SIM117
        with queue.fenced_commit(hub.dbs, conn, held):
            pytest.fail("the fence let a cancelled job commit")
    assert run_claimed(hub.dbs, hub.storage, held) == "cancelled"
    assert hub.job(job_id)["error"]["code"] == "cancelled"
    assert table_rows(hub, "a") == before and job_versions(hub, job_id) == []


def test_two_worker_pools_run_every_job_once_in_order(
    hub: Hub, tmp_path: Path, database_url: str
) -> None:
    names = [f"d{i}" for i in range(4)]
    for name in names:
        hub.create_dataset(name, schema=VENDORS_SCHEMA)
    queued: dict[str, list[int]] = {name: [] for name in names}
    for seq in range(40):
        name = names[seq % 4]
        path = write_csv(tmp_path / f"{seq}.csv", [vendor(1, qty=seq), vendor(100 + seq)])
        queued[name].append(hub.submit(name, path))
    all_jobs = sorted(j for ids in queued.values() for j in ids)

    finished: list[tuple[int, str]] = []
    lock = threading.Lock()

    def record(job_id: int, status: str, _seconds: float) -> None:
        with lock:
            finished.append((job_id, status))

    options = WorkerOptions(lease_seconds=30.0, poll_seconds=0.02)
    other_dbs = open_databases(database_url)
    pools = [
        WorkerPool(dbs, hub.storage, 2, options=options, on_finished=record)
        for dbs in (hub.dbs, other_dbs)
    ]
    try:
        for pool in pools:
            pool.start()
        deadline = time.monotonic() + DEADLINE_SECONDS
        while True:
            with lock:
                done = len(finished)
            if done >= len(all_jobs):
                break
            if time.monotonic() > deadline:
                pytest.fail(f"{done} of {len(all_jobs)} jobs finished in {DEADLINE_SECONDS} s")
            time.sleep(0.05)
    finally:
        for pool in pools:
            pool.stop()
        other_dbs.dispose()

    assert sorted(finished) == [(j, "succeeded") for j in all_jobs]
    for job_id in all_jobs:
        job = hub.job(job_id)
        assert (job["status"], job["attempt"]) == ("succeeded", 1), job
    for position, name in enumerate(names):
        dataset = hub.dataset(name)
        applied = [job_versions(hub, j) for j in queued[name]]
        assert applied == [[(dataset.id, v)] for v in range(1, 11)], name
        assert (dataset.version, dataset.row_count) == (10, 11)
        last_seq = 36 + position
        assert {r[0]: r[3] for r in table_rows(hub, name)}["V0001"] == last_seq
