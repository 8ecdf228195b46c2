"""Secondary indexes on a dataset's fields, declared by its admin."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/datasets", tags=["records"])
