"""Datasets: list, create, read, change, delete."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response
from fastapi.concurrency import run_in_threadpool

from mdhub.api.auth import Admin, Reader
from mdhub.api.deps import Dbs
from mdhub.api.schemas import Dataset, DatasetCreate, DatasetList, DatasetPatch, error_responses
from mdhub.services import datasets

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
    responses=error_responses(409),
)
async def create_dataset(
    body: DatasetCreate, dbs: Dbs, principal: Admin, response: Response
) -> dict[str, Any]:
    """Create a dataset with a Table Schema (or none: the first file's columns decide)."""
    created = await run_in_threadpool(
        datasets.create_dataset,
        dbs,
        principal.workspace,
        body.name,
        schema=body.schema_,
        keys=body.keys,
        schema_policy=body.schema_policy,
    )
    response.headers["Location"] = f"/api/v1/datasets/{created.name}"
    return created.to_dict()


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
