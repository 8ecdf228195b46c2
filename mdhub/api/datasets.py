"""Datasets: list, create, read, change, delete."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response
from fastapi.concurrency import run_in_threadpool

from mdhub.api.deps import Dbs, Workspace
from mdhub.api.schemas import Dataset, DatasetCreate, DatasetList, DatasetPatch, error_responses
from mdhub.services import datasets

router = APIRouter(prefix="/datasets", tags=["datasets"])


@router.get("", response_model=DatasetList, responses=error_responses())
def list_datasets(
    dbs: Dbs,
    workspace: Workspace,
    cursor: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict[str, Any]:
    """Datasets by name; pass `next` as `cursor` for the next page."""
    found = datasets.list_datasets(dbs, workspace, after=cursor, limit=limit + 1)
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
    body: DatasetCreate, dbs: Dbs, workspace: Workspace, response: Response
) -> dict[str, Any]:
    """Create a dataset with a Table Schema (or none: the first file's columns decide)."""
    created = await run_in_threadpool(
        datasets.create_dataset,
        dbs,
        workspace,
        body.name,
        schema=body.schema_,
        keys=body.keys,
        schema_policy=body.schema_policy,
    )
    response.headers["Location"] = f"/api/v1/datasets/{created.name}"
    return created.to_dict()


@router.get("/{name}", response_model=Dataset, responses=error_responses(404))
def get_dataset(name: str, dbs: Dbs, workspace: Workspace) -> dict[str, Any]:
    """Schema, keys, row count, current version and last job."""
    return datasets.get_dataset(dbs, workspace, name).to_dict()


@router.patch("/{name}", response_model=Dataset, responses=error_responses(404))
def patch_dataset(name: str, body: DatasetPatch, dbs: Dbs, workspace: Workspace) -> dict[str, Any]:
    """Change the schema policy."""
    return datasets.update_dataset(dbs, workspace, name, schema_policy=body.schema_policy).to_dict()


@router.delete("/{name}", status_code=204, responses=error_responses(404))
def delete_dataset(name: str, dbs: Dbs, workspace: Workspace) -> Response:
    """Delete a dataset, its rows and its history."""
    datasets.delete_dataset(dbs, workspace, name)
    return Response(status_code=204)
