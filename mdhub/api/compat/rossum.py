"""Rossum Master Data Hub, under /compat/rossum: mapped onto mdhub's datasets and jobs.

Rossum's paths follow the prefix unchanged: the login (`/api/v1/auth/login`), the data-matching
dataset writes and operations (`/svc/data-matching/api/v1/...`) and Data Storage's find
(`/svc/data-storage/api/v1/data/find`). See docs/compat-rossum.md.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from mdhub.api.auth import Admin, Reader, Writer
from mdhub.api.deps import Config, Dbs, JobId, Store
from mdhub.api.schemas import error_responses, multipart_body
from mdhub.api.uploads import receive_multipart
from mdhub.config import Settings
from mdhub.core.security import role_allows
from mdhub.db.engine import Databases
from mdhub.errors import InvalidRequest
from mdhub.services import compat_rossum, datasets, sessions, submissions
from mdhub.services.compat_rossum import DatasetWrite, FindBody
from mdhub.services.sessions import Principal
from mdhub.storage import Storage

PREFIX = "/compat/rossum"
MATCHING = "/svc/data-matching/api/v1"
router = APIRouter(prefix=PREFIX, tags=["compat: rossum"])

_WRITE_BODY = multipart_body(
    {
        "encoding": {"type": "string"},
        "id_keys": {"type": "array", "items": {"type": "string"}},
        "update_or_new": {"type": "boolean"},
        "replace_or_new": {"type": "boolean"},
        "delimiter": {"type": "string"},
    }
)


class RossumLogin(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: str = Field(max_length=1000)
    password: str = Field(max_length=1000)


class RossumKey(BaseModel):
    key: str


class FindIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    collectionName: str = Field(max_length=255)
    query: dict[str, Any] = Field(default_factory=dict)
    projection: dict[str, Any] | None = None
    sort: dict[str, Any] | None = None
    skip: int = 0
    limit: int = 0


@router.post(
    "/api/v1/auth/login",
    response_model=RossumKey,
    responses=error_responses(401, 429, public=True),
)
def login(body: RossumLogin, request: Request, dbs: Dbs) -> dict[str, str]:
    """Rossum's login: a token as `key`, sent back as `Authorization: Bearer` (or `token`)."""
    address = request.client.host if request.client else "unknown"
    return {"key": sessions.login(dbs, body.username, body.password, address=address)["token"]}


async def _write(
    method: str,
    dataset_name: str,
    request: Request,
    dbs: Databases,
    storage: Storage,
    settings: Settings,
    principal: Principal,
) -> JSONResponse:
    """Store the form's file, queue its job, answer 202 with the operation in `Location`."""
    upload = await receive_multipart(
        request.stream(),
        request.headers.get("content-type", ""),
        storage.writer,
        limit=settings.max_upload_bytes,
        repeatable=frozenset({"id_keys"}),
    )
    stored = upload.file
    if stored is None:
        raise InvalidRequest("the multipart body has no `file` part")
    if stored.bytes == 0:
        raise InvalidRequest("the uploaded file is empty")
    write = DatasetWrite(
        method=method,
        dataset=dataset_name,
        fields=upload.fields,
        id_keys=upload.lists.get("id_keys", []),
        filename=upload.filename,
    )

    workspace = principal.workspace

    def submit() -> dict[str, Any]:
        job_request = compat_rossum.write_request(dbs, workspace, write)
        may_create = role_allows(principal.role, "admin")
        job_id = submissions.submit_upload(
            dbs, workspace, job_request, stored, may_create=may_create
        )
        return compat_rossum.operation(dbs, workspace, job_id)

    answer = await run_in_threadpool(submit)
    request.app.state.wake_workers()
    location = f"{PREFIX}{MATCHING}/operation/{answer['operation_id']}"
    return JSONResponse(answer, status_code=202, headers={"Location": location})


@router.post(
    MATCHING + "/dataset/{dataset_name}",
    status_code=202,
    responses=error_responses(404, 413, 422),
    openapi_extra=_WRITE_BODY,
)
async def create_dataset(
    dataset_name: str, request: Request, dbs: Dbs, storage: Store, settings: Config, who: Admin
) -> JSONResponse:
    """Create a dataset from a file (admin; 400 if it exists); the operation id in `Location`."""
    return await _write("POST", dataset_name, request, dbs, storage, settings, who)


@router.put(
    MATCHING + "/dataset/{dataset_name}",
    status_code=202,
    responses=error_responses(404, 413, 422),
    openapi_extra=_WRITE_BODY,
)
async def replace_dataset(
    dataset_name: str, request: Request, dbs: Dbs, storage: Store, settings: Config, who: Writer
) -> JSONResponse:
    """Replace a dataset's records with a file's; the operation id in `Location`."""
    return await _write("PUT", dataset_name, request, dbs, storage, settings, who)


@router.patch(
    MATCHING + "/dataset/{dataset_name}",
    status_code=202,
    responses=error_responses(404, 413, 422),
    openapi_extra=_WRITE_BODY,
)
async def update_dataset(
    dataset_name: str, request: Request, dbs: Dbs, storage: Store, settings: Config, who: Writer
) -> JSONResponse:
    """Upsert a file's records by `id_keys`; the operation id in `Location`."""
    return await _write("PATCH", dataset_name, request, dbs, storage, settings, who)


@router.delete(
    MATCHING + "/dataset/{dataset_name}", status_code=204, responses=error_responses(404)
)
def delete_dataset(dataset_name: str, dbs: Dbs, who: Admin) -> Response:
    """Delete a dataset and its records (at once: there is no operation to poll)."""
    datasets.delete_dataset(dbs, who.workspace, dataset_name)
    return Response(status_code=204)


@router.get(MATCHING + "/operation/{operation_id}", responses=error_responses(404))
def get_operation(operation_id: JobId, dbs: Dbs, who: Reader) -> dict[str, Any]:
    """An operation (an mdhub job): `new`, `queued`, `processing`, `finished` or `failed`."""
    return compat_rossum.operation(dbs, who.workspace, operation_id)


@router.post("/svc/data-storage/api/v1/data/find", responses=error_responses(404))
def find_documents(body: FindIn, dbs: Dbs, who: Reader) -> dict[str, Any]:
    """Data Storage's find: `{"result": [...]}`, `_id` being the record's key."""
    found = FindBody(
        collection=body.collectionName,
        query=body.query,
        projection=body.projection,
        sort=body.sort,
        skip=body.skip,
        limit=body.limit,
    )
    return {"result": compat_rossum.find_documents(dbs, who.workspace, found)}
