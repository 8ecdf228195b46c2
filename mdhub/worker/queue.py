"""The durable job queue in the metadata store: acceptance order, claims, leases, fencing.

A claim is a lease: the worker owns the job until `lease_expires_at` and renews it while it
works. Each claim raises the job's `attempt`, its fencing token: a worker may commit the job's
rows only while its attempt is still the job's newest (`fenced_commit`), so a worker that lost
its lease (a zombie) cannot commit after another one took the job over (invariant 2).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, and_, exists, func, or_, select, text, update

from mdhub.core import times
from mdhub.db.engine import Databases
from mdhub.db.tables import job_parts, jobs, workspaces
from mdhub.errors import JobCancelled, LeaseLost

LEASE_SECONDS = 30.0
# Statuses that hold a dataset's place in line: a later job on the same dataset waits.
IN_LINE = ("queued", "running")
# Any constant: the advisory lock that makes queue positions follow commit order on PostgreSQL.
QUEUE_LOCK = 7_140_213


@dataclass(frozen=True)
class Claim:
    """A job taken by a worker: the attempt number is its fencing token."""

    job_id: int
    attempt: int
    workspace: str
    owner: str


def next_position(conn: Connection) -> int:
    """The next place in the queue, taken inside the transaction that queues a job.

    PostgreSQL: an advisory lock held to commit serializes the queueing transactions, so
    positions are handed out in commit order. SQLite: BEGIN IMMEDIATE does the same.
    """
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": QUEUE_LOCK})
    current = conn.execute(select(func.max(jobs.c.queue_position))).scalar()
    return int(current or 0) + 1


def _claimable(now: datetime) -> object:
    later, earlier, other = job_parts.alias("later"), job_parts.alias("earlier"), jobs.alias("k")
    waits_behind = exists(
        select(1)
        .select_from(
            later.join(earlier, earlier.c.dataset_id == later.c.dataset_id).join(
                other, other.c.id == earlier.c.job_id
            )
        )
        .where(
            later.c.job_id == jobs.c.id,
            other.c.id != jobs.c.id,
            other.c.status.in_(IN_LINE),
            other.c.queue_position < jobs.c.queue_position,
        )
    )
    ready = or_(
        jobs.c.status == "queued",
        and_(jobs.c.status == "running", jobs.c.lease_expires_at < now),
    )
    return and_(ready, ~waits_behind)


def claim(
    dbs: Databases,
    owner: str,
    *,
    lease_seconds: float = LEASE_SECONDS,
    only: int | None = None,
) -> Claim | None:
    """Take the first job that may run now: queued (or with an expired lease) and not behind
    an earlier job on one of its datasets; only job `only` when given. None when there is
    nothing to do."""
    now = times.now()
    with dbs.meta.begin() as conn:
        query = (
            select(jobs.c.id, workspaces.c.name)
            .join(workspaces, workspaces.c.id == jobs.c.workspace_id)
            .where(_claimable(now))  # type: ignore[arg-type]
            .order_by(jobs.c.queue_position)
            .limit(1)
        )
        if only is not None:
            query = query.where(jobs.c.id == only)
        if conn.dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True, of=jobs)
        row = conn.execute(query).first()
        if row is None:
            return None
        attempt = conn.execute(
            update(jobs)
            .where(jobs.c.id == row.id)
            .values(
                status="running",
                attempt=jobs.c.attempt + 1,
                lease_owner=owner,
                lease_expires_at=now + timedelta(seconds=lease_seconds),
                started_at=now,
            )
            .returning(jobs.c.attempt)
        ).scalar_one()
    return Claim(job_id=int(row.id), attempt=int(attempt), workspace=row.name, owner=owner)


def renew(dbs: Databases, held: Claim, *, lease_seconds: float = LEASE_SECONDS) -> bool:
    """Extend the lease; False when the job is no longer this claim's (taken over, or ended)."""
    with dbs.meta.begin() as conn:
        result = conn.execute(
            update(jobs)
            .where(
                jobs.c.id == held.job_id,
                jobs.c.attempt == held.attempt,
                jobs.c.status == "running",
            )
            .values(lease_expires_at=times.now() + timedelta(seconds=lease_seconds))
        )
    return result.rowcount == 1


def holds(conn: Connection, held: Claim) -> bool:
    """Whether `held` is still the job's newest attempt (read on `conn`).

    Raises JobCancelled when it is, but a cancel was requested: the job must not commit.
    """
    query = select(jobs.c.attempt, jobs.c.status, jobs.c.cancel_requested).where(
        jobs.c.id == held.job_id
    )
    if conn.dialect.name == "postgresql":
        # FOR SHARE: a claim that would take the job over (or a cancel) waits until this
        # transaction ends.
        query = query.with_for_update(read=True)
    row = conn.execute(query).first()
    if row is None or row.attempt != held.attempt or row.status != "running":
        return False
    if row.cancel_requested:
        raise JobCancelled("the job was cancelled")
    return True


@contextmanager
def fenced_commit(dbs: Databases, data_conn: Connection, held: Claim) -> Iterator[None]:
    """Around the job's commit: raise LeaseLost unless this claim still owns the job, and
    JobCancelled when a cancel was requested while it ran (invariant 1: it is rolled back).

    PostgreSQL keeps jobs and dataset tables in one database: the check is made in the job's
    own transaction and its share lock holds off a takeover until the commit. On SQLite the
    metadata file's write lock is held across the commit of the dataset file instead.
    """
    if dbs.kind == "postgresql":
        if not holds(data_conn, held):
            raise LeaseLost(f"job {held.job_id}: attempt {held.attempt} lost its lease")
        yield
        return
    with dbs.meta.begin() as meta_conn:
        if not holds(meta_conn, held):
            raise LeaseLost(f"job {held.job_id}: attempt {held.attempt} lost its lease")
        yield


def queue_depth(dbs: Databases) -> int:
    with dbs.meta.connect() as conn:
        return int(
            conn.execute(select(func.count()).where(jobs.c.status == "queued")).scalar() or 0
        )
