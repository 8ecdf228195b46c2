"""Operations endpoints: liveness, readiness, Prometheus metrics."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from sqlalchemy import text

from mdhub.api.errors import error_response
from mdhub.api.schemas import ErrorBody
from mdhub.db import migrate

router = APIRouter(tags=["operations"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


@router.get("/readyz", responses={503: {"model": ErrorBody, "description": "Not ready"}})
def readyz(request: Request) -> JSONResponse:
    """The database answers and is migrated."""
    dbs = request.app.state.dbs
    try:
        with dbs.meta.connect() as conn:
            conn.execute(text("SELECT 1"))
        behind = migrate.pending(dbs)
    except Exception as exc:  # any failure to reach the database means "not ready"
        return error_response(503, "not_ready", str(exc))
    if behind:
        return error_response(
            503, "database_not_migrated", "run `mdhub migrate`", {"pending": list(behind)}
        )
    return JSONResponse({"status": "ready"})


@router.get("/metrics", response_class=Response)
def metrics(request: Request) -> Response:
    """Prometheus metrics: requests, jobs by status, queue depth, rows applied, durations."""
    body, content_type = request.app.state.metrics.render()
    return Response(body, headers={"Content-Type": content_type})
