"""The Azure Data Lake (DFS) file protocol of the Veracity layer's upload URLs: create a file,
append bytes at any position, flush — the flush commits the file to upload storage and
attaches it as the job's part of that name.

Appended bytes wait uncommitted, as in Data Lake Storage, in a staging directory under the
data directory: one piece file per append, named by its position, so appends may arrive in
any order (Microsoft's clients send a large file's chunks in parallel) and API processes that
share the data directory can each take some of them.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

from sqlalchemy import select

from mdhub.db.engine import Databases
from mdhub.db.tables import job_parts
from mdhub.errors import Conflict, InvalidRequest, NotFound, PayloadTooLarge
from mdhub.services import jobs
from mdhub.services.job_views import get_job
from mdhub.storage import Storage

CHUNK = 1024 * 1024
# Pieces are named by their position, zero-padded so that names sort as positions do.
POSITION_DIGITS = 20
NOT_CREATED = "the file does not exist: create it first"


def staging_dir(data_dir: Path, job_id: int, name: str) -> Path:
    """Where the uncommitted pieces of one file of a job wait."""
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


def create(staging: Path) -> None:
    """Create (or empty) the file, as `PUT ?resource=file` does."""
    _discard(staging)
    staging.mkdir(parents=True, exist_ok=True)


async def append(staging: Path, position: int, body: AsyncIterator[bytes], *, limit: int) -> int:
    """Keep a request body as the piece at `position` (a piece sent again replaces the
    earlier one); returns the bytes written. The file may not grow past `limit` bytes."""
    if position > limit:
        raise _too_large(limit)
    if not staging.is_dir():
        raise NotFound(NOT_CREATED)
    # Written under a hidden name, renamed when complete: a flush never sees half a piece.
    temp = staging / f".{position}.{uuid.uuid4().hex}.tmp"
    written = 0
    try:
        with temp.open("wb") as out:
            async for chunk in body:
                written += len(chunk)
                if position + written > limit:
                    raise _too_large(limit)
                out.write(chunk)
        if written:
            os.replace(temp, staging / f"{position:0{POSITION_DIGITS}d}")
    except FileNotFoundError as exc:  # created again (emptied) meanwhile
        raise NotFound(NOT_CREATED) from exc
    finally:
        temp.unlink(missing_ok=True)
    return written


def flush(
    dbs: Databases,
    storage: Storage,
    workspace: str,
    job_id: int,
    name: str,
    staging: Path,
    *,
    position: int,
) -> None:
    """Commit the pieces that cover `[0, position)` as the job's part `name`; pieces past
    `position` are discarded, as Data Lake discards uncommitted data at a flush."""
    pieces = _covering(staging, position)
    if position == 0:
        raise InvalidRequest("the file is empty", {"azure_code": "InvalidInput"})
    writer = storage.writer()
    try:
        for piece in pieces:
            with piece.open("rb") as source:
                while chunk := source.read(CHUNK):
                    writer.write(chunk)
        stored = writer.commit()
    except FileNotFoundError as exc:  # created again (emptied) meanwhile
        writer.abort()
        raise NotFound(NOT_CREATED) from exc
    except BaseException:
        writer.abort()
        raise
    # Content-addressed: the object may be another job's too, so a refused attach keeps it.
    jobs.attach_part(dbs, workspace, job_id, name, stored)
    _discard(staging)
    with contextlib.suppress(OSError):  # the job's other files may still be staged
        staging.parent.rmdir()


def _covering(staging: Path, position: int) -> list[Path]:
    """The pieces that make up `[0, position)` exactly, in order."""
    try:
        found = sorted(
            (int(entry.name), entry) for entry in staging.iterdir() if entry.name.isdigit()
        )
        pieces: list[Path] = []
        covered = 0
        for start, piece in found:
            if start >= position:
                break
            if start != covered:
                problem = (
                    f"nothing was appended at {covered}-{start - 1}"
                    if start > covered
                    else f"the append at {start} overlaps the data before it"
                )
                raise _invalid_flush(position, problem)
            pieces.append(piece)
            covered += piece.stat().st_size
    except FileNotFoundError as exc:
        raise NotFound(NOT_CREATED) from exc
    if covered != position:
        raise _invalid_flush(position, f"the data appended from 0 ends at {covered}")
    return pieces


def _invalid_flush(position: int, problem: str) -> InvalidRequest:
    return InvalidRequest(
        f"cannot flush at position {position}: {problem}", {"azure_code": "InvalidFlushPosition"}
    )


def _too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(
        f"the file is larger than the upload limit of {limit} bytes",
        {"azure_code": "RequestBodyTooLarge"},
    )


def _discard(staging: Path) -> None:
    """Remove a file's staging: first renamed aside (at once, for every process), then deleted."""
    aside = staging.with_name(f".{staging.name}.{uuid.uuid4().hex}.discarded")
    try:
        staging.rename(aside)
    except FileNotFoundError:
        return
    if aside.is_dir():
        shutil.rmtree(aside, ignore_errors=True)
    else:  # a single staging file, as earlier versions kept
        aside.unlink(missing_ok=True)
