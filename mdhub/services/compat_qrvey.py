"""Qrvey's post-data API in mdhub's terms: a postdata body becomes a job request, a job
becomes Qrvey's `statusJob` and `jobCompletionStatistics`, datasets become Qrvey's list."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mdhub.db.engine import Databases
from mdhub.errors import InvalidRequest
from mdhub.services import datasets, job_views, json_body
from mdhub.services.submissions import JobRequest

# Qrvey's documentUpdateMethod → mdhub's operation (`insert` into a keyless dataset appends).
METHODS = {"upsert": "upsert", "insert": "insert", "update": "update", "delete": "delete"}
FIELDS = frozenset({"datasetId", "documentUpdateMethod", "data"})
DATA_ITEMS = "data.item"
# mdhub's job states → Qrvey's.
STATES = {
    "created": "Queued",
    "queued": "Queued",
    "running": "Running",
    "succeeded": "Complete",
    "failed": "Failed",
    "cancelled": "Cancelled",
}


def postdata_request(dbs: Databases, workspace: str, body: Path) -> JobRequest:
    """The job a stored postdata body `{datasetId, documentUpdateMethod, data: [...]}` asks
    for, read as a stream (the records are read again, in batches, by the job). Invalid
    records are counted as failed, the others applied, as Qrvey does."""
    scanned = json_body.scan(
        body, known=FIELDS, array="data", values=("datasetId", "documentUpdateMethod")
    )
    dataset_id = scanned.values.get("datasetId")
    if not isinstance(dataset_id, str) or not dataset_id:
        raise InvalidRequest("`datasetId` is required: the name of an mdhub dataset")
    if not scanned.has_array:
        raise InvalidRequest("`data` is required: a list of records")
    method = scanned.values.get("documentUpdateMethod") or "upsert"
    if method not in METHODS:
        raise InvalidRequest(
            f"unknown documentUpdateMethod {method!r} (one of {', '.join(METHODS)})",
            {"documentUpdateMethod": method},
        )
    dataset = datasets.get_dataset(dbs, workspace, dataset_id)
    operation = METHODS[method]
    if operation == "insert" and not dataset.keys:
        operation = "append"
    return JobRequest(
        dataset=dataset.name,
        operation=operation,
        format="json",
        name="postdata",
        max_errors=None,
        read_options={"json_items": DATA_ITEMS},
    )


def _runtime(seconds: float | None) -> str:
    whole = int(seconds or 0)
    return f"{whole // 3600}h {whole % 3600 // 60}m {whole % 60}s"


def job_status(dbs: Databases, workspace: str, job_id: int) -> dict[str, Any]:
    """A job as Qrvey's status call answers it, with mdhub's exact counts."""
    job = job_views.get_job(dbs, job_id, workspace=workspace)
    stats = job["statistics"]
    done = job["status"] == "succeeded"
    successful = stats["read"] - stats["failed"]
    status_job: dict[str, Any] = {
        "jobId": str(job["id"]),
        "status": STATES[job["status"]],
        "approximatePercentComplete": 100 if done else int(job["progress"]["percent"]),
        "runtime": _runtime(job["runtime"]),
    }
    if job["error"]:
        status_job["error"] = job["error"]["message"]
    return {
        "statusJob": status_job,
        "jobCompletionStatistics": {
            "dataSourcePumpStatistics": {
                part["dataset"]: {
                    "failed": stats["failed"],
                    "pumpTimeSeconds": int(job["runtime"] or 0),
                    "read": stats["read"],
                    "successful": successful,
                }
                for part in job["parts"]
            },
            "failed": stats["failed"],
            "fillingEsStatistics": {
                "added": stats["inserted"],
                "deleted": stats["deleted"],
                "failed": stats["failed"],
                "updated": stats["updated"],
                "unchanged": stats["unchanged"],
            },
            "successful": stats["inserted"],
            "updated": stats["updated"],
            "dryRun": job["dry_run"],
        },
    }


def dataset_list(dbs: Databases, workspace: str) -> dict[str, Any]:
    """The workspace's datasets as Qrvey's Get All Datasets lists them."""
    items = [
        {
            "datasetId": d.name,
            "name": d.name,
            "status": "ACTIVE",
            "uniqueIdColumns": list(d.keys),
            "rows": d.row_count,
            "version": d.version,
            "createDate": d.created_at.isoformat(),
            "modifyDate": d.updated_at.isoformat(),
        }
        for d in datasets.list_datasets(dbs, workspace)
    ]
    return {"Items": items, "Count": len(items)}
