"""The Azure Data Lake (DFS) file protocol of the Veracity layer's upload URLs: create a file,
append bytes at a position, flush — the flush commits the file to upload storage and attaches
it as the job's part of that name.

Appended bytes wait in a staging file under the data directory (uncommitted, as in Data Lake
Storage), so a create, its appends and its flush must reach API processes that share it.
"""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

from sqlalchemy import select

from mdhub.db.engine import Databases
from mdhub.db.tables import job_parts
from mdhub.errors import Conflict, InvalidRequest, NotFound
from mdhub.services import jobs
from mdhub.services.job_views import get_job
from mdhub.storage import Storage

CHUNK = 1024 * 1024


def staging_file(data_dir: Path, job_id: int, name: str) -> Path:
    """Where the uncommitted bytes of one file of a job wait."""
    digest = hashlib.sha256(name.encode()).hexdigest()[:32]
    return data_dir / "compat-veracity" / str(job_id) / digest


def check_part(dbs: Databases, workspace: str, job_id: int, name: str) -> None:
    """A file may be written only as a named part of a job still waiting for uploads."""
    job = get_job(dbs, job_id, workspace=workspace)
    if job["status"] != "created":
        raise Conflict(
            f"job {job_id} is {job['status']}: files can only be uploaded before it starts",
            {"status": job["status"]},
        )
    with dbs.meta.connect() as conn:
        found = conn.execute(
            select(job_parts.c.id).where(job_parts.c.job_id == job_id, job_parts.c.name == name)
        ).first()
    if found is None:
        raise NotFound(f"job {job_id} has no file named '{name}': name it in the ingest request")


def create(path: Path) -> None:
    """Create (or empty) the file, as `PUT ?resource=file` does."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"")


async def append(path: Path, position: int, body: AsyncIterator[bytes], *, limit: int) -> int:
    """Write a request body at `position`, which must be the file's current length (Data Lake
    appends are sequential); returns the bytes written."""
    if not path.exists():
        raise NotFound("the file does not exist: create it first")
    size = path.stat().st_size
    if position != size:
        raise InvalidRequest(
            f"append position {position} is not the file's length {size}",
            {"azure_code": "InvalidFlushPosition"},
        )
    written = 0
    with path.open("ab") as out:
        async for chunk in body:
            written += len(chunk)
            if size + written > limit:
                out.truncate(size)
                raise InvalidRequest(
                    f"the file is larger than the upload limit of {limit} bytes",
                    {"azure_code": "RequestBodyTooLarge"},
                )
            out.write(chunk)
    return written


def flush(
    dbs: Databases,
    storage: Storage,
    workspace: str,
    job_id: int,
    name: str,
    path: Path,
    *,
    position: int,
) -> None:
    """Commit the appended bytes (all `position` of them) as the job's part `name`."""
    if not path.exists():
        raise NotFound("the file does not exist: create it first")
    size = path.stat().st_size
    if position != size:
        raise InvalidRequest(
            f"flush position {position} is not the length of the appended data {size}",
            {"azure_code": "InvalidFlushPosition"},
        )
    if size == 0:
        raise InvalidRequest("the file is empty", {"azure_code": "InvalidInput"})
    writer = storage.writer()
    try:
        with path.open("rb") as source:
            while chunk := source.read(CHUNK):
                writer.write(chunk)
        stored = writer.commit()
    except BaseException:
        writer.abort()
        raise
    # Content-addressed: the object may be another job's too, so a refused attach keeps it.
    jobs.attach_part(dbs, workspace, job_id, name, stored)
    path.unlink()
    if not any(path.parent.iterdir()):
        shutil.rmtree(path.parent, ignore_errors=True)
