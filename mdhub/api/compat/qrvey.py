"""Qrvey's post-data API, under /compat/qrvey: mapped onto mdhub's datasets and jobs."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/compat/qrvey", tags=["compat: qrvey"])
