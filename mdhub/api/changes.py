"""What changed in a dataset after a version, streamed for incremental sync."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse

from mdhub.api.auth import Reader
from mdhub.api.deps import ID_MAX, Dbs
from mdhub.api.schemas import ErrorBody, error_responses
from mdhub.api.streaming import VERSION_HEADER, SnapshotResponse
from mdhub.services import changes

router = APIRouter(prefix="/datasets", tags=["records"])

NDJSON = "application/x-ndjson"

RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "One JSON object per line, ordered by version then key: "
        '`{"op": "upsert", "version", "key", "record"}` (the record as it is now), '
        '`{"op": "delete", "version", "key", "record": null}` (the key is gone), and last '
        '`{"op": "end", "version", "count"}`, whose `version` is the `since` of the next call',
        "content": {NDJSON: {"schema": {"type": "string"}}},
        "headers": {
            VERSION_HEADER: {
                "description": "The version the changes run up to (the next `since`)",
                "required": True,
                "schema": {"type": "integer"},
            }
        },
    },
    **error_responses(404),
    410: {
        "model": ErrorBody,
        "description": "Changes since this version are no longer known (a full load, or "
        "history past MDHUB_CHANGE_RETENTION_DAYS): download the dataset with `/export`",
    },
}


@router.get(
    "/{name}/changes",
    response_class=StreamingResponse,
    status_code=200,
    responses=RESPONSES,
)
def list_changes(
    name: str,
    dbs: Dbs,
    principal: Reader,
    since: Annotated[
        int,
        Query(
            ge=0,
            le=ID_MAX,
            description="The version the consumer has: the `version` of the previous call's "
            "`end` line (or the dataset's version before a full download)",
        ),
    ],
) -> SnapshotResponse:
    """For each key changed after version `since`, its latest change with the record as it is
    now, or a tombstone if the key is gone, streamed as NDJSON from one snapshot."""
    stream = changes.open_changes(dbs, principal.workspace, name, since)
    return SnapshotResponse(stream, media_type=NDJSON, headers={"Cache-Control": "no-store"})
