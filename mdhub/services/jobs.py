"""Jobs as users change them: create (queued, or waiting for uploads), upload parts, start,
cancel. Reading them back is `job_views`; running them is `mdhub.worker.runner`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, func, insert, select, update

from mdhub.core import times
from mdhub.db.engine import Databases
from mdhub.db.tables import job_parts, jobs
from mdhub.errors import Conflict, InvalidRequest, NotFound
from mdhub.ingest.merge import OPERATIONS
from mdhub.ingest.model import FORMATS
from mdhub.services import webhooks
from mdhub.services.datasets import get_dataset, workspace_id
from mdhub.storage import StoredObject
from mdhub.worker.queue import next_position

FINAL_STATES = ("succeeded", "failed", "cancelled")
PART_NAME_MAX = 255


@dataclass(frozen=True)
class NewPart:
    """A part of a job to create: which dataset, what to do, and (once uploaded) its bytes.

    `location` is a storage key, or `file:<absolute path>` for a local file used in place.
    """

    dataset: str
    operation: str
    format: str = "csv"
    name: str = ""
    location: str | None = None
    bytes: int = 0
    checksum: str | None = None
    read_options: dict[str, Any] = field(default_factory=dict)


def _check_parts(parts: list[NewPart]) -> None:
    if not parts:
        raise InvalidRequest("a job needs at least one part")
    names = [p.name for p in parts if p.name]
    if len(names) != len(set(names)):
        raise InvalidRequest("part names must be unique within a job")
    for part in parts:
        if part.operation not in OPERATIONS:
            raise InvalidRequest(
                f"unknown operation '{part.operation}' (one of {', '.join(OPERATIONS)})"
            )
        if part.format not in FORMATS:
            raise InvalidRequest(f"unknown format '{part.format}' (one of {', '.join(FORMATS)})")
        if len(part.name) > PART_NAME_MAX:
            raise InvalidRequest(f"a part name is at most {PART_NAME_MAX} characters")


def create_job(
    dbs: Databases,
    workspace: str,
    parts: list[NewPart],
    *,
    dry_run: bool = False,
    max_errors: int | None = 0,
    start: bool = True,
    idempotency_key: str | None = None,
) -> int:
    """Record a job with its parts (and the Idempotency-Key of its request); returns its id.

    With every part uploaded and `start`, the job is queued at once; otherwise it waits in
    `created` for `attach_part` and `start_job` (with `start`, the last upload queues it).
    """
    _check_parts(parts)
    if max_errors is not None and max_errors < 0:
        raise InvalidRequest("max_errors must be 0 or more")
    found = {p.dataset: get_dataset(dbs, workspace, p.dataset) for p in parts}
    uploaded = all(p.location for p in parts)
    with dbs.meta.begin() as conn:
        queue_now = start and uploaded
        job_id = conn.execute(
            insert(jobs)
            .values(
                workspace_id=workspace_id(conn, workspace),
                status="queued" if queue_now else "created",
                queue_position=next_position(conn) if queue_now else None,
                dry_run=dry_run,
                options={"max_errors": max_errors, "start": start},
                rows_read=0,
                bytes_read=0,
                bytes_total=sum(p.bytes for p in parts),
                error_count=0,
                attempt=0,
                cancel_requested=False,
                created_at=times.now(),
                idempotency_key=idempotency_key,
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
                    "location": p.location,
                    "bytes": p.bytes if p.location else None,
                    "checksum": p.checksum,
                }
                for i, p in enumerate(parts)
            ],
        )
    return int(job_id)


def job_for_key(dbs: Databases, workspace: str, key: str) -> int | None:
    """The job created by the request with this Idempotency-Key, if one was."""
    with dbs.meta.connect() as conn:
        found = conn.execute(
            select(jobs.c.id).where(
                jobs.c.workspace_id == workspace_id(conn, workspace),
                jobs.c.idempotency_key == key,
            )
        ).first()
    return int(found[0]) if found else None


def _locked_job(conn: Connection, workspace: str, job_id: int) -> Any:
    query = select(jobs).where(
        jobs.c.id == job_id, jobs.c.workspace_id == workspace_id(conn, workspace)
    )
    if conn.dialect.name == "postgresql":
        query = query.with_for_update()
    row = conn.execute(query).first()
    if row is None:
        raise NotFound(f"job {job_id} not found")
    return row


def _queue(conn: Connection, job_id: int) -> None:
    total = conn.execute(
        select(func.coalesce(func.sum(job_parts.c.bytes), 0)).where(job_parts.c.job_id == job_id)
    ).scalar_one()
    conn.execute(
        update(jobs)
        .where(jobs.c.id == job_id)
        .values(status="queued", queue_position=next_position(conn), bytes_total=total)
    )


def _missing_parts(conn: Connection, job_id: int) -> list[str]:
    return list(
        conn.execute(
            select(job_parts.c.name)
            .where(job_parts.c.job_id == job_id, job_parts.c.location.is_(None))
            .order_by(job_parts.c.position)
        ).scalars()
    )


def attach_part(
    dbs: Databases, workspace: str, job_id: int, name: str, stored: StoredObject
) -> None:
    """Record the uploaded bytes of one part of a job in `created` (uploading again replaces
    them). A job created with `start` is queued when its last part arrives."""
    with dbs.meta.begin() as conn:
        job = _locked_job(conn, workspace, job_id)
        if job.status != "created":
            raise Conflict(
                f"job {job_id} is {job.status}: parts can only be uploaded before it starts",
                {"status": job.status},
            )
        result = conn.execute(
            update(job_parts)
            .where(job_parts.c.job_id == job_id, job_parts.c.name == name)
            .values(location=stored.key, bytes=stored.bytes, checksum=f"sha256:{stored.sha256}")
        )
        if result.rowcount != 1:
            raise NotFound(f"job {job_id} has no part named '{name}'")
        if job.options.get("start") and not _missing_parts(conn, job_id):
            _queue(conn, job_id)


def start_job(dbs: Databases, workspace: str, job_id: int, *, dry_run: bool | None = None) -> None:
    """Queue a job in `created` whose parts are all uploaded (`dry_run`, when given, decides
    now whether it runs as a dry run)."""
    with dbs.meta.begin() as conn:
        job = _locked_job(conn, workspace, job_id)
        if job.status != "created":
            raise Conflict(f"job {job_id} is already {job.status}", {"status": job.status})
        missing = _missing_parts(conn, job_id)
        if missing:
            raise Conflict(
                f"job {job_id} cannot start: no upload yet for part(s) {', '.join(missing)}",
                {"missing_parts": missing},
            )
        if dry_run is not None:
            conn.execute(update(jobs).where(jobs.c.id == job_id).values(dry_run=dry_run))
        _queue(conn, job_id)


def cancel_job(dbs: Databases, workspace: str, job_id: int) -> None:
    """Cancel a job: one not yet running ends at once; a running one is asked to stop, and
    its worker rolls it back (invariant 1) and marks it cancelled."""
    with dbs.meta.begin() as conn:
        job = _locked_job(conn, workspace, job_id)
        if job.status in FINAL_STATES:
            raise Conflict(f"job {job_id} already {job.status}", {"status": job.status})
        if job.status == "running":
            conn.execute(update(jobs).where(jobs.c.id == job_id).values(cancel_requested=True))
            return
        conn.execute(
            update(jobs)
            .where(jobs.c.id == job_id)
            .values(
                status="cancelled",
                cancel_requested=True,
                error={"code": "cancelled", "message": "the job was cancelled", "details": {}},
                finished_at=times.now(),
            )
        )
        webhooks.record_job_event(conn, job_id, job.workspace_id, "cancelled")
