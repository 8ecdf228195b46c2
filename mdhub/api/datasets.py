"""Datasets: list, create, read, change, delete."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from mdhub.api.answers import respond
from mdhub.api.auth import Admin, Reader
from mdhub.api.deps import Dbs, IdempotencyKey
from mdhub.api.schemas import Dataset, DatasetCreate, DatasetList, DatasetPatch, error_responses
from mdhub.services import datasets, idempotency
from mdhub.services.idempotency import Answer

router = APIRouter(prefix="/datasets", tags=["datasets"])


@router.get("", response_model=DatasetList, responses=error_responses())
def list_datasets(
    dbs: Dbs,
    principal: Reader,
    cursor: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict[str, Any]:
    """Datasets by name; pass `next` as `cursor` for the next page."""
    found = datasets.list_datasets(dbs, principal.workspace, after=cursor, limit=limit + 1)
    page = found[:limit]
    return {
        "results": [d.to_dict() for d in page],
        "next": page[-1].name if len(found) > limit else None,
    }


@router.post(
    "",
    status_code=201,
    response_model=Dataset,
    responses=error_responses(409, 422),
)
async def create_dataset(
    body: DatasetCreate,
    request: Request,
    dbs: Dbs,
    principal: Admin,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    """Create a dataset with a Table Schema (or none: the first file's columns decide)."""
    workspace = principal.workspace

    def create() -> Answer:
        created = datasets.create_dataset(
            dbs,
            workspace,
            body.name,
            schema=body.schema_,
            keys=body.keys,
            schema_policy=body.schema_policy,
        )
        return Answer(201, created.to_dict(), f"/api/v1/datasets/{created.name}")

    request_fingerprint = idempotency.fingerprint(
        method="POST", path=request.url.path, body=body.model_dump()
    )
    return respond(
        await run_in_threadpool(
            idempotency.once, dbs, workspace, idempotency_key, request_fingerprint, create
        )
    )


@router.get("/{name}", response_model=Dataset, responses=error_responses(404))
def get_dataset(name: str, dbs: Dbs, principal: Reader) -> dict[str, Any]:
    """Schema, keys, row count, current version and last job."""
    return datasets.get_dataset(dbs, principal.workspace, name).to_dict()


@router.patch("/{name}", response_model=Dataset, responses=error_responses(404))
def patch_dataset(name: str, body: DatasetPatch, dbs: Dbs, principal: Admin) -> dict[str, Any]:
    """Change the schema policy."""
    found = datasets.update_dataset(
        dbs, principal.workspace, name, schema_policy=body.schema_policy
    )
    return found.to_dict()


@router.delete("/{name}", status_code=204, responses=error_responses(404))
def delete_dataset(name: str, dbs: Dbs, principal: Admin) -> Response:
    """Delete a dataset, its rows and its history."""
    datasets.delete_dataset(dbs, principal.workspace, name)
    return Response(status_code=204)
