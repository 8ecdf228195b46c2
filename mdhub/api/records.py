"""Records: one record by its key, and a dataset's versions."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.concurrency import run_in_threadpool

from mdhub.api.auth import Reader
from mdhub.api.deps import Dbs
from mdhub.api.schemas import VersionList, error_responses
from mdhub.services import records

router = APIRouter(prefix="/datasets", tags=["records"])


@router.get(
    "/{name}/records/{key:path}",
    response_model=dict[str, Any],
    responses=error_responses(404),
)
async def get_record(
    request: Request,
    name: str,
    dbs: Dbs,
    principal: Reader,
    key: Annotated[
        str,
        Path(
            description="The key's value; for a composite key the key fields' values joined "
            "by `,` in the dataset's key order (URL-encoded, e.g. `A%2F1,2024-01-31`)"
        ),
    ],
) -> dict[str, Any]:
    """One record, with its fields as JSON types (dates and datetimes as ISO 8601 text)."""
    # The most frequent read: on PostgreSQL awaited here, without a thread.
    reads = request.app.state.async_reads
    if reads is not None:
        return await records.read_record(reads, principal.workspace, name, key)
    return await run_in_threadpool(records.get_record, dbs, principal.workspace, name, key)


@router.get("/{name}/versions", response_model=VersionList, responses=error_responses(404))
def list_versions(
    name: str,
    dbs: Dbs,
    principal: Reader,
    cursor: Annotated[int | None, Query(ge=1)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict[str, Any]:
    """Versions newest first, with their job and counts; pass `next` as `cursor` for older."""
    found = records.list_versions(dbs, principal.workspace, name, before=cursor, limit=limit + 1)
    page = found[:limit]
    return {"results": page, "next": page[-1]["version"] if len(found) > limit else None}
