"""Haplo's batch import API, under /compat/haplo: mapped onto mdhub's datasets and jobs."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/compat/haplo", tags=["compat: haplo"])
