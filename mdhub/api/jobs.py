"""Jobs as users watch them: list, status, row errors, log, live events, cancel."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse

from mdhub.api.auth import Reader, Writer
from mdhub.api.deps import Cursor, Dbs, JobId
from mdhub.api.schemas import Job, JobList, JobStatus, LogList, RowErrorList, error_responses
from mdhub.db.engine import Databases
from mdhub.services import job_views, jobs

router = APIRouter(prefix="/jobs", tags=["jobs"])

EVENT_POLL_SECONDS = 0.5
KEEPALIVE_SECONDS = 15.0


@router.get("", response_model=JobList, responses=error_responses())
def list_jobs(
    dbs: Dbs,
    principal: Reader,
    dataset: Annotated[str | None, Query(max_length=64)] = None,
    status: JobStatus | None = None,
    cursor: Cursor = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
) -> dict[str, Any]:
    """Jobs, newest first, optionally of one dataset or status."""
    return job_views.list_jobs(
        dbs, principal.workspace, dataset=dataset, status=status, cursor=cursor, limit=limit
    )


@router.get("/{job_id}", response_model=Job, responses=error_responses(404))
def get_job(job_id: JobId, dbs: Dbs, principal: Reader) -> dict[str, Any]:
    """Status, parts, progress, runtime, statistics, version, error and the first row errors."""
    return job_views.get_job(dbs, job_id, workspace=principal.workspace)


@router.get("/{job_id}/errors", response_model=RowErrorList, responses=error_responses(404))
def job_errors(
    job_id: JobId,
    dbs: Dbs,
    principal: Reader,
    cursor: Cursor = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict[str, Any]:
    """Row errors (part, line, column, value, message), in order; `total` counts them all."""
    return job_views.job_errors(dbs, principal.workspace, job_id, cursor=cursor, limit=limit)


@router.get("/{job_id}/log", response_model=LogList, responses=error_responses(404))
def job_log(
    job_id: JobId,
    dbs: Dbs,
    principal: Reader,
    cursor: Cursor = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 500,
) -> dict[str, Any]:
    """The job's log lines, in order."""
    return job_views.job_log_lines(dbs, principal.workspace, job_id, cursor=cursor, limit=limit)


def _event(name: str, data: dict[str, Any]) -> str:
    return f"event: {name}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"


async def _events(
    request: Request, dbs: Databases, workspace: str, first: dict[str, Any]
) -> AsyncIterator[str]:
    job, last, quiet = first, None, 0.0
    while True:
        seen = (job["status"], job["progress"], job["cancel_requested"])
        if job["status"] in jobs.FINAL_STATES:
            yield _event("end", job)
            return
        if seen != last:
            yield _event("progress", job)
            last, quiet = seen, 0.0
        elif quiet >= KEEPALIVE_SECONDS:
            yield ": keep-alive\n\n"
            quiet = 0.0
        await asyncio.sleep(EVENT_POLL_SECONDS)
        quiet += EVENT_POLL_SECONDS
        if await request.is_disconnected():
            return
        job = await run_in_threadpool(job_views.get_job, dbs, job["id"], workspace=workspace)


@router.get(
    "/{job_id}/events",
    response_class=StreamingResponse,
    responses={
        200: {
            "content": {"text/event-stream": {"schema": {"type": "string"}}},
            "description": "`progress` events while the job runs, then one `end` event",
        },
        **error_responses(404),
    },
)
async def job_events(job_id: JobId, request: Request, dbs: Dbs, principal: Reader) -> Any:
    """Server-Sent Events: `progress` (the job, whenever it changes), then `end` (final)."""
    first = await run_in_threadpool(job_views.get_job, dbs, job_id, workspace=principal.workspace)
    return StreamingResponse(
        _events(request, dbs, principal.workspace, first),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


@router.post(
    "/{job_id}/cancel", status_code=202, response_model=Job, responses=error_responses(404, 409)
)
def cancel_job(job_id: JobId, dbs: Dbs, principal: Writer) -> dict[str, Any]:
    """Cancel a job: at once when it waits; a running job is rolled back by its worker
    (`cancel_requested` until then)."""
    jobs.cancel_job(dbs, principal.workspace, job_id)
    return job_views.get_job(dbs, job_id, workspace=principal.workspace)
