"""Jobs: create them, run them through the engine, record their outcome, read them back."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select, update

from mdhub.core.schema import Schema
from mdhub.db.engine import Databases
from mdhub.db.tables import datasets, job_log, job_parts, jobs, row_errors, versions
from mdhub.errors import InternalError, InvalidRequest, JobCancelled, NotFound
from mdhub.ingest.apply import apply_job
from mdhub.ingest.job import ApplyOptions, ApplyOutcome, PartSpec, Reporter
from mdhub.ingest.merge import OPERATIONS
from mdhub.ingest.model import FORMATS, ReadOptions
from mdhub.services.datasets import get_dataset, workspace_id

FINAL_STATES = ("succeeded", "failed", "cancelled")
PROGRESS_INTERVAL = 0.5


@dataclass(frozen=True)
class NewPart:
    """A part of a job to create: which dataset, what to do, and the file."""

    dataset: str
    operation: str
    location: Path
    format: str = "csv"
    name: str = ""
    read_options: dict[str, Any] = field(default_factory=dict)


def _now() -> datetime:
    return datetime.now(UTC)


def create_job(
    dbs: Databases,
    workspace: str,
    parts: list[NewPart],
    *,
    dry_run: bool = False,
    max_errors: int | None = 0,
) -> int:
    """Record a queued job with its parts; returns the job id."""
    if not parts:
        raise InvalidRequest("a job needs at least one part")
    for part in parts:
        if part.operation not in OPERATIONS:
            raise InvalidRequest(
                f"unknown operation '{part.operation}' (one of {', '.join(OPERATIONS)})"
            )
        if part.format not in FORMATS:
            raise InvalidRequest(f"unknown format '{part.format}' (one of {', '.join(FORMATS)})")
    if max_errors is not None and max_errors < 0:
        raise InvalidRequest("max_errors must be 0 or more")
    found = {p.dataset: get_dataset(dbs, workspace, p.dataset) for p in parts}
    with dbs.meta.begin() as conn:
        job_id = conn.execute(
            insert(jobs)
            .values(
                workspace_id=workspace_id(conn, workspace),
                status="queued",
                dry_run=dry_run,
                options={"max_errors": max_errors},
                rows_read=0,
                bytes_read=0,
                bytes_total=sum(p.location.stat().st_size for p in parts),
                error_count=0,
                attempt=0,
                created_at=_now(),
            )
            .returning(jobs.c.id)
        ).scalar_one()
        conn.execute(
            insert(job_parts),
            [
                {
                    "job_id": job_id,
                    "position": i,
                    "name": p.name or f"part{i + 1}",
                    "dataset_id": found[p.dataset].id,
                    "dataset_name": p.dataset,
                    "operation": p.operation,
                    "format": p.format,
                    "read_options": p.read_options,
                    "location": str(p.location),
                    "bytes": p.location.stat().st_size,
                }
                for i, p in enumerate(parts)
            ],
        )
    return int(job_id)


class DbReporter:
    """Writes a job's progress (at most every PROGRESS_INTERVAL s) and log to the metadata
    store, and checks there whether it was cancelled."""

    def __init__(self, dbs: Databases, job_id: int) -> None:
        self.dbs = dbs
        self.job_id = job_id
        self._last = 0.0
        self._last_cancel_check = 0.0

    def progress(self, rows_read: int, bytes_read: int) -> None:
        now = time.monotonic()
        if now - self._last < PROGRESS_INTERVAL:
            return
        self._last = now
        with self.dbs.meta.begin() as conn:
            conn.execute(
                update(jobs)
                .where(jobs.c.id == self.job_id)
                .values(rows_read=rows_read, bytes_read=bytes_read)
            )

    def log(self, message: str, level: str = "info") -> None:
        with self.dbs.meta.begin() as conn:
            conn.execute(
                insert(job_log).values(job_id=self.job_id, at=_now(), level=level, message=message)
            )

    def check_cancelled(self) -> None:
        now = time.monotonic()
        if now - self._last_cancel_check < PROGRESS_INTERVAL:
            return
        self._last_cancel_check = now
        with self.dbs.meta.connect() as conn:
            status = conn.execute(select(jobs.c.status).where(jobs.c.id == self.job_id)).scalar()
        if status == "cancelled":
            raise JobCancelled("the job was cancelled")


def _part_specs(dbs: Databases, job_id: int, workspace_name: str) -> list[PartSpec]:
    with dbs.meta.connect() as conn:
        rows = conn.execute(
            select(job_parts).where(job_parts.c.job_id == job_id).order_by(job_parts.c.position)
        ).all()
    specs = []
    for row in rows:
        dataset = get_dataset(dbs, workspace_name, row.dataset_name)
        read = ReadOptions(format=row.format, **row.read_options)
        specs.append(PartSpec(row.name, dataset.ref(), row.operation, Path(row.location), read))
    return specs


def run_job(
    dbs: Databases, job_id: int, *, workspace: str = "default", reporter: Reporter | None = None
) -> dict[str, Any]:
    """Run a queued job to its end in this thread and return its final state.

    A job whose effects already committed (a crash after the commit) is only finalized.
    """
    job = _job_row(dbs, job_id)
    if job.status in FINAL_STATES:
        return get_job(dbs, job_id)
    with dbs.meta.begin() as conn:
        conn.execute(
            update(jobs)
            .where(jobs.c.id == job_id)
            .values(status="running", started_at=_now(), attempt=jobs.c.attempt + 1)
        )
    reporter = reporter or DbReporter(dbs, job_id)
    if _finalize_if_applied(dbs, job_id):
        return get_job(dbs, job_id)
    parts = _part_specs(dbs, job_id, workspace)
    options = ApplyOptions(dry_run=job.dry_run, max_errors=job.options.get("max_errors", 0))
    try:
        outcome = apply_job(dbs, job_id, parts, options, reporter)
    except JobCancelled as exc:
        _finish(dbs, job_id, ApplyOutcome(error=exc), status="cancelled")
        return get_job(dbs, job_id)
    except Exception as exc:
        _finish(
            dbs,
            job_id,
            ApplyOutcome(error=InternalError(f"{type(exc).__name__}: {exc}")),
            status="failed",
        )
        raise
    _finish(dbs, job_id, outcome, status="failed" if outcome.error else "succeeded")
    return get_job(dbs, job_id)


def _finalize_if_applied(dbs: Databases, job_id: int) -> bool:
    """If the dataset store already holds this job's versions, record success from them."""
    with dbs.data.connect() as conn:
        rows = conn.execute(select(versions).where(versions.c.job_id == job_id)).all()
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
    _finish(dbs, job_id, outcome, status="succeeded")
    return True


