"""Submitting work: turn an accepted upload and its options into a queued job, creating the
dataset when the request says how (its keys), at most once per Idempotency-Key."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mdhub.db.engine import Databases
from mdhub.errors import Forbidden, InvalidRequest, NotFound
from mdhub.ingest.merge import OPERATIONS
from mdhub.ingest.model import FORMATS
from mdhub.services import datasets, jobs, json_body
from mdhub.storage import StoredObject

FORMAT_BY_SUFFIX = {
    ".csv": "csv",
    ".tsv": "csv",
    ".txt": "csv",
    ".ndjson": "ndjson",
    ".jsonl": "ndjson",
    ".json": "json",
    ".parquet": "parquet",
    ".pq": "parquet",
}
TRUE = ("1", "true", "yes", "on")
FALSE = ("0", "false", "no", "off", "")
READ_OPTION_NAMES = ("delimiter", "encoding", "header", "quote_char")
# The options a job request may carry (form fields or query parameters), and the fields of an
# inline JSON body: anything else is refused, never silently dropped.
OPTION_NAMES = frozenset(
    {"operation", "format", "dry_run", "max_errors", "skip_invalid", "keys", *READ_OPTION_NAMES}
)
INLINE_FIELDS = frozenset({"operation", "records", "dry_run", "max_errors", "skip_invalid", "keys"})
# Inline JSON records are read from this place in the body.
RECORDS_ITEMS = "records.item"


def guess_format(filename: str | None) -> str:
    """The format a file name suggests (`.gz` is looked through); CSV when nothing does."""
    suffixes = [s.lower() for s in Path(filename or "").suffixes if s.lower() != ".gz"]
    return FORMAT_BY_SUFFIX.get(suffixes[-1], "csv") if suffixes else "csv"


@dataclass(frozen=True)
class JobRequest:
    """What a request asks of one upload."""

    dataset: str
    operation: str = "upsert"
    format: str = "csv"
    name: str = "upload"
    dry_run: bool = False
    max_errors: int | None = 0
    keys: list[str] | None = None
    read_options: dict[str, Any] = field(default_factory=dict)


def _flag(name: str, raw: str) -> bool:
    lowered = raw.strip().lower()
    if lowered in TRUE:
        return True
    if lowered in FALSE:
        return False
    raise InvalidRequest(f"{name} must be true or false, not {raw!r}")


def _read_options(fields: Mapping[str, str]) -> dict[str, Any]:
    options: dict[str, Any] = {}
    for name in ("delimiter", "quote_char"):
        if fields.get(name):
            value = fields[name]
            value = "\t" if value in ("\\t", "tab") else value
            if len(value) != 1:
                raise InvalidRequest(f"{name} must be one character")
            options[name] = value
    if fields.get("encoding"):
        options["encoding"] = fields["encoding"]
    if fields.get("header") is not None:
        options["header"] = _flag("header", fields["header"])
    return options


def check_option_names(names: Iterable[str], where: str) -> None:
    """Refuse fields a job request does not know (a `workspace` or `role` among them would
    otherwise be dropped silently)."""
    unknown = sorted(set(names) - OPTION_NAMES)
    if unknown:
        raise InvalidRequest(
            f"unknown {where} {', '.join(repr(n) for n in unknown)} "
            f"(known: {', '.join(sorted(OPTION_NAMES))})",
            {"unknown": unknown},
        )


def job_request(dataset: str, fields: Mapping[str, str], filename: str | None) -> JobRequest:
    """A JobRequest from text fields (form fields or query parameters), checked."""
    if any("\x00" in text for text in (*fields.keys(), *fields.values(), filename or "")):
        raise InvalidRequest("a form field, query parameter or file name contains a NUL character")
    operation = fields.get("operation") or "upsert"
    if operation not in OPERATIONS:
        raise InvalidRequest(f"unknown operation '{operation}' (one of {', '.join(OPERATIONS)})")
    format = fields.get("format") or guess_format(filename)
    if format not in FORMATS:
        raise InvalidRequest(f"unknown format '{format}' (one of {', '.join(FORMATS)})")
    max_errors: int | None = 0
    if _flag("skip_invalid", fields.get("skip_invalid", "false")):
        max_errors = None
    elif fields.get("max_errors"):
        try:
            max_errors = int(fields["max_errors"])
        except ValueError:
            raise InvalidRequest("max_errors must be a whole number") from None
        if max_errors < 0:
            raise InvalidRequest("max_errors must be 0 or more")
    keys = (
        [k.strip() for k in fields["keys"].split(",") if k.strip()] if fields.get("keys") else None
    )
    return JobRequest(
        dataset=dataset,
        operation=operation,
        format=format,
        name=(filename or "upload")[-255:],
        dry_run=_flag("dry_run", fields.get("dry_run", "false")),
        max_errors=max_errors,
        keys=keys,
        read_options=_read_options(fields),
    )


def inline_request(dataset: str, body: Path, fields: Mapping[str, str]) -> JobRequest:
    """A JobRequest from a stored JSON body `{operation, records: [...], ...}`, read as a
    stream (the records are read again, in batches, by the job)."""
    scanned = json_body.scan(
        body,
        known=INLINE_FIELDS,
        array="records",
        values=("operation", "dry_run", "max_errors", "skip_invalid"),
        lists=("keys",),
    )
    if not scanned.has_array:
        raise InvalidRequest("an inline job needs `records`: a list of objects")
    as_text = {**fields}
    for name, value in scanned.values.items():
        if isinstance(value, bool):
            as_text[name] = "true" if value else "false"
        elif value is not None:
            as_text[name] = str(value)
    keys = scanned.lists["keys"]
    if keys:
        as_text["keys"] = ",".join(keys)
    request = job_request(dataset, as_text, "records.json")
    return JobRequest(
        dataset=dataset,
        operation=request.operation,
        format="json",
        name="records",
        dry_run=request.dry_run,
        max_errors=request.max_errors,
        keys=request.keys,
        read_options={"json_items": RECORDS_ITEMS},
    )


def _ensure_dataset(
    dbs: Databases, workspace: str, request: JobRequest, *, may_create: bool
) -> None:
    """A missing dataset is created when the request gives its keys (or appends, keyless)
    and the caller may create datasets."""
    try:
        datasets.get_dataset(dbs, workspace, request.dataset)
    except NotFound:
        if request.keys is None and request.operation != "append":
            raise NotFound(
                f"dataset '{request.dataset}' not found: create it (POST /api/v1/datasets) "
                "or send `keys` to create it from this file"
            ) from None
        if not may_create:
            raise Forbidden(
                f"dataset '{request.dataset}' not found, and creating a dataset needs the "
                "admin role"
            ) from None
        datasets.create_dataset(dbs, workspace, request.dataset, keys=request.keys)


def submit_upload(
    dbs: Databases,
    workspace: str,
    request: JobRequest,
    stored: StoredObject,
    *,
    may_create: bool = True,
    idempotency_key: str | None = None,
) -> int:
    """Queue a job applying one stored upload; returns the job id. A missing dataset is
    created from the request's `keys` when `may_create` (the caller is an admin)."""
    _ensure_dataset(dbs, workspace, request, may_create=may_create)
    part = jobs.NewPart(
        dataset=request.dataset,
        operation=request.operation,
        format=request.format,
        name=request.name,
        location=stored.key,
        bytes=stored.bytes,
        checksum=f"sha256:{stored.sha256}",
        read_options=request.read_options,
    )
    return jobs.create_job(
        dbs,
        workspace,
        [part],
        dry_run=request.dry_run,
        max_errors=request.max_errors,
        idempotency_key=idempotency_key,
    )
