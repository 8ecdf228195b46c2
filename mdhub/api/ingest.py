"""Ingest: accept files and records as jobs. The upload streams to storage and is stored
durably before the job row commits and the 202 goes out (invariant 2)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from mdhub.api.answers import respond
from mdhub.api.auth import Writer
from mdhub.api.deps import Config, Dbs, IdempotencyKey, JobId, Store
from mdhub.api.schemas import (
    BINARY,
    Format,
    Job,
    JobCreate,
    Operation,
    RecordsJob,
    error_responses,
    multipart_form,
)
from mdhub.api.uploads import receive_multipart, receive_raw
from mdhub.core.security import role_allows
from mdhub.errors import InvalidRequest
from mdhub.services import idempotency, job_views, jobs, submissions
from mdhub.services.idempotency import Answer
from mdhub.storage import StoredObject

router = APIRouter(tags=["jobs"])

_FORM_FIELDS: dict[str, Any] = {
    "operation": {"type": "string", "enum": list(Operation.__args__)},  # type: ignore[attr-defined]
    "format": {"type": "string", "enum": list(Format.__args__)},  # type: ignore[attr-defined]
    "dry_run": {"type": "boolean"},
    "max_errors": {"type": "integer", "minimum": 0},
    "skip_invalid": {"type": "boolean"},
    "keys": {"type": "string", "description": "Comma-separated key fields (creates the dataset)"},
    "delimiter": {"type": "string", "minLength": 1, "maxLength": 1},
    "encoding": {"type": "string"},
    "header": {"type": "boolean"},
    "quote_char": {"type": "string", "minLength": 1, "maxLength": 1},
}
_BINARY = {"schema": BINARY}
UPLOAD_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            **multipart_form(_FORM_FIELDS, closed=True),
            "application/json": {"schema": RecordsJob.model_json_schema()},
            "text/csv": _BINARY,
            "application/x-ndjson": _BINARY,
            "application/octet-stream": _BINARY,
        },
    }
}
PART_BODY: dict[str, Any] = {
    "requestBody": {"required": True, "content": {"application/octet-stream": _BINARY}}
}


def _job_answer(dbs: Any, workspace: str, job_id: int, status: int = 202) -> Answer:
    body = job_views.get_job(dbs, job_id, workspace=workspace)
    return Answer(status=status, body=body, location=f"/api/v1/jobs/{job_id}")


def _created_job(
    dbs: Any, workspace: str, key: str | None, status: int = 202
) -> Callable[[], Answer | None]:
    """The answer about the job an earlier request with `key` created, if it did."""

    def recover() -> Answer | None:
        job_id = jobs.job_for_key(dbs, workspace, key) if key else None
        return _job_answer(dbs, workspace, job_id, status) if job_id else None

    return recover


@router.post(
    "/datasets/{name}/jobs",
    status_code=202,
    response_model=Job,
    responses=error_responses(404, 409, 413, 422),
    openapi_extra=UPLOAD_BODY,
)
async def submit_job(
    name: str,
    request: Request,
    dbs: Dbs,
    storage: Store,
    settings: Config,
    principal: Writer,
    idempotency_key: IdempotencyKey = None,
    operation: Operation | None = None,
    format: Format | None = None,
    dry_run: bool | None = None,
    max_errors: Annotated[int | None, Query(ge=0)] = None,
    skip_invalid: bool | None = None,
    keys: Annotated[str | None, Query(max_length=1000)] = None,
    filename: Annotated[str | None, Query(max_length=255)] = None,
) -> JSONResponse:
    """Apply one file (multipart `file`, or the raw body) or inline JSON records to a dataset.

    Options come as form fields or query parameters. Answers 202 with the job and its URL in
    `Location`; watch it at `/api/v1/jobs/{id}` or `/events`.
    """
    fields = {
        key: str(value).lower() if isinstance(value, bool) else str(value)
        for key, value in request.query_params.items()
    }
    content_type = request.headers.get("content-type", "")
    limit = settings.max_upload_bytes
    if content_type.startswith("multipart/form-data"):
        upload = await receive_multipart(
            request.stream(), content_type, storage.writer, limit=limit
        )
        if upload.file is None:
            raise InvalidRequest("the multipart body has no `file` part")
        submissions.check_option_names(upload.fields, "form field(s)")
        fields.update(upload.fields)
        stored, given_name = upload.file, upload.filename or filename
        job_request = submissions.job_request(name, fields, given_name)
    else:
        stored = await receive_raw(request.stream(), storage.writer(), limit=limit)
        if content_type.startswith("application/json"):
            with storage.local_path(stored.key) as path:
                job_request = await run_in_threadpool(
                    submissions.inline_request, name, path, fields
                )
        else:
            job_request = submissions.job_request(name, fields, filename)
    if stored.bytes == 0:
        raise InvalidRequest("the uploaded file is empty")
    request_fingerprint = idempotency.fingerprint(
        method="POST", path=request.url.path, request=job_request, sha256=stored.sha256
    )

    def create() -> Answer:
        job_id = submissions.submit_upload(
            dbs,
            principal.workspace,
            job_request,
            stored,
            may_create=role_allows(principal.role, "admin"),
            idempotency_key=idempotency_key,
        )
        return _job_answer(dbs, principal.workspace, job_id)

    answer = await run_in_threadpool(
        idempotency.once,
        dbs,
        principal.workspace,
        idempotency_key,
        request_fingerprint,
        create,
        _created_job(dbs, principal.workspace, idempotency_key),
    )
    request.app.state.wake_workers()
    return respond(answer)


@router.post(
    "/jobs",
    status_code=201,
    response_model=Job,
    responses=error_responses(404, 409, 422),
)
def create_job(
    body: JobCreate,
    request: Request,
    dbs: Dbs,
    principal: Writer,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    """A multi-part job in `created`: upload each part with PUT, then start it."""
    parts = [
        jobs.NewPart(
            dataset=p.dataset,
            operation=p.operation,
            format=p.format,
            name=p.name,
            read_options=p.options.model_dump(exclude_none=True),
        )
        for p in body.parts
    ]

    def create() -> Answer:
        job_id = jobs.create_job(
            dbs,
            principal.workspace,
            parts,
            dry_run=body.dry_run,
            max_errors=body.max_errors,
            start=body.start,
            idempotency_key=idempotency_key,
        )
        return _job_answer(dbs, principal.workspace, job_id, status=201)

    request_fingerprint = idempotency.fingerprint(
        method="POST", path=request.url.path, body=body.model_dump()
    )
    recover = _created_job(dbs, principal.workspace, idempotency_key, status=201)
    return respond(
        idempotency.once(
            dbs, principal.workspace, idempotency_key, request_fingerprint, create, recover
        )
    )


@router.put(
    "/jobs/{job_id}/parts/{part}",
    response_model=Job,
    responses=error_responses(404, 409, 413),
    openapi_extra=PART_BODY,
)
async def upload_part(
    job_id: JobId,
    part: str,
    request: Request,
    dbs: Dbs,
    storage: Store,
    settings: Config,
    principal: Writer,
) -> JSONResponse:
    """Upload one part's bytes (again to replace them, until the job starts)."""
    await run_in_threadpool(job_views.get_job, dbs, job_id, workspace=principal.workspace)
    stored: StoredObject = await receive_raw(
        request.stream(), storage.writer(), limit=settings.max_upload_bytes
    )
    await run_in_threadpool(jobs.attach_part, dbs, principal.workspace, job_id, part, stored)
    request.app.state.wake_workers()
    return respond(await run_in_threadpool(_job_answer, dbs, principal.workspace, job_id, 200))


@router.post(
    "/jobs/{job_id}/start",
    status_code=202,
    response_model=Job,
    responses=error_responses(404, 409),
)
def start_job(job_id: JobId, request: Request, dbs: Dbs, principal: Writer) -> JSONResponse:
    """Queue a job whose parts are all uploaded."""
    jobs.start_job(dbs, principal.workspace, job_id)
    request.app.state.wake_workers()
    return respond(_job_answer(dbs, principal.workspace, job_id))