def _finish(dbs: Databases, job_id: int, outcome: ApplyOutcome, *, status: str) -> None:
    """Record the outcome of a job in the metadata store (one transaction)."""
    now = _now()
    with dbs.meta.begin() as conn:
        job = conn.execute(select(jobs).where(jobs.c.id == job_id)).one()
        conn.execute(
            update(jobs)
            .where(jobs.c.id == job_id)
            .values(
                status=status,
                statistics=outcome.statistics,
                result={
                    "versions": outcome.versions,
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
                finished_at=now,
            )
        )
        if outcome.errors:
            conn.execute(
                insert(row_errors),
                [{"job_id": job_id, **e.to_dict()} for e in outcome.errors],
            )
        if status == "succeeded" and not job.dry_run:
            for name, version in outcome.versions.items():
                values: dict[str, Any] = {
                    "version": version,
                    "last_job_id": job_id,
                    "updated_at": now,
                }
                ds_id = conn.execute(
                    select(datasets.c.id).where(
                        datasets.c.workspace_id == job.workspace_id, datasets.c.name == name
                    )
                ).scalar()
                if ds_id is None:
                    continue
                values["row_count"] = outcome.row_counts.get(ds_id, 0)
                if ds_id in outcome.schemas:
                    values["schema"] = outcome.schemas[ds_id].to_descriptor()
                conn.execute(update(datasets).where(datasets.c.id == ds_id).values(**values))
        for note in outcome.notes:
            conn.execute(insert(job_log).values(job_id=job_id, at=now, level="info", message=note))


def _job_row(dbs: Databases, job_id: int) -> Any:
    with dbs.meta.connect() as conn:
        row = conn.execute(select(jobs).where(jobs.c.id == job_id)).first()
    if row is None:
        raise NotFound(f"job {job_id} not found")
    return row


def _aware(value: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes; every stored time is UTC."""
    if value is None or value.tzinfo:
        return value
    return value.replace(tzinfo=UTC)


def _iso(value: datetime | None) -> str | None:
    aware = _aware(value)
    return aware.isoformat() if aware else None


def get_job(dbs: Databases, job_id: int) -> dict[str, Any]:
    """A job in the API's shape."""
    job = _job_row(dbs, job_id)
    with dbs.meta.connect() as conn:
        parts = conn.execute(
            select(job_parts).where(job_parts.c.job_id == job_id).order_by(job_parts.c.position)
        ).all()
        errors = conn.execute(
            select(row_errors).where(row_errors.c.job_id == job_id).order_by(row_errors.c.id)
        ).all()
    result = job.result or {}
    versions_by_dataset = result.get("versions", {})
    started, finished = _aware(job.started_at), _aware(job.finished_at)
    runtime = round(((finished or _now()) - started).total_seconds(), 3) if started else None
    return {
        "id": job.id,
        "status": job.status,
        "dry_run": job.dry_run,
        "parts": [
            {"dataset": p.dataset_name, "operation": p.operation, "name": p.name, "bytes": p.bytes}
            for p in parts
        ],
        "progress": {
            "rows_read": job.rows_read,
            "bytes_read": job.bytes_read,
            "bytes_total": job.bytes_total,
            "percent": round(100 * job.bytes_read / job.bytes_total, 1) if job.bytes_total else 0,
        },
        "statistics": job.statistics
        or dict.fromkeys(("read", "inserted", "updated", "unchanged", "deleted", "failed"), 0),
        "version": next(iter(versions_by_dataset.values()), None)
        if len(versions_by_dataset) == 1
        else None,
        "versions": versions_by_dataset,
        "error": job.error,
        "error_count": job.error_count,
        "errors": [
            {
                "part": e.part,
                "line": e.line,
                "column": e.column,
                "value": e.value,
                "message": e.message,
            }
            for e in errors[:100]
        ],
        "notes": result.get("notes", []),
        "sample": result.get("sample", {}),
        "runtime": runtime,
        "created_at": _iso(job.created_at),
        "started_at": _iso(started),
        "finished_at": _iso(finished),
    }
