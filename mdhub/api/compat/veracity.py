"""Veracity Data Workbench's dataset ingest, under /compat/veracity: mapped onto mdhub's
datasets and jobs."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/compat/veracity", tags=["compat: veracity"])
