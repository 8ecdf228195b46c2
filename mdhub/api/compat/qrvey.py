"""Qrvey's post-data API, under /compat/qrvey: mapped onto mdhub's datasets and jobs.

The postdata URL is any path below /compat/qrvey (e.g. /compat/qrvey/Prod/dataload); its
`/postdata` and `/{jobId}/status` work below it. The key (`x-api-key`) decides the workspace.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool

from mdhub.api.auth import Reader, Writer
from mdhub.api.deps import ID_MAX, Config, Dbs, Store
from mdhub.api.schemas import error_responses
from mdhub.api.uploads import receive_raw
from mdhub.errors import NotFound
from mdhub.services import compat_qrvey, submissions

router = APIRouter(prefix="/compat/qrvey", tags=["compat: qrvey"])

POSTDATA_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["datasetId", "data"],
                    "properties": {
                        "datasetId": {"type": "string", "description": "An mdhub dataset"},
                        "documentUpdateMethod": {
                            "type": "string",
                            "enum": list(compat_qrvey.METHODS),
                        },
                        "data": {"type": "array", "items": {"type": "object"}},
                    },
                }
            }
        },
    }
}


@router.post(
    "/{base:path}/postdata",
    responses=error_responses(404, 413, 422),
    openapi_extra=POSTDATA_BODY,
)
async def postdata(
    base: str,
    request: Request,
    dbs: Dbs,
    storage: Store,
    settings: Config,
    principal: Writer,
) -> dict[str, str]:
    """Post records to a dataset as a job: `{"jobId": "..."}` (an mdhub job id)."""
    stored = await receive_raw(request.stream(), storage.writer(), limit=settings.max_upload_bytes)
    with storage.local_path(stored.key) as path:
        job_request = await run_in_threadpool(
            compat_qrvey.postdata_request, dbs, principal.workspace, path
        )
    job_id = await run_in_threadpool(
        submissions.submit_upload,
        dbs,
        principal.workspace,
        job_request,
        stored,
        may_create=False,
    )
    request.app.state.wake_workers()
    return {"jobId": str(job_id)}


@router.get("/{base:path}/{job_id}/status", responses=error_responses(404))
def job_status(base: str, job_id: str, dbs: Dbs, principal: Reader) -> dict[str, Any]:
    """A job's `statusJob` and `jobCompletionStatistics`."""
    if not job_id.isdecimal() or not 1 <= int(job_id) <= ID_MAX:
        raise NotFound(f"job {job_id} not found")
    return compat_qrvey.job_status(dbs, principal.workspace, int(job_id))


@router.get("/devapi/v4/user/{user_id}/qollect/dataset/all", responses=error_responses())
@router.post("/devapi/v4/user/{user_id}/qollect/dataset/all", responses=error_responses())
def all_datasets(user_id: str, dbs: Dbs, principal: Reader) -> dict[str, Any]:
    """Qrvey's Get All Datasets: the workspace's datasets (the QrveyID is not used: the key
    decides the workspace)."""
    return compat_qrvey.dataset_list(dbs, principal.workspace)
