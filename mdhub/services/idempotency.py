"""Idempotency keys (invariant 3): the first answer to a request is kept for at least 24 hours
and given again to the same request; another request with the same key is refused.

`begin` reserves a key (in flight) or returns the stored answer; `complete` stores the answer;
`abandon` frees a key whose request failed, so the client can retry with it.

A process may die between creating the object and storing the answer, or while creating it.
A job records its request's key in its own transaction, so the answer is then recovered from the
job; a reservation that created nothing and is older than IN_FLIGHT_STALE (the creating step
takes milliseconds: the upload is stored before the key is reserved) is taken over.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from mdhub.core import times
from mdhub.db.engine import Databases
from mdhub.db.tables import idempotency_keys
from mdhub.errors import IdempotencyInFlight, IdempotencyKeyReused, InvalidRequest
from mdhub.services.datasets import workspace_id

KEEP_FOR = timedelta(hours=24)
IN_FLIGHT_STALE = timedelta(minutes=1)
MAX_KEY_LENGTH = 255


@dataclass(frozen=True)
class Answer:
    """The first answer given to a request: status, JSON body and Location (if any)."""

    status: int
    body: dict[str, Any]
    location: str | None


# Finds the answer of a first request that created its object but did not store the answer.
Recover = Callable[[], "Answer | None"]


def fingerprint(**parts: Any) -> str:
    """A stable digest of what makes two requests the same (method, path, fields, file hash)."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


def begin(
    dbs: Databases,
    workspace: str,
    key: str,
    request_fingerprint: str,
    recover: Recover | None = None,
) -> Answer | None:
    """Reserve `key` for this request (None: go ahead) or return the first answer to it.

    Raises IdempotencyInFlight while the first request with the key is still being answered,
    and IdempotencyKeyReused when the key was used for a different request. `recover` finds the
    answer of a first request that created its object but died before storing the answer.
    """
    if not key or len(key) > MAX_KEY_LENGTH or "\x00" in key:
        raise InvalidRequest(
            f"Idempotency-Key must be 1 to {MAX_KEY_LENGTH} characters, without NUL"
        )
    now = times.now()
    with dbs.meta.begin() as conn:
        ws = workspace_id(conn, workspace)
        conn.execute(
            delete(idempotency_keys).where(
                idempotency_keys.c.workspace_id == ws,
                idempotency_keys.c.key == key,
                idempotency_keys.c.expires_at < now,
            )
        )
    try:
        with dbs.meta.begin() as conn:
            conn.execute(
                insert(idempotency_keys).values(
                    workspace_id=ws,
                    key=key,
                    fingerprint=request_fingerprint,
                    state="in_flight",
                    created_at=now,
                    expires_at=now + KEEP_FOR,
                )
            )
        return None
    except IntegrityError:
        pass
    with dbs.meta.connect() as conn:
        row = conn.execute(
            select(idempotency_keys).where(
                idempotency_keys.c.workspace_id == ws, idempotency_keys.c.key == key
            )
        ).first()
    if row is None:  # freed by its failed first request in the meantime
        return begin(dbs, workspace, key, request_fingerprint, recover)
    if row.fingerprint != request_fingerprint:
        raise IdempotencyKeyReused(
            "this Idempotency-Key was already used for a different request",
            {"first_used_at": times.utc(row.created_at).isoformat()},
        )
    if row.state == "done":
        return Answer(status=row.response_status, body=row.response_body, location=row.location)
    recovered = recover() if recover is not None else None
    if recovered is not None:
        complete(dbs, workspace, key, recovered)
        return recovered
    if times.utc(row.created_at) < now - IN_FLIGHT_STALE and _take_over(dbs, ws, key, row, now):
        return None
    raise IdempotencyInFlight(
        "the first request with this Idempotency-Key is still in progress; retry shortly"
    )


def _take_over(dbs: Databases, ws: int, key: str, row: Any, now: datetime) -> bool:
    """Reserve a key whose first request died before creating anything (compare and set: of
    two requests taking it over, one wins)."""
    with dbs.meta.begin() as conn:
        taken = conn.execute(
            update(idempotency_keys)
            .where(
                idempotency_keys.c.workspace_id == ws,
                idempotency_keys.c.key == key,
                idempotency_keys.c.state == "in_flight",
                idempotency_keys.c.created_at == row.created_at,
            )
            .values(created_at=now, expires_at=now + KEEP_FOR)
        )
    return taken.rowcount == 1


def complete(dbs: Databases, workspace: str, key: str, answer: Answer) -> None:
    """Store the answer to the request that holds `key`."""
    with dbs.meta.begin() as conn:
        conn.execute(
            update(idempotency_keys)
            .where(
                idempotency_keys.c.workspace_id == workspace_id(conn, workspace),
                idempotency_keys.c.key == key,
            )
            .values(
                state="done",
                response_status=answer.status,
                response_body=answer.body,
                location=answer.location,
            )
        )


def abandon(dbs: Databases, workspace: str, key: str) -> None:
    """Free a key whose request failed before it created anything."""
    with dbs.meta.begin() as conn:
        conn.execute(
            delete(idempotency_keys).where(
                idempotency_keys.c.workspace_id == workspace_id(conn, workspace),
                idempotency_keys.c.key == key,
                idempotency_keys.c.state == "in_flight",
            )
        )


def once(
    dbs: Databases,
    workspace: str,
    key: str | None,
    request_fingerprint: str,
    create: Callable[[], Answer],
    recover: Recover | None = None,
) -> Answer:
    """Answer a creating request at most once per Idempotency-Key (no key: just create)."""
    if key is None:
        return create()
    first = begin(dbs, workspace, key, request_fingerprint, recover)
    if first is not None:
        return first
    try:
        answer = create()
    except BaseException:
        abandon(dbs, workspace, key)
        raise
    complete(dbs, workspace, key, answer)
    return answer
