"""Records: one record by its key, and a dataset's versions."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import JSONResponse
from starlette.datastructures import State

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
    # Most lookups are answered before they get here (api.lookup_shortcut), the same way.
    return JSONResponse(await lookup(request.app.state, principal.workspace, name, key))


async def lookup(state: State, workspace: str, name: str, key: str) -> dict[str, Any]:
    """A record by its key (see services.lookups)."""
    return await state.lookups.record(workspace, name, key)  # type: ignore[no-any-return]


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
