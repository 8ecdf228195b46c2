"""Rossum Master Data Hub on mdhub: dataset writes as jobs, jobs as Rossum operations, and
Data Storage's `find` as mdhub's find, with Mongo's `_id` standing for the dataset's key."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import PurePath
from typing import Any

from mdhub.db.engine import Databases
from mdhub.errors import InvalidQuery, InvalidRequest, NotFound
from mdhub.services import datasets, find, job_views
from mdhub.services.submissions import JobRequest, job_request

ID = "_id"
# mdhub's job states as Rossum's operation states.
STATUS = {
    "created": "new",
    "queued": "queued",
    "running": "processing",
    "succeeded": "finished",
    "failed": "failed",
    "cancelled": "failed",
}
OPERATION_TYPE = {
    "upsert": "update",
    "update": "update",
    "overwrite": "replace",
    "insert": "create",
    "append": "create",
    "delete": "delete",
}
UNSUPPORTED_SUFFIXES = (".xml", ".xlsx", ".xls")
# The form fields mdhub reads; Rossum's other fields (`dynamic`, …) are accepted and ignored.
READ_FIELDS = ("encoding", "delimiter", "quote_char")


@dataclass(frozen=True)
class DatasetWrite:
    """A dataset write as Rossum's form asks it: which verb, the id keys, the flags."""

    method: str
    dataset: str
    fields: Mapping[str, str]
    id_keys: list[str]
    filename: str | None


def _id_keys(given: list[str]) -> list[str]:
    """`id_keys` repeated (a form list), or one field holding `a,b`."""
    keys = [k.strip() for value in given for k in value.split(",") if k.strip()]
    return list(dict.fromkeys(keys))


def _flag(fields: Mapping[str, str], name: str, default: bool) -> bool:
    raw = fields.get(name)
    if raw is None or raw.strip() == "":
        return default
    lowered = raw.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise InvalidRequest(f"{name} must be true or false, not {raw!r}")


def write_request(dbs: Databases, workspace: str, write: DatasetWrite) -> JobRequest:
    """The mdhub job a Rossum dataset write is: POST creates (the dataset must not exist), PUT
    replaces the whole dataset (overwrite), PATCH upserts by `id_keys` (an update only with
    `update_or_new=false`). A dataset that does not exist yet is created with `id_keys` as its
    key when the verb allows it (the caller must be an admin)."""
    if write.filename and PurePath(write.filename.lower()).suffix in UNSUPPORTED_SUFFIXES:
        raise InvalidRequest("mdhub reads CSV and JSON files here; XML and XLSX are not supported")
    keys = _id_keys(write.id_keys)
    try:
        existing: tuple[str, ...] | None = datasets.get_dataset(dbs, workspace, write.dataset).keys
    except NotFound:
        existing = None
    if write.method == "PATCH":
        if not keys:
            raise InvalidRequest("id_keys is required: the fields that identify a record")
        operation = "upsert" if _flag(write.fields, "update_or_new", True) else "update"
    elif write.method == "PUT":
        if existing is None and not _flag(write.fields, "replace_or_new", False):
            raise NotFound(f"dataset '{write.dataset}' not found (send replace_or_new=true)")
        operation = "overwrite"
    else:
        if existing is not None:
            raise InvalidRequest(f"collection '{write.dataset}' already exists")
        operation = "upsert" if keys else "append"
    if existing is not None and keys and set(keys) != set(existing):
        raise InvalidRequest(
            f"dataset '{write.dataset}' is keyed by {', '.join(existing) or 'nothing'}: "
            "id_keys must name the same fields",
            {"keys": list(existing), "id_keys": keys},
        )
    if existing is None and not keys:
        operation = "append"  # a new dataset without keys is created by its first append
    fields = {name: write.fields[name] for name in READ_FIELDS if write.fields.get(name)}
    fields["operation"] = operation
    if existing is None and keys:
        fields["keys"] = ",".join(keys)
    return job_request(write.dataset, fields, write.filename)


