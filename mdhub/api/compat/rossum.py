"""Rossum Master Data Hub, under /compat/rossum: mapped onto mdhub's datasets and jobs."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/compat/rossum", tags=["compat: rossum"])
