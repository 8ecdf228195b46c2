"""Export a whole dataset from one consistent snapshot, streamed."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/datasets", tags=["records"])
