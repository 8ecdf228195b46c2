"""Find records with a filter in a subset of the MongoDB query language."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from mdhub.api.auth import Reader
from mdhub.api.deps import Dbs
from mdhub.api.schemas import FindPage, FindQuery, error_responses
from mdhub.services import find as finding

router = APIRouter(prefix="/datasets", tags=["records"])


@router.post("/{name}/find", response_model=FindPage, responses=error_responses(400, 404))
def find(name: str, query: FindQuery, dbs: Dbs, principal: Reader) -> dict[str, Any]:
    """One page of the records that match `filter`, in `sort` order then key order.

    Pass `next` back as `cursor` (with the same filter and sort) for the next page: paging by
    cursor never returns a record twice, even while jobs change the dataset.
    """
    request = finding.FindRequest(**query.model_dump())
    return finding.find(dbs, principal.workspace, name, request)
