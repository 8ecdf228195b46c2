"""Run one claimed job through the engine and record its outcome, fenced by the claim.

Every write a worker makes about its job (progress, log, outcome) names the claim's attempt,
so a worker that lost its lease changes nothing (see `mdhub.worker.queue`).
"""

from __future__ import annotations

import logging
import time
from contextlib import ExitStack
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, insert, select, update

from mdhub.core import times
from mdhub.core.schema import Schema
from mdhub.db.engine import Databases
from mdhub.db.tables import datasets, job_log, job_parts, jobs, row_errors, versions
from mdhub.errors import InternalError, JobCancelled, LeaseLost, NotFound
from mdhub.ingest.apply import apply_job
from mdhub.ingest.job import ApplyOptions, ApplyOutcome, PartSpec, Reporter
from mdhub.ingest.model import ReadOptions
from mdhub.services import webhooks
from mdhub.services.datasets import get_dataset
from mdhub.storage import Storage
from mdhub.worker.queue import Claim, fenced_commit

PROGRESS_INTERVAL = 0.5
LOCAL_FILE = "file:"

log = logging.getLogger("mdhub.worker")


def _mine(held: Claim) -> Any:
    """The condition that a job row still belongs to this claim."""
    return (
        (jobs.c.id == held.job_id) & (jobs.c.attempt == held.attempt) & (jobs.c.status == "running")
    )


class DbReporter:
    """Writes a claimed job's progress (at most every PROGRESS_INTERVAL s) and log to the
    metadata store; stops the job when it was cancelled or its claim was taken over."""

    def __init__(self, dbs: Databases, held: Claim, viewer: Reporter | None = None) -> None:
        self.dbs = dbs
        self.held = held
        self.viewer = viewer
        self._last_progress = 0.0
        self._last_check = 0.0

    def progress(self, rows_read: int, bytes_read: int) -> None:
        if self.viewer:
            self.viewer.progress(rows_read, bytes_read)
        now = time.monotonic()
        if now - self._last_progress < PROGRESS_INTERVAL:
            return
        self._last_progress = now
        with self.dbs.meta.begin() as conn:
            conn.execute(
                update(jobs)
                .where(_mine(self.held))
                .values(rows_read=rows_read, bytes_read=bytes_read)
            )

    def log(self, message: str, level: str = "info") -> None:
        log.log(logging.getLevelName(level.upper()), message)
        with self.dbs.meta.begin() as conn:
            conn.execute(
                insert(job_log).values(
                    job_id=self.held.job_id, at=times.now(), level=level, message=message
                )
            )

    def check_cancelled(self, *, force: bool = False) -> None:
        if self.viewer:
            self.viewer.check_cancelled()
        now = time.monotonic()
        if not force and now - self._last_check < PROGRESS_INTERVAL:
            return
        self._last_check = now
        with self.dbs.meta.connect() as conn:
            row = conn.execute(
                select(jobs.c.status, jobs.c.attempt, jobs.c.cancel_requested).where(
                    jobs.c.id == self.held.job_id
                )
            ).first()
        if row is None or row.attempt != self.held.attempt or row.status != "running":
            raise LeaseLost(f"job {self.held.job_id}: attempt {self.held.attempt} was taken over")
        if row.cancel_requested:
            raise JobCancelled("the job was cancelled")


def _part_specs(dbs: Databases, held: Claim, stack: ExitStack, storage: Storage) -> list[PartSpec]:
    with dbs.meta.connect() as conn:
        rows = conn.execute(
            select(job_parts)
            .where(job_parts.c.job_id == held.job_id)
            .order_by(job_parts.c.position)
        ).all()
    specs = []
    for row in rows:
        dataset = get_dataset(dbs, held.workspace, row.dataset_name)
        if row.location.startswith(LOCAL_FILE):
            path = Path(row.location[len(LOCAL_FILE) :])
        else:
            path = stack.enter_context(storage.local_path(row.location))
        read = ReadOptions(format=row.format, **row.read_options)
        specs.append(PartSpec(row.name, dataset.ref(), row.operation, path, read))
    return specs


