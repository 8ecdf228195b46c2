"""Records: one record by its key, and a dataset's versions."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import JSONResponse

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
    principal: Reader,
    key: Annotated[
        str,
        Path(
            description="The key's value; for a composite key the key fields' values joined "
            "by `,` in the dataset's key order (URL-encoded, e.g. `A%2F1,2024-01-31`)"
        ),
    ],
) -> JSONResponse:
    """One record, with its fields as JSON types (dates and datetimes as ISO 8601 text)."""
    # The most frequent read runs without a thread: awaited on PostgreSQL, and on SQLite read
    # here, on connections of the event loop's own (see db.engine.event_loop_reads). Its values
    # are JSON's already, so the answer is written as it is, not validated again.
    state = request.app.state
    if state.async_reads is not None:
        record = await records.read_record(state.async_reads, principal.workspace, name, key)
    else:
        record = records.get_record(state.loop_dbs, principal.workspace, name, key)
    return JSONResponse(record)


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
