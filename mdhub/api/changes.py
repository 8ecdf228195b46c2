"""What changed in a dataset after a version, streamed for incremental sync."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/datasets", tags=["records"])
