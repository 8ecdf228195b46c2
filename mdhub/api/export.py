"""Export a whole dataset from one consistent snapshot, streamed."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, Query
from fastapi.responses import StreamingResponse

from mdhub.api.auth import Reader
from mdhub.api.deps import Dbs
from mdhub.api.schemas import error_responses
from mdhub.api.streaming import VERSION_HEADER, SnapshotResponse
from mdhub.services import export
from mdhub.services.export_formats import FORMATS

router = APIRouter(prefix="/datasets", tags=["records"])

GZIP_FILE = "application/gzip"


def _schema(media_type: str) -> dict[str, Any]:
    """What a format's body is: JSON an array of records; the others bytes or text."""
    if media_type == "application/json":
        return {"type": "array", "items": {"type": "object"}}
    if media_type.endswith("parquet") or media_type == "application/octet-stream":
        return {"type": "string", "format": "binary"}
    return {"type": "string"}


RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The dataset, rows in key order, streamed (chunked, no trailers)",
        "content": {
            **{fmt.media_type: {"schema": _schema(fmt.media_type)} for fmt in FORMATS.values()},
            GZIP_FILE: {"schema": {"type": "string", "format": "binary"}},
        },
        "headers": {
            VERSION_HEADER: {
                "description": "The dataset's version the export shows: the `since` to follow "
                "its changes from (`GET …/changes?since=`)",
                "required": True,
                "schema": {"type": "integer"},
            },
            "Content-Disposition": {
                "description": '`attachment; filename="<name>.<format>[.gz]"`',
                "schema": {"type": "string"},
            },
        },
    },
    **error_responses(404),
}


def accepts_gzip(accept_encoding: str | None) -> bool:
    """Whether an Accept-Encoding header accepts gzip (`gzip` or `x-gzip`, q above 0)."""
    for item in (accept_encoding or "").split(","):
        coding, _, params = item.strip().partition(";")
        if coding.strip().lower() not in ("gzip", "x-gzip"):
            continue
        name, _, value = params.strip().partition("=")
        if name.strip().lower() != "q":
            return True
        try:
            return float(value) > 0
        except ValueError:
            return False
    return False


@router.get(
    "/{name}/export",
    response_class=StreamingResponse,
    status_code=200,
    responses=RESPONSES,
)
def export_dataset(
    name: str,
    dbs: Dbs,
    principal: Reader,
    format: Annotated[
        Literal["csv", "ndjson", "json", "parquet"], Query(description="The file format")
    ] = "csv",
    compression: Annotated[
        Literal["gzip"] | None,
        Query(description="`gzip`: download a `.gz` file (Content-Type application/gzip)"),
    ] = None,
    accept_encoding: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> SnapshotResponse:
    """The whole dataset from one snapshot: a job that commits meanwhile changes nothing in
    the download. CSV has a header line and reads back into the same schema; NDJSON and JSON
    hold each record as `GET …/records/{key}` answers it; Parquet has typed columns (objects
    and arrays as JSON text). Sent gzip-compressed with `Accept-Encoding: gzip`."""
    as_file = compression == "gzip"
    encoded = not as_file and accepts_gzip(accept_encoding)
    stream = export.open_export(
        dbs, principal.workspace, name, format=format, gzip=as_file or encoded
    )
    filename = stream.filename + (".gz" if as_file else "")
    headers = {
        "Content-Disposition": f'attachment; filename="{filename}"',
        "Cache-Control": "no-store",
        "Vary": "Accept-Encoding",
    }
    if encoded:
        headers["Content-Encoding"] = "gzip"
    media_type = GZIP_FILE if as_file else stream.media_type
    return SnapshotResponse(stream, media_type=media_type, headers=headers)
