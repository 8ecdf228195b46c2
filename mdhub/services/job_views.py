"""Jobs as users read them: one job, a filtered list, its row errors and its log, each in the
API's shape and scoped to a workspace; lists are paginated by id (`next` cursor)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Table, select

from mdhub.core import times
from mdhub.db.engine import Databases
from mdhub.db.tables import job_log, job_parts, jobs, row_errors, workspaces
from mdhub.errors import InvalidRequest, NotFound
from mdhub.ingest.job import STAT_NAMES
from mdhub.services.jobs import FINAL_STATES

STATUSES = ("created", "queued", "running", *FINAL_STATES)
INLINE_ERRORS = 100
MAX_PAGE = 1000


def _job_row(conn: Connection, workspace: str, job_id: int) -> Any:
    row = conn.execute(
        select(jobs)
        .join(workspaces, workspaces.c.id == jobs.c.workspace_id)
        .where(jobs.c.id == job_id, workspaces.c.name == workspace)
    ).first()
    if row is None:
        raise NotFound(f"job {job_id} not found")
    return row


def _shape(job: Any, parts: list[Any]) -> dict[str, Any]:
    result = job.result or {}
    versions_by_dataset = result.get("versions", {})
    runtime = None
    if job.started_at is not None:
        ended = times.utc(job.finished_at) if job.finished_at is not None else times.now()
        runtime = round((ended - times.utc(job.started_at)).total_seconds(), 3)
    percent = 0.0
    if job.bytes_total:
        percent = round(min(100.0, 100 * job.bytes_read / job.bytes_total), 1)
    return {
        "id": job.id,
        "status": job.status,
        "dry_run": job.dry_run,
        "cancel_requested": job.cancel_requested,
        "parts": [
            {
                "name": p.name,
                "dataset": p.dataset_name,
                "operation": p.operation,
                "format": p.format,
                "bytes": p.bytes,
                "checksum": p.checksum,
                "uploaded": p.location is not None,
            }
            for p in parts
        ],
        "progress": {
            "rows_read": job.rows_read,
            "bytes_read": job.bytes_read,
            "bytes_total": job.bytes_total,
            "percent": percent,
        },
        "statistics": job.statistics or dict.fromkeys(STAT_NAMES, 0),
        "version": next(iter(versions_by_dataset.values()), None)
        if len(versions_by_dataset) == 1
        else None,
        "versions": versions_by_dataset,
        "error": job.error,
        "error_count": job.error_count,
        "notes": result.get("notes", []),
        "sample": result.get("sample", {}),
        "attempt": job.attempt,
        "runtime": runtime,
        "created_at": times.iso(job.created_at),
        "started_at": times.iso(job.started_at),
        "finished_at": times.iso(job.finished_at),
    }


def _parts_of(conn: Connection, job_ids: list[int]) -> dict[int, list[Any]]:
    out: dict[int, list[Any]] = {i: [] for i in job_ids}
    rows = conn.execute(
        select(job_parts)
        .where(job_parts.c.job_id.in_(job_ids))
        .order_by(job_parts.c.job_id, job_parts.c.position)
    ).all()
    for row in rows:
        out[row.job_id].append(row)
    return out


def get_job(dbs: Databases, job_id: int, *, workspace: str) -> dict[str, Any]:
    """A job in the API's shape, with its first row errors inline."""
    with dbs.meta.connect() as conn:
        job = _job_row(conn, workspace, job_id)
        shaped = _shape(job, _parts_of(conn, [job_id])[job_id])
        errors = conn.execute(
            select(row_errors)
            .where(row_errors.c.job_id == job_id)
            .order_by(row_errors.c.id)
            .limit(INLINE_ERRORS)
        ).all()
    shaped["errors"] = [_error(e) for e in errors]
    return shaped


def job_statistics(dbs: Databases, job_id: int) -> dict[str, int]:
    """A finished job's statistics, for the worker's metrics (not scoped: no request asks)."""
    with dbs.meta.connect() as conn:
        found = conn.execute(select(jobs.c.statistics).where(jobs.c.id == job_id)).scalar()
    return dict(found or dict.fromkeys(STAT_NAMES, 0))


def _page_limit(limit: int) -> int:
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidRequest(f"limit must be between 1 and {MAX_PAGE}")
    return limit


def list_jobs(
    dbs: Databases,
    workspace: str,
    *,
    dataset: str | None = None,
    status: str | None = None,
    cursor: int | None = None,
    limit: int = 50,
) -> dict[str, Any]:
    """Jobs, newest first: `{results, next}` (pass `next` as `cursor` for the page after)."""
    limit = _page_limit(limit)
    if status is not None and status not in STATUSES:
        raise InvalidRequest(f"unknown status '{status}' (one of {', '.join(STATUSES)})")
    query = (
        select(jobs)
        .join(workspaces, workspaces.c.id == jobs.c.workspace_id)
        .where(workspaces.c.name == workspace)
    )
    if dataset is not None:
        query = query.where(
            jobs.c.id.in_(select(job_parts.c.job_id).where(job_parts.c.dataset_name == dataset))
        )
    if status is not None:
        query = query.where(jobs.c.status == status)
    if cursor is not None:
        query = query.where(jobs.c.id < cursor)
    with dbs.meta.connect() as conn:
        rows = conn.execute(query.order_by(jobs.c.id.desc()).limit(limit + 1)).all()
        page = rows[:limit]
        parts = _parts_of(conn, [r.id for r in page])
    return {
        "results": [_shape(r, parts[r.id]) for r in page],
        "next": page[-1].id if len(rows) > limit else None,
    }


def _error(row: Any) -> dict[str, Any]:
    return {
        "part": row.part,
        "line": row.line,
        "column": row.column,
        "value": row.value,
        "message": row.message,
    }


def _job_page(
    conn: Connection, table: Table, job_id: int, cursor: int | None, limit: int
) -> tuple[list[Any], int | None]:
    """One page of a job's rows of `table` in id order, and the cursor of the next page."""
    query = select(table).where(table.c.job_id == job_id)
    if cursor is not None:
        query = query.where(table.c.id > cursor)
    rows = list(conn.execute(query.order_by(table.c.id).limit(limit + 1)))
    page = rows[:limit]
    return page, page[-1].id if len(rows) > limit else None


def job_errors(
    dbs: Databases, workspace: str, job_id: int, *, cursor: int | None = None, limit: int = 100
) -> dict[str, Any]:
    """A job's stored row errors in order: `{results, next, total}` (`total` counts the
    errors past the stored ones too)."""
    with dbs.meta.connect() as conn:
        job = _job_row(conn, workspace, job_id)
        page, after = _job_page(conn, row_errors, job_id, cursor, _page_limit(limit))
    return {"results": [_error(r) for r in page], "next": after, "total": job.error_count}


def job_log_lines(
    dbs: Databases, workspace: str, job_id: int, *, cursor: int | None = None, limit: int = 500
) -> dict[str, Any]:
    """A job's log lines in order: `{results, next}`."""
    with dbs.meta.connect() as conn:
        _job_row(conn, workspace, job_id)
        page, after = _job_page(conn, job_log, job_id, cursor, _page_limit(limit))
    return {
        "results": [
            {"at": times.iso(r.at), "level": r.level, "message": r.message, "id": r.id}
            for r in page
        ],
        "next": after,
    }
