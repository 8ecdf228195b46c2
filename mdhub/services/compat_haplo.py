"""Haplo's batch import in mdhub's terms: a control file says which dataset each named file
goes to and how; a batch is a multi-part job in `created` (its id is the batch id), each file
one part, and scheduling starts it (as a dry run with `mode=dry-run`)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mdhub.db.engine import Databases
from mdhub.errors import Forbidden, InvalidRequest, NotFound
from mdhub.ingest.merge import OPERATIONS
from mdhub.services import datasets, jobs
from mdhub.storage import Storage, StoredObject

CONTROL_FIELDS = frozenset({"dataImportControlFileVersion", "model", "files", "instructions"})
FILE_FIELDS = frozenset({"read", "dataset", "operation", "keys", "encoding", "delimiter"})
# Haplo's `read` → mdhub's format and read options.
READERS: dict[str, tuple[str, dict[str, Any]]] = {
    "json": ("json", {}),
    "ndjson": ("ndjson", {}),
    "csv": ("csv", {}),
    "tsv": ("csv", {"delimiter": "\t"}),
    "parquet": ("parquet", {}),
}
MODES = ("", "dry-run")
CONTROL_MAX_BYTES = 1024 * 1024


@dataclass(frozen=True)
class FileSpec:
    """How one named file of a batch is read and applied."""

    name: str
    dataset: str
    operation: str
    format: str
    keys: list[str] | None = None
    read_options: dict[str, Any] = field(default_factory=dict)


def _text(spec: dict[str, Any], name: str, key: str, default: str | None = None) -> str:
    value = spec.get(key, default)
    if not isinstance(value, str) or not value:
        raise InvalidRequest(f"control file: files.{name}.{key} must be a non-empty string")
    return value


def _file_spec(name: str, spec: Any) -> FileSpec:
    if not isinstance(spec, dict):
        raise InvalidRequest(f"control file: files.{name} must be an object")
    unknown = sorted(set(spec) - FILE_FIELDS)
    if unknown:
        raise InvalidRequest(
            f"control file: unknown field(s) {', '.join(unknown)} in files.{name} "
            f"(known: {', '.join(sorted(FILE_FIELDS))})",
            {"unknown": unknown},
        )
    read = _text(spec, name, "read")
    if read not in READERS:
        raise InvalidRequest(
            f"control file: files.{name}.read '{read}' is not supported "
            f"(one of {', '.join(READERS)})"
        )
    operation = _text(spec, name, "operation", "upsert")
    if operation not in OPERATIONS:
        raise InvalidRequest(
            f"control file: files.{name}.operation '{operation}' is not one of "
            f"{', '.join(OPERATIONS)}"
        )
    keys = spec.get("keys")
    if keys is not None and (
        not isinstance(keys, list) or not keys or not all(isinstance(k, str) for k in keys)
    ):
        raise InvalidRequest(f"control file: files.{name}.keys must be a list of field names")
    format, options = READERS[read]
    options = {**options}
    for option in ("encoding", "delimiter"):
        if option in spec:
            options[option] = _text(spec, name, option)
    return FileSpec(name, _text(spec, name, "dataset"), operation, format, keys, options)


def read_control(path: Path) -> list[FileSpec]:
    """The files a control file describes, checked (`model` and `instructions` are Haplo's
    object mapping, which mdhub does not use: records are applied as they are)."""
    if path.stat().st_size > CONTROL_MAX_BYTES:
        raise InvalidRequest(f"a control file is at most {CONTROL_MAX_BYTES} bytes")
    try:
        control = json.loads(path.read_bytes())
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidRequest(f"the control file is not valid JSON: {exc}") from None
    if not isinstance(control, dict):
        raise InvalidRequest("the control file must be one JSON object")
    unknown = sorted(set(control) - CONTROL_FIELDS)
    if unknown:
        raise InvalidRequest(
            f"control file: unknown field(s) {', '.join(unknown)} "
            f"(known: {', '.join(sorted(CONTROL_FIELDS))})",
            {"unknown": unknown},
        )
    files = control.get("files")
    if not isinstance(files, dict) or not files:
        raise InvalidRequest("control file: `files` must map each file name to how it is read")
    return [_file_spec(name, spec) for name, spec in files.items()]


def control_key(digest: str) -> str:
    """The storage key of a control file by its digest (storage is content-addressed)."""
    digest = digest.strip().lower()
    if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
        raise NotFound(f"no control file with digest '{digest}'")
    return f"sha256/{digest[:2]}/{digest[2:4]}/{digest}"


def create_batch(
    dbs: Databases, storage: Storage, workspace: str, digest: str, *, may_create: bool
) -> int:
    """A batch (a job in `created`, one part per file of the control file); returns its id.
    A missing dataset is created from its file's `keys` when `may_create` (an admin)."""
    key = control_key(digest)
    if not storage.exists(key):
        raise NotFound(f"no control file with digest '{digest.strip()}': upload it first")
    with storage.local_path(key) as path:
        specs = read_control(path)
    for spec in specs:
        try:
            datasets.get_dataset(dbs, workspace, spec.dataset)
        except NotFound:
            if spec.keys is None:
                raise
            if not may_create:
                raise Forbidden(
                    f"dataset '{spec.dataset}' not found, and creating a dataset needs the "
                    "admin role"
                ) from None
            datasets.create_dataset(dbs, workspace, spec.dataset, keys=spec.keys)
    parts = [
        jobs.NewPart(
            dataset=s.dataset,
            operation=s.operation,
            format=s.format,
            name=s.name,
            read_options=s.read_options,
        )
        for s in specs
    ]
    return jobs.create_job(dbs, workspace, parts, start=False)


def batch_id(batch: str) -> int:
    """The job id a batch identifier names."""
    text = batch.strip()
    if not text.isdecimal() or not 1 <= int(text) < 2**63:
        raise NotFound(f"batch '{text}' not found")
    return int(text)


def add_file(dbs: Databases, workspace: str, batch: str, name: str, stored: StoredObject) -> None:
    """Attach an uploaded file to the batch's part of that name."""
    jobs.attach_part(dbs, workspace, batch_id(batch), name, stored)


def schedule(dbs: Databases, workspace: str, batch: str, mode: str) -> int:
    """Start the batch's job (a dry run with `mode=dry-run`); returns the job id."""
    if mode not in MODES:
        raise InvalidRequest(f"unknown mode '{mode}' (leave it out, or 'dry-run')")
    job_id = batch_id(batch)
    jobs.start_job(dbs, workspace, job_id, dry_run=mode == "dry-run")
    return job_id
