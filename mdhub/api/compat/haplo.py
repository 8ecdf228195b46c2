"""Haplo's batch import API, under /compat/haplo: mapped onto mdhub's datasets and jobs.

HTTP Basic with the API key as the password. Answers are plain text as Haplo's are (a digest,
the batch id, `SCHEDULED`); errors keep mdhub's error shape. The batch id is the mdhub job id.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import PlainTextResponse

from mdhub.api.auth import Writer
from mdhub.api.deps import Config, Dbs, Store
from mdhub.api.schemas import error_responses, multipart_body
from mdhub.api.uploads import MultipartUpload, receive_multipart
from mdhub.core.security import role_allows
from mdhub.errors import InvalidRequest
from mdhub.services import compat_haplo
from mdhub.storage import Storage, StoredObject

router = APIRouter(prefix="/compat/haplo/api/haplo-data-import-batch", tags=["compat: haplo"])

_TEXT: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/plain": {"schema": {"type": "string"}}}}
}


def _multipart(*fields: str) -> dict[str, Any]:
    return multipart_body({name: {"type": "string"} for name in fields})


async def _form_with_file(
    request: Request, storage: Storage, limit: int, fields: set[str]
) -> tuple[dict[str, str], StoredObject]:
    """The form's text fields (only `fields`) and its stored `file`."""
    upload: MultipartUpload = await receive_multipart(
        request.stream(), request.headers.get("content-type", ""), storage.writer, limit=limit
    )
    if upload.file is None:
        raise InvalidRequest("the multipart body has no `file` part")
    unknown = sorted(set(upload.fields) - fields)
    if unknown:
        raise InvalidRequest(
            f"unknown form field(s) {', '.join(unknown)} (known: {', '.join(sorted(fields))})",
            {"unknown": unknown},
        )
    return upload.fields, upload.file


@router.post(
    "/control",
    responses={**error_responses(413), **_TEXT},
    openapi_extra=_multipart("comment"),
)
async def upload_control(
    request: Request, storage: Store, settings: Config, principal: Writer
) -> PlainTextResponse:
    """Upload a control file (checked): its digest, as plain text."""
    _, stored = await _form_with_file(request, storage, settings.max_upload_bytes, {"comment"})
    with storage.local_path(stored.key) as path:
        await run_in_threadpool(compat_haplo.read_control, path)
    return PlainTextResponse(stored.sha256)


@router.post("/batch", responses={**error_responses(404), **_TEXT})
def create_batch(
    control: Annotated[str, Form(max_length=100)],
    dbs: Dbs,
    storage: Store,
    principal: Writer,
    comment: Annotated[str, Form(max_length=10_000)] = "",
) -> PlainTextResponse:
    """Create a batch from an uploaded control file: its id (an mdhub job id), as plain text.
    The `comment` is accepted as Haplo clients send it, and not kept."""
    job_id = compat_haplo.create_batch(
        dbs,
        storage,
        principal.workspace,
        control,
        may_create=role_allows(principal.role, "admin"),
    )
    return PlainTextResponse(str(job_id))


@router.post(
    "/file",
    responses={**error_responses(404, 409, 413), **_TEXT},
    openapi_extra=_multipart("batch", "name"),
)
async def upload_file(
    request: Request, dbs: Dbs, storage: Store, settings: Config, principal: Writer
) -> PlainTextResponse:
    """Upload one file of a batch (`name` as in the control file): its digest, as plain text."""
    fields, stored = await _form_with_file(
        request, storage, settings.max_upload_bytes, {"batch", "name"}
    )
    if not fields.get("batch") or not fields.get("name"):
        raise InvalidRequest("the form needs `batch` and `name` with the `file`")
    await run_in_threadpool(
        compat_haplo.add_file, dbs, principal.workspace, fields["batch"], fields["name"], stored
    )
    return PlainTextResponse(stored.sha256)


@router.post("/schedule", responses={**error_responses(404, 409), **_TEXT})
def schedule(
    batch: Annotated[str, Form(max_length=100)],
    request: Request,
    dbs: Dbs,
    principal: Writer,
    mode: Annotated[str, Form(max_length=20)] = "",
) -> PlainTextResponse:
    """Start the batch's job (`mode=dry-run`: as a dry run): `SCHEDULED`."""
    compat_haplo.schedule(dbs, principal.workspace, batch, mode)
    request.app.state.wake_workers()
    return PlainTextResponse("SCHEDULED")