def run_claimed(
    dbs: Databases, storage: Storage, held: Claim, *, viewer: Reporter | None = None
) -> str:
    """Run a claimed job to its end in this thread; returns the status it ended with.

    A job whose effects already committed (its worker died after the commit) is only
    finalized, never applied again. A claim that was taken over ends without a trace.
    """
    reporter = DbReporter(dbs, held, viewer)
    try:
        if finalize_if_applied(dbs, held):
            return "succeeded"
        reporter.check_cancelled(force=True)
        job = _job_row(dbs, held.job_id)
        options = ApplyOptions(dry_run=job.dry_run, max_errors=job.options.get("max_errors", 0))
        with ExitStack() as stack:
            parts = _part_specs(dbs, held, stack, storage)
            outcome = apply_job(
                dbs,
                held.job_id,
                parts,
                options,
                reporter,
                guard=lambda conn: fenced_commit(dbs, conn, held),
            )
    except LeaseLost as exc:
        log.warning("%s; leaving the job to its new owner", exc)
        return "lost"
    except JobCancelled as exc:
        return _finish(dbs, held, ApplyOutcome(error=exc), status="cancelled")
    except NotFound as exc:
        return _finish(dbs, held, ApplyOutcome(error=exc), status="failed")
    except Exception as exc:
        if finalize_if_applied(dbs, held):  # another attempt committed it meanwhile
            return "succeeded"
        log.exception("job %s failed unexpectedly", held.job_id)
        error = InternalError(f"{type(exc).__name__}: {exc}")
        return _finish(dbs, held, ApplyOutcome(error=error), status="failed")
    try:
        return _finish(dbs, held, outcome, status="failed" if outcome.error else "succeeded")
    except Exception as exc:
        # Never leave a job running because its outcome could not be recorded in full.
        log.exception("job %s: recording its outcome failed", held.job_id)
        if finalize_if_applied(dbs, held):
            return "succeeded"
        error = InternalError(f"recording the job's outcome failed: {type(exc).__name__}")
        return _finish(dbs, held, ApplyOutcome(error=error), status="failed")


def finalize_if_applied(dbs: Databases, held: Claim) -> bool:
    """If the dataset store already holds this job's versions, record success from them."""
    with dbs.data.connect() as conn:
        rows = conn.execute(select(versions).where(versions.c.job_id == held.job_id)).all()
    if not rows:
        return False
    outcome = ApplyOutcome()
    with dbs.meta.connect() as conn:
        names = dict(conn.execute(select(datasets.c.id, datasets.c.name)).all())
    for row in rows:
        for key, value in row.statistics.items():
            outcome.statistics[key] += value
        outcome.versions[names.get(row.dataset_id, str(row.dataset_id))] = row.version
        outcome.row_counts[row.dataset_id] = row.row_count
        if row.schema:
            outcome.schemas[row.dataset_id] = Schema.from_descriptor(row.schema)
    outcome.notes.append("recovered: the job had committed before its worker stopped")
    _finish(dbs, held, outcome, status="succeeded")
    return True


def _finish(dbs: Databases, held: Claim, outcome: ApplyOutcome, *, status: str) -> str:
    """Record the outcome of a job in the metadata store (one transaction, fenced)."""
    now = times.now()
    with dbs.meta.begin() as conn:
        job = conn.execute(select(jobs).where(_mine(held))).first()
        if job is None:
            log.warning("job %s: attempt %s no longer holds it", held.job_id, held.attempt)
            return "lost"
        conn.execute(
            update(jobs)
            .where(jobs.c.id == held.job_id)
            .values(
                status=status,
                statistics=outcome.statistics,
                result={
                    # A dry run commits nothing, so it produced no version.
                    "versions": {} if job.dry_run else outcome.versions,
                    "parts": [
                        {"name": p.name, "dataset": p.dataset, "statistics": p.statistics}
                        for p in outcome.parts
                    ],
                    "notes": outcome.notes,
                    "sample": outcome.sample,
                },
                error=outcome.error.to_dict() if outcome.error else None,
                error_count=outcome.error_count,
                rows_read=outcome.statistics["read"] or job.rows_read,
                bytes_read=job.bytes_total if status == "succeeded" else job.bytes_read,
                lease_owner=None,
                lease_expires_at=None,
                finished_at=now,
            )
        )
        webhooks.record_job_event(conn, held.job_id, job.workspace_id, status)
        if outcome.errors:
            conn.execute(
                insert(row_errors),
                [{"job_id": held.job_id, **e.to_dict()} for e in outcome.errors],
            )
        if status == "succeeded" and not job.dry_run:
            _update_datasets(conn, job, outcome, now)
        for note in outcome.notes:
            conn.execute(
                insert(job_log).values(job_id=held.job_id, at=now, level="info", message=note)
            )
        if outcome.error is not None:
            conn.execute(
                insert(job_log).values(
                    job_id=held.job_id, at=now, level="error", message=outcome.error.message
                )
            )
    log.info("job %s %s", held.job_id, status)
    return status


def _update_datasets(conn: Connection, job: Any, outcome: ApplyOutcome, now: datetime) -> None:
    for name, version in outcome.versions.items():
        ds_id = conn.execute(
            select(datasets.c.id).where(
                datasets.c.workspace_id == job.workspace_id, datasets.c.name == name
            )
        ).scalar()
        if ds_id is None:
            continue
        values: dict[str, Any] = {
            "version": version,
            "last_job_id": job.id,
            "updated_at": now,
            "row_count": outcome.row_counts.get(ds_id, 0),
        }
        if ds_id in outcome.schemas:
            values["schema"] = outcome.schemas[ds_id].to_descriptor()
        conn.execute(update(datasets).where(datasets.c.id == ds_id).values(**values))


def _job_row(dbs: Databases, job_id: int) -> Any:
    with dbs.meta.connect() as conn:
        return conn.execute(select(jobs).where(jobs.c.id == job_id)).one()
