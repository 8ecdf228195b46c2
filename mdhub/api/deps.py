"""What handlers get from the app (`app.state`), as FastAPI dependencies.

They are `async` because they do no I/O: FastAPI runs a plain `def` dependency in its thread
pool, a hand-off per request and dependency."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Header, Path, Query, Request

from mdhub.config import Settings
from mdhub.db.engine import Databases
from mdhub.errors import InvalidRequest
from mdhub.storage import Storage

# Ids are 64-bit signed integers in both databases: a larger number is a 400, not a 500.
ID_MAX = 2**63 - 1


async def get_dbs(request: Request) -> Databases:
    return request.app.state.dbs  # type: ignore[no-any-return]


async def get_storage(request: Request) -> Storage:
    return request.app.state.storage  # type: ignore[no-any-return]


async def get_settings(request: Request) -> Settings:
    return request.app.state.settings  # type: ignore[no-any-return]


async def no_nul_characters(request: Request) -> None:
    """Refuse a NUL character in the path or query (PostgreSQL text cannot hold one): 400."""
    query = request.query_params.multi_items()
    texts = [request.scope["path"], *(text for pair in query for text in pair)]
    if any("\x00" in text for text in texts):
        raise InvalidRequest("the path or query string contains a NUL character (%00)")


Dbs = Annotated[Databases, Depends(get_dbs)]
Store = Annotated[Storage, Depends(get_storage)]
Config = Annotated[Settings, Depends(get_settings)]
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        max_length=255,
        description="Send the same key to retry safely: the first answer is given again",
    ),
]
JobId = Annotated[int, Path(ge=1, le=ID_MAX, description="The job's id")]
Cursor = Annotated[int | None, Query(ge=0, le=ID_MAX, description="`next` of the previous page")]
Limit = Annotated[int, Query(ge=1, le=1000)]


def page_of(found: list[dict[str, Any]], limit: int, by: str) -> dict[str, Any]:
    """A list's page: the first `limit` of `found` (read with one more, to tell whether a next
    page exists), and the next page's cursor, the last one's `by`."""
    page = found[:limit]
    return {"results": page, "next": page[-1][by] if len(found) > limit else None}
