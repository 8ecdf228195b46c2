"""Qrvey's post-data API in mdhub's terms: a postdata body becomes a job request, a job
becomes Qrvey's `statusJob` and `jobCompletionStatistics`, datasets become Qrvey's list."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import ijson

from mdhub.db.engine import Databases
from mdhub.errors import InputError, InvalidRequest
from mdhub.services import datasets, job_views
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
    found: dict[str, Any] = {}
    has_data = False
    try:
        with body.open("rb") as stream:
            for prefix, event, value in ijson.parse(stream):
                if prefix == "" and event not in ("start_map", "end_map", "map_key"):
                    raise InvalidRequest("the request body must be one JSON object")
                if prefix == "" and event == "map_key" and value not in FIELDS:
                    raise InvalidRequest(
                        f"unknown field {value!r} in the request body "
                        f"(known: {', '.join(sorted(FIELDS))})",
                        {"unknown": [value]},
                    )
                if prefix in ("datasetId", "documentUpdateMethod"):
                    found[prefix] = value
                elif prefix == "data" and event == "start_array":
                    has_data = True
    except ijson.JSONError as exc:
        raise InputError(f"the request body is not valid JSON: {exc}") from None
    dataset_id = found.get("datasetId")
    if not isinstance(dataset_id, str) or not dataset_id:
        raise InvalidRequest("`datasetId` is required: the name of an mdhub dataset")
    if not has_data:
        raise InvalidRequest("`data` is required: a list of records")
    method = found.get("documentUpdateMethod") or "upsert"
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
