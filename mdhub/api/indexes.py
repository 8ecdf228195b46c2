"""Secondary indexes on a dataset's fields, declared by its admin."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response

from mdhub.api.auth import Admin, Reader
from mdhub.api.deps import Dbs
from mdhub.api.schemas import Index, IndexCreate, IndexList, error_responses
from mdhub.services import indexes

router = APIRouter(prefix="/datasets", tags=["records"])


@router.get("/{name}/indexes", response_model=IndexList, responses=error_responses(404))
def list_indexes(name: str, dbs: Dbs, principal: Reader) -> dict[str, Any]:
    """The dataset's secondary indexes (the key has its own)."""
    return {"results": indexes.list_indexes(dbs, principal.workspace, name), "next": None}


@router.post(
    "/{name}/indexes",
    status_code=201,
    response_model=Index,
    responses=error_responses(400, 404, 409),
)
def create_index(name: str, body: IndexCreate, dbs: Dbs, principal: Admin) -> dict[str, Any]:
    """Index fields used in `find` filters and sorts. Jobs on the dataset wait while the index
    is built; reads go on."""
    return indexes.create_index(dbs, principal.workspace, name, body.fields)


@router.delete("/{name}/indexes/{index}", status_code=204, responses=error_responses(404))
def drop_index(name: str, index: str, dbs: Dbs, principal: Admin) -> Response:
    indexes.drop_index(dbs, principal.workspace, name, index)
    return Response(status_code=204)
