"""Veracity Data Workbench's dataset ingest, under /compat/veracity: mapped onto mdhub's
datasets and jobs (see docs/compat-veracity.md).

The token endpoint is public (the client credentials are checked); the ingest endpoints take
mdhub credentials; the upload URLs (`/dfs/...`) speak the Data Lake file protocol and are
authorized by their signature alone.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Form, Path, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from mdhub.api.auth import Reader, Writer
from mdhub.api.deps import Config, Dbs, JobId, Store
from mdhub.api.schemas import error_responses
from mdhub.errors import (
    Conflict,
    Forbidden,
    InvalidRequest,
    MdhubError,
    NotFound,
    PayloadTooLarge,
    Unauthorized,
)
from mdhub.services import compat_veracity, compat_veracity_dfs, compat_veracity_sas, jobs

router = APIRouter(prefix="/compat/veracity", tags=["compat: veracity"])

WorkspaceId = Annotated[str, Path(max_length=64, description="The credential's workspace")]
FileName = Annotated[str, Path(max_length=255)]
Position = Annotated[int, Query(ge=0)]
# Azure's error codes for what went wrong, as its storage clients expect them.
AZURE_CODES: list[tuple[type[MdhubError], int, str]] = [
    (Forbidden, 403, "AuthenticationFailed"),
    (NotFound, 404, "PathNotFound"),
    (Conflict, 409, "PathConflict"),
    (PayloadTooLarge, 413, "RequestBodyTooLarge"),
    (InvalidRequest, 400, "InvalidInput"),
]


class IngestFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    fileName: str = Field(min_length=1, max_length=255)
    operation: str = Field(description="Upsert, Delete, Overwrite or Append")


class IngestRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    files: list[IngestFile] = Field(min_length=1, max_length=100)
    startAutomatically: bool = False


OAUTH_ERRORS: dict[int | str, dict[str, Any]] = {
    status: {
        "description": f"{meaning}: OAuth2's `{{error, error_description}}` (mdhub's error shape "
        "for a malformed form)",
        "content": {"application/json": {"schema": {"type": "object"}}},
    }
    for status, meaning in ((400, "Invalid request"), (401, "Wrong client id or secret"))
}


@router.post(
    "/oauth2/token",
    summary="OAuth2 client-credentials token (API key)",
    responses={**error_responses(public=True), **OAUTH_ERRORS},
)
def token(
    dbs: Dbs,
    grant_type: Annotated[str, Form()] = "",
    client_id: Annotated[str, Form(max_length=255)] = "",
    client_secret: Annotated[str, Form(max_length=255)] = "",
    resource: Annotated[str, Form(max_length=2048)] = "",
) -> JSONResponse:
    """`grant_type=client_credentials`, `client_id` (the API key's name, prefix or id) and
    `client_secret` (the key) → `{access_token, expires_in, token_type}`; `resource` is
    ignored. Errors are OAuth2's: `{error, error_description}`."""
    if grant_type != "client_credentials":
        return _oauth_error(400, "unsupported_grant_type", "only client_credentials is supported")
    try:
        return JSONResponse(compat_veracity.issue_token(dbs, client_id, client_secret))
    except Unauthorized as exc:
        return _oauth_error(401, "invalid_client", exc.message)


def _oauth_error(status: int, code: str, description: str) -> JSONResponse:
    return JSONResponse({"error": code, "error_description": description}, status_code=status)


@router.put(
    "/workspaces/{workspace_id}/ingest/dataset/{dataset_id}", responses=error_responses(404)
)
def ingest_dataset(
    workspace_id: WorkspaceId,
    dataset_id: Annotated[str, Path(max_length=64, description="The dataset's name")],
    body: IngestRequest,
    request: Request,
    dbs: Dbs,
    principal: Writer,
) -> dict[str, str]:
    """A job with one part per file, waiting for its uploads → `{sasToken, jobId}`: the upload
    URL of the job's directory (an hour, or less if the credential expires sooner)."""
    compat_veracity.check_workspace(principal, workspace_id)
    job_id = compat_veracity.create_ingest_job(
        dbs,
        principal.workspace,
        dataset_id,
        [f.model_dump() for f in body.files],
        start=body.startAutomatically,
    )
    query = compat_veracity_sas.upload_query(dbs, principal, job_id)
    return {
        "sasToken": f"{request.base_url}compat/veracity/dfs/{job_id}?{query}",
        "jobId": str(job_id),
    }


@router.post(
    "/workspaces/{workspace_id}/ingest/job/{job_id}/start", responses=error_responses(404, 409)
)
def start(
    workspace_id: WorkspaceId, job_id: JobId, request: Request, dbs: Dbs, principal: Writer
) -> dict[str, Any]:
    """Queue a job whose files are all uploaded; answers its status."""
    compat_veracity.check_workspace(principal, workspace_id)
    jobs.start_job(dbs, principal.workspace, job_id)
    request.app.state.wake_workers()
    return compat_veracity.job_status(dbs, principal.workspace, job_id)


@router.get("/workspaces/{workspace_id}/ingest/job/{job_id}/status", responses=error_responses(404))
def status(workspace_id: WorkspaceId, job_id: JobId, dbs: Dbs, principal: Reader) -> dict[str, Any]:
    """`{jobId, status, operations, notebookErrorMessage, validationError, dataSetName,
    datasetId}`; status is Created, Running, Completed, Failed or Cancelled."""
    compat_veracity.check_workspace(principal, workspace_id)
    return compat_veracity.job_status(dbs, principal.workspace, job_id)


def _azure_error(exc: MdhubError) -> JSONResponse:
    status, code = 500, "InternalError"
    for kind, kind_status, kind_code in AZURE_CODES:
        if isinstance(exc, kind):
            status, code = kind_status, exc.details.get("azure_code", kind_code)
            break
    return JSONResponse(
        {"error": {"code": code, "message": exc.message}},
        status_code=status,
        headers={"x-ms-error-code": code, **_ms_headers()},
    )


def _ms_headers() -> dict[str, str]:
    return {"x-ms-request-id": str(uuid.uuid4()), "x-ms-version": compat_veracity_sas.SAS_VERSION}


async def _authorized(request: Request, job_id: int, file_name: str) -> str:
    """The job's workspace, once the URL's signature and the file's part are checked."""
    dbs = request.app.state.dbs
    query = dict(request.query_params)
    workspace = await run_in_threadpool(compat_veracity_sas.verify, dbs, job_id, query)
    await run_in_threadpool(compat_veracity_dfs.check_part, dbs, workspace, job_id, file_name)
    return workspace


@router.put("/dfs/{job_id}/{file_name}", include_in_schema=False)
async def create_file(
    job_id: JobId, file_name: FileName, request: Request, config: Config
) -> Response:
    """Data Lake `PUT ?resource=file`: create (or empty) one of the job's files."""
    try:
        if request.query_params.get("resource") != "file":
            raise InvalidRequest("only ?resource=file is supported", {"azure_code": "InvalidUri"})
        await _authorized(request, job_id, file_name)
        compat_veracity_dfs.create(
            compat_veracity_dfs.staging_dir(config.data_dir, job_id, file_name)
        )
    except MdhubError as exc:
        return _azure_error(exc)
    return Response(status_code=201, headers={**_ms_headers(), "ETag": _etag()})


@router.patch("/dfs/{job_id}/{file_name}", include_in_schema=False)
async def update_file(
    job_id: JobId,
    file_name: FileName,
    request: Request,
    config: Config,
    store: Store,
    action: str = "",
    position: Position = 0,
    flush: bool = False,
) -> Response:
    """Data Lake `PATCH ?action=append&position=N` (a piece of the body, in any order) and
    `?action=flush&position=N` (commit `[0, N)`: the file becomes the job's part; the last one
    queues a job started automatically); `append&flush=true` commits what it appended too."""
    staging = compat_veracity_dfs.staging_dir(config.data_dir, job_id, file_name)
    try:
        workspace = await _authorized(request, job_id, file_name)
        if action == "append":
            written = await compat_veracity_dfs.append(
                staging, position, request.stream(), limit=config.max_upload_bytes
            )
            if not flush:
                return Response(status_code=202, headers=_ms_headers())
            position += written
        elif action != "flush":
            raise InvalidRequest("action must be append or flush", {"azure_code": "InvalidUri"})
        await run_in_threadpool(
            compat_veracity_dfs.flush,
            request.app.state.dbs,
            store,
            workspace,
            job_id,
            file_name,
            staging,
            position=position,
        )
    except MdhubError as exc:
        return _azure_error(exc)
    request.app.state.wake_workers()
    # An append answers 202 even when it flushes too (Azure's clients expect nothing else).
    status = 202 if action == "append" else 200
    return Response(status_code=status, headers={**_ms_headers(), "ETag": _etag()})


def _etag() -> str:
    """A new entity tag: Azure's clients read one from a create and send it back on the
    flush (as `If-Match`), which is accepted without being compared."""
    return f'"0x{uuid.uuid4().hex[:16].upper()}"'
