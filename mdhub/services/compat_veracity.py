"""Veracity Data Workbench's ingest, mapped onto mdhub: client-credentials tokens from API keys,
ingest requests as multi-part jobs waiting for uploads, and job status in Veracity's words."""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import Any

from sqlalchemy import select

from mdhub.core import times
from mdhub.core.security import KEY_PREFIX
from mdhub.db.engine import Databases
from mdhub.db.tables import api_keys
from mdhub.errors import InvalidRequest, NotFound, Unauthorized
from mdhub.ingest.model import FORMATS
from mdhub.services import jobs, sessions
from mdhub.services.job_views import get_job
from mdhub.services.sessions import Principal

# Veracity's four operations and mdhub's own.
OPERATIONS = {"upsert": "upsert", "delete": "delete", "overwrite": "overwrite", "append": "append"}
# mdhub's job states as Veracity's status endpoint names them.
STATES = {
    "created": "Created",
    "queued": "Running",
    "running": "Running",
    "succeeded": "Completed",
    "failed": "Failed",
    "cancelled": "Cancelled",
}
TOKEN_SECONDS = 3600


def issue_token(dbs: Databases, client_id: str, client_secret: str) -> dict[str, Any]:
    """An OAuth2 client-credentials answer for an API key (`client_secret`) whose name, visible
    prefix or id is `client_id`. The access token is the key itself: revoking the key revokes
    it, and `expires_in` never outlasts the key."""
    if not client_secret.startswith(KEY_PREFIX):
        raise Unauthorized("client_secret must be an mdhub API key")
    principal = sessions.authenticate(dbs, client_secret)
    with dbs.meta.connect() as conn:
        key = conn.execute(select(api_keys).where(api_keys.c.id == principal.key_id)).one()
    if client_id not in (key.name, key.prefix, str(key.id)):
        raise Unauthorized("client_id does not name this API key (its name, prefix or id)")
    seconds = TOKEN_SECONDS
    if key.expires_at is not None:
        left = (times.utc(key.expires_at) - times.now()).total_seconds()
        seconds = max(0, min(seconds, int(left)))
    return {"access_token": client_secret, "expires_in": seconds, "token_type": "Bearer"}


def check_workspace(principal: Principal, workspace: str) -> None:
    """The workspace in a Veracity path must be the credential's (by name or id): 404 if not."""
    if workspace not in (principal.workspace, str(principal.workspace_id)):
        raise NotFound(f"workspace '{workspace}' not found")


def _format(file_name: str) -> str:
    suffix = PurePosixPath(file_name).suffix.lower().lstrip(".")
    suffix = {"jsonl": "ndjson"}.get(suffix, suffix)
    return suffix if suffix in FORMATS else "csv"


def _operation(name: str) -> str:
    operation = OPERATIONS.get(name.lower())
    if operation is None:
        raise InvalidRequest(
            f"unknown operation '{name}' (one of Upsert, Delete, Overwrite, Append)",
            {"operation": name},
        )
    return operation


def create_ingest_job(
    dbs: Databases, workspace: str, dataset: str, files: list[dict[str, str]], *, start: bool
) -> int:
    """One mdhub job with a part per file (named as the file), waiting for the uploads; with
    `start` it is queued as soon as the last file is flushed."""
    parts = [
        jobs.NewPart(
            dataset=dataset,
            operation=_operation(f["operation"]),
            format=_format(f["fileName"]),
            name=f["fileName"],
        )
        for f in files
    ]
    return jobs.create_job(dbs, workspace, parts, start=start)


def _capitalized(operation: str) -> str:
    return operation[:1].upper() + operation[1:]


def job_status(dbs: Databases, workspace: str, job_id: int) -> dict[str, Any]:
    """A job as Veracity's status endpoint shows it (mdhub's own view is /api/v1/jobs/{id})."""
    job = get_job(dbs, job_id, workspace=workspace)
    error = job["error"] or {}
    datasets = sorted({p["dataset"] for p in job["parts"]})
    return {
        "jobId": str(job["id"]),
        "status": STATES[job["status"]],
        "operations": [_capitalized(p["operation"]) for p in job["parts"]],
        "notebookErrorMessage": error.get("message", ""),
        "dataSetName": ", ".join(datasets),
        "datasetId": ", ".join(datasets),
        "validationError": [
            {
                "fileName": e["part"],
                "line": e["line"],
                "column": e["column"],
                "value": e["value"],
                "message": e["message"],
            }
            for e in job["errors"]
        ],
    }