def operation(dbs: Databases, workspace: str, job_id: int) -> dict[str, Any]:
    """A job as Rossum's operation (`DatasetOperationOut`), with mdhub's statistics added."""
    job = job_views.get_job(dbs, job_id, workspace=workspace)
    part = job["parts"][0] if job["parts"] else {}
    error = job["error"]
    if isinstance(error, dict):
        error = error.get("message")
    if error is None and job["status"] == "failed" and job["errors"]:
        error = job["errors"][0].get("message")
    return {
        "operation_id": str(job["id"]),
        "operation_type": OPERATION_TYPE.get(part.get("operation", ""), "update"),
        "dataset_name": part.get("dataset"),
        "status": STATUS.get(job["status"], "unknown"),
        "status_ts": job["finished_at"] or job["started_at"] or job["created_at"],
        "create_ts": job["created_at"],
        "file_metadata": {"name": part.get("name"), "size": part.get("bytes")},
        "error": error,
        "statistics": job["statistics"],
        "errors": job["errors"],
    }


@dataclass(frozen=True)
class FindBody:
    """Data Storage's find: a Mongo `query`, `projection`, `sort`, `skip` and `limit`."""

    collection: str
    query: dict[str, Any]
    projection: dict[str, Any] | None
    sort: dict[str, Any] | None
    skip: int
    limit: int


def _query(query: Any, keys: tuple[str, ...]) -> Any:
    """`_id` in a query as the key field (one key), or as an object of the key fields."""
    if isinstance(query, list):
        return [_query(item, keys) for item in query]
    if not isinstance(query, dict):
        return query
    translated: dict[str, Any] = {}
    for name, value in query.items():
        if name != ID:
            translated[name] = _query(value, keys) if name.startswith("$") else value
        elif len(keys) == 1:
            translated[keys[0]] = value
        elif keys and isinstance(value, dict) and set(value) == set(keys):
            translated.update(value)
        else:
            raise InvalidQuery(
                "query._id: this dataset's _id is "
                + (f"an object of {', '.join(keys)}" if keys else "not defined (no keys)"),
                {"at": "query._id"},
            )
    return translated


def _projection(
    projection: dict[str, Any] | None, keys: tuple[str, ...]
) -> tuple[dict[str, Any] | None, bool, set[str]]:
    """mdhub's projection, whether `_id` is shown, and fields fetched only to build it."""
    marks = {name: int(bool(mark)) for name, mark in (projection or {}).items()}
    show_id = bool(marks.pop(ID, 1)) and bool(keys)
    hidden: set[str] = set()
    if show_id and marks:
        if any(marks.values()):
            hidden = {k for k in keys if not marks.get(k)}
            marks.update(dict.fromkeys(keys, 1))
        else:
            hidden = {k for k in keys if k in marks}
            marks = {name: mark for name, mark in marks.items() if name not in keys}
    return marks or None, show_id, hidden


def _sort(sort: dict[str, Any] | None, keys: tuple[str, ...]) -> dict[str, int] | None:
    order: dict[str, int] = {}
    for name, direction in (sort or {}).items():
        if isinstance(direction, str):
            direction = {"asc": 1, "ascending": 1, "desc": -1, "descending": -1}.get(
                direction.lower(), direction
            )
        if name == ID:
            order.update({k: direction for k in keys if k not in order})
        else:
            order[name] = direction
    return order or None


def find_documents(dbs: Databases, workspace: str, body: FindBody) -> list[dict[str, Any]]:
    """One page of a dataset's records as Data Storage documents, `_id` first."""
    if body.skip < 0:
        raise InvalidQuery("skip must be 0 or more", {"at": "skip"})
    if not 0 <= body.limit <= find.MAX_LIMIT:
        raise InvalidQuery(f"limit must be 0 to {find.MAX_LIMIT}", {"at": "limit"})
    keys = datasets.get_dataset(dbs, workspace, body.collection).keys
    projection, show_id, hidden = _projection(body.projection, keys)
    request = find.FindRequest(
        filter=_query(body.query, keys),
        projection=projection,
        sort=_sort(body.sort, keys),
        limit=body.limit or find.MAX_LIMIT,
        skip=body.skip,
    )
    documents = []
    for row in find.find(dbs, workspace, body.collection, request)["results"]:
        document: dict[str, Any] = {}
        if show_id:
            document[ID] = row[keys[0]] if len(keys) == 1 else {k: row[k] for k in keys}
        document.update((name, value) for name, value in row.items() if name not in hidden)
        documents.append(document)
    return documents
