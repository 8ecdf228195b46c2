"""Find records with a filter in a subset of the MongoDB query language."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/datasets", tags=["records"])
