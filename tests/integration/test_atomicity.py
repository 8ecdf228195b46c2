"""Invariant 1: a failed or killed job leaves every dataset exactly as it was; a job that
committed before its process died is recovered, not applied twice."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from contextlib import ExitStack
from pathlib import Path

import pytest
from sqlalchemy import select

from mdhub.db.tables import job_log, versions
from mdhub.errors import JobCancelled
from mdhub.ingest import apply as apply_module
from mdhub.ingest import merge
from mdhub.services.hub import Hub
from mdhub.worker import queue, runner
from tests.helpers import VENDORS_SCHEMA, table_rows, vendor, write_csv


def _load(hub: Hub, tmp_path: Path, rows: int) -> None:
    hub.create_dataset("vendors", schema=VENDORS_SCHEMA)
    path = write_csv(tmp_path / "initial.csv", [vendor(i) for i in range(rows)])
    assert hub.apply("vendors", path)["status"] == "succeeded"


def test_an_exception_in_the_middle_of_a_merge_changes_nothing(
    hub: Hub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _load(hub, tmp_path, 50)
    before = table_rows(hub, "vendors")

    def explode(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("disk on fire")

    # The rows are already inserted and updated when the change log is written.
    monkeypatch.setattr(merge, "_log_changes", explode)
    rows = [vendor(i, name="changed") for i in range(40)] + [vendor(1000)]
    job = hub.apply("vendors", write_csv(tmp_path / "next.csv", rows))
    assert job["status"] == "failed" and job["error"]["code"] == "internal_error"
    assert "disk on fire" in job["error"]["message"]
    assert table_rows(hub, "vendors") == before
    dataset = hub.dataset("vendors")
    assert (dataset.version, dataset.row_count) == (1, 50)


def test_a_job_that_committed_before_a_crash_is_finalized_not_reapplied(
    hub: Hub, tmp_path: Path
) -> None:
    _load(hub, tmp_path, 10)
    path = write_csv(tmp_path / "next.csv", [vendor(i, qty=7) for i in range(12)])
    job_id = hub.submit("vendors", path)
    held = queue.claim(hub.dbs, "first-worker", only=job_id, lease_seconds=0.01)
    assert held is not None
    with ExitStack() as stack:
        parts = runner._part_specs(hub.dbs, held, stack, hub.storage)
    # The worker commits the data, then dies before recording the outcome; its lease expires.
    outcome = apply_module.apply_job(hub.dbs, job_id, parts)
    assert outcome.error is None
    after_commit = table_rows(hub, "vendors")
    job = hub.run(job_id)
    assert job["status"] == "succeeded"
    assert job["statistics"]["updated"] == 10 and job["statistics"]["inserted"] == 2
    assert table_rows(hub, "vendors") == after_commit
    with hub.dbs.data.connect() as conn:
        applied = conn.execute(select(versions.c.version).where(versions.c.job_id == job_id)).all()
    assert applied == [(2,)]
    assert hub.dataset("vendors").version == 2


def _wait_for_merge(hub: Hub, job_id: int, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        with hub.dbs.meta.connect() as conn:
            lines = conn.execute(
                select(job_log.c.message).where(job_log.c.job_id == job_id)
            ).scalars()
            if any("merging" in line for line in lines):
                return
        if proc.poll() is not None:
            pytest.fail(f"the job process ended before its merge began: {proc.returncode}")
        time.sleep(0.01)
    pytest.fail("the merge did not begin within 120 s")


@pytest.mark.slow
def test_kill_9_in_the_middle_of_a_merge_leaves_the_data_as_it_was(
    hub: Hub, tmp_path: Path, database_url: str
) -> None:
    rows = 200_000
    _load(hub, tmp_path, rows)
    before = table_rows(hub, "vendors")
    path = write_csv(tmp_path / "next.csv", [vendor(i, qty=2) for i in range(rows + 1000)])
    job_id = hub.submit("vendors", path)
    env = {**os.environ, "MDHUB_DATABASE_URL": database_url, "MDHUB_LEASE_SECONDS": "1"}
    code = f"from mdhub.services.hub import Hub\nHub.open().run({job_id})"
    proc = subprocess.Popen([sys.executable, "-c", code], env=env)
    try:
        _wait_for_merge(hub, job_id, proc)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL, "the job finished before it could be killed"
    assert table_rows(hub, "vendors") == before
    assert hub.dataset("vendors").version == 1
    assert hub.job(job_id)["status"] == "running"  # its worker died; the job was not applied

    job = hub.run(job_id)  # taken up again once its lease expired: applied exactly once
    assert job["status"] == "succeeded", job
    assert job["statistics"] == {
        "read": rows + 1000,
        "inserted": 1000,
        "updated": rows,
        "unchanged": 0,
        "deleted": 0,
        "failed": 0,
    }
    assert hub.dataset("vendors").row_count == rows + 1000
    with hub.dbs.data.connect() as conn:
        applied = conn.execute(select(versions.c.version).where(versions.c.job_id == job_id)).all()
    assert applied == [(2,)]


class _CancelAfterFirstBatch:
    """A reporter whose job is cancelled as soon as the first rows were read."""

    def progress(self, rows_read: int, bytes_read: int) -> None:
        self.rows = rows_read

    def log(self, message: str, level: str = "info") -> None:
        return None

    def check_cancelled(self) -> None:
        raise JobCancelled("the job was cancelled")


def test_a_cancelled_job_changes_nothing(hub: Hub, tmp_path: Path) -> None:
    _load(hub, tmp_path, 20)
    before = table_rows(hub, "vendors")
    path = write_csv(tmp_path / "next.csv", [vendor(i, qty=9) for i in range(30)])
    job = hub.run(hub.submit("vendors", path), _CancelAfterFirstBatch())
    assert job["status"] == "cancelled" and job["error"]["code"] == "cancelled"
    assert table_rows(hub, "vendors") == before
    assert hub.dataset("vendors").version == 1
