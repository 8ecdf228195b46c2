"""What handlers get from the app (`app.state`), as FastAPI dependencies."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Request

from mdhub.config import Settings
from mdhub.db.engine import Databases
from mdhub.storage import Storage

DEFAULT_WORKSPACE = "default"


def get_dbs(request: Request) -> Databases:
    return request.app.state.dbs  # type: ignore[no-any-return]


def get_storage(request: Request) -> Storage:
    return request.app.state.storage  # type: ignore[no-any-return]


def get_settings(request: Request) -> Settings:
    return request.app.state.settings  # type: ignore[no-any-return]


def get_workspace() -> str:
    """The workspace a request acts in."""
    return DEFAULT_WORKSPACE


Dbs = Annotated[Databases, Depends(get_dbs)]
Store = Annotated[Storage, Depends(get_storage)]
Config = Annotated[Settings, Depends(get_settings)]
Workspace = Annotated[str, Depends(get_workspace)]
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        max_length=255,
        description="Send the same key to retry safely: the first answer is given again",
    ),
]
