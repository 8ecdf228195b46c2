"""Webhooks: URLs a workspace's admin registers to be told when a job ends.

A job's final status and one delivery per subscribed webhook are written in ONE transaction
(an outbox, `record_job_event`): an event goes out only for a status that committed, and none is
lost when a process dies. The workers' sender (mdhub.worker.webhook_sender) claims each due
delivery (compare and set: of several senders, one sends it), POSTs it signed with the
webhook's secret, and tries again later with a growing delay until MAX_ATTEMPTS.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import Connection, delete, insert, select, update

from mdhub.core import times
from mdhub.db.engine import Databases
from mdhub.db.paging import page_after
from mdhub.db.tables import webhook_deliveries, webhooks, workspaces
from mdhub.errors import InvalidRequest, NotFound
from mdhub.services.datasets import workspace_id

EVENTS = ("job.succeeded", "job.failed", "job.cancelled")
MAX_URL_LENGTH = 2000
MAX_ATTEMPTS = 8
SIGNATURE_HEADER = "X-Mdhub-Signature"


@dataclass(frozen=True)
class Delivery:
    """A claimed delivery: what to send where, and the attempt it is."""

    id: int
    webhook_id: int
    job_id: int
    event: str
    attempt: int
    url: str
    secret: str
    workspace: str


def create_webhook(
    dbs: Databases, workspace: str, url: str, events: list[str] | None = None
) -> dict[str, Any]:
    """A new webhook; the answer holds its signing `secret`, shown this once."""
    _check_url(url)
    chosen = list(dict.fromkeys(events)) if events else list(EVENTS)
    unknown = [e for e in chosen if e not in EVENTS]
    if unknown:
        raise InvalidRequest(
            f"unknown event(s) {', '.join(unknown)} (one of {', '.join(EVENTS)})",
            {"events": unknown},
        )
    secret = secrets.token_hex(32)
    now = times.now()
    with dbs.meta.begin() as conn:
        webhook_id = conn.execute(
            insert(webhooks)
            .values(
                workspace_id=workspace_id(conn, workspace),
                url=url,
                events=chosen,
                secret=secret,
                created_at=now,
            )
            .returning(webhooks.c.id)
        ).scalar_one()
    created = {"id": webhook_id, "url": url, "events": chosen, "created_at": now.isoformat()}
    return {**created, "secret": secret}


def list_webhooks(
    dbs: Databases, workspace: str, *, after: int | None = None, limit: int | None = None
) -> list[dict[str, Any]]:
    """The workspace's webhooks by id (never their secrets)."""
    with dbs.meta.connect() as conn:
        query = select(
            webhooks.c.id, webhooks.c.url, webhooks.c.events, webhooks.c.created_at
        ).where(webhooks.c.workspace_id == workspace_id(conn, workspace))
        rows = conn.execute(page_after(query, webhooks.c.id, after, limit)).all()
    return [
        {"id": r.id, "url": r.url, "events": r.events, "created_at": times.iso(r.created_at)}
        for r in rows
    ]


def delete_webhook(dbs: Databases, workspace: str, webhook_id: int) -> None:
    """Delete a webhook; its deliveries not yet sent are never sent."""
    with dbs.meta.begin() as conn:
        gone = conn.execute(
            delete(webhooks).where(
                webhooks.c.id == webhook_id,
                webhooks.c.workspace_id == workspace_id(conn, workspace),
            )
        )
    if gone.rowcount == 0:
        raise NotFound(f"webhook {webhook_id} not found")


def list_deliveries(
    dbs: Databases,
    workspace: str,
    webhook_id: int,
    *,
    before: int | None = None,
    limit: int | None = None,
) -> list[dict[str, Any]]:
    """A webhook's deliveries, newest first."""
    d = webhook_deliveries
    with dbs.meta.connect() as conn:
        owner = conn.execute(
            select(webhooks.c.id).where(
                webhooks.c.id == webhook_id,
                webhooks.c.workspace_id == workspace_id(conn, workspace),
            )
        ).first()
        if owner is None:
            raise NotFound(f"webhook {webhook_id} not found")
        query = select(d).where(d.c.webhook_id == webhook_id).order_by(d.c.id.desc()).limit(limit)
        if before is not None:
            query = query.where(d.c.id < before)
        rows = conn.execute(query).all()
    return [
        {
            "id": r.id,
            "job": r.job_id,
            "event": r.event,
            "status": r.status,
            "attempts": r.attempts,
            "last_error": r.last_error,
            "created_at": times.iso(r.created_at),
            "delivered_at": times.iso(r.delivered_at) if r.delivered_at else None,
        }
        for r in rows
    ]


def record_job_event(conn: Connection, job_id: int, ws: int, status: str) -> None:
    """In the transaction that gives a job its final `status`: a delivery for each webhook of
    workspace `ws` that wants the event (one statement)."""
    event, now = f"job.{status}", times.now()
    subscribed = conn.execute(
        select(webhooks.c.id, webhooks.c.events).where(webhooks.c.workspace_id == ws)
    ).all()
    rows = [
        {
            "webhook_id": webhook_id,
            "job_id": job_id,
            "event": event,
            "status": "pending",
            "attempts": 0,
            "next_attempt_at": now,
            "created_at": now,
        }
        for webhook_id, events in subscribed
        if event in events
    ]
    if rows:
        conn.execute(insert(webhook_deliveries).values(rows))


def claim_due(dbs: Databases, hold: timedelta) -> Delivery | None:
    """The oldest delivery due now, claimed for `hold` (another sender takes it up after that,
    should this one die); None when nothing is due."""
    d, now = webhook_deliveries, times.now()
    with dbs.read_meta() as conn:  # idle senders only read: no write lock every poll
        row = conn.execute(
            select(
                d.c.id,
                d.c.webhook_id,
                d.c.job_id,
                d.c.event,
                d.c.attempts,
                webhooks.c.url,
                webhooks.c.secret,
                workspaces.c.name.label("workspace"),
            )
            .join(webhooks, webhooks.c.id == d.c.webhook_id)
            .join(workspaces, workspaces.c.id == webhooks.c.workspace_id)
            .where(d.c.status == "pending", d.c.next_attempt_at <= now)
            .order_by(d.c.next_attempt_at, d.c.id)
            .limit(1)
        ).first()
    if row is None:
        return None
    with dbs.meta.begin() as conn:
        claimed = conn.execute(
            update(d)
            .where(d.c.id == row.id, d.c.status == "pending", d.c.attempts == row.attempts)
            .values(attempts=row.attempts + 1, next_attempt_at=now + hold)
        )
    if claimed.rowcount != 1:
        return None  # another sender took it first
    return Delivery(
        id=row.id,
        webhook_id=row.webhook_id,
        job_id=row.job_id,
        event=row.event,
        attempt=row.attempts + 1,
        url=row.url,
        secret=row.secret,
        workspace=row.workspace,
    )


def signature(secret: str, body: bytes) -> str:
    """`sha256=` and the hex HMAC-SHA256 of the body under the webhook's secret."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def delivered(dbs: Databases, delivery: Delivery) -> None:
    with dbs.meta.begin() as conn:
        conn.execute(
            update(webhook_deliveries)
            .where(webhook_deliveries.c.id == delivery.id)
            .values(status="delivered", delivered_at=times.now(), last_error=None)
        )


def not_delivered(dbs: Databases, delivery: Delivery, error: str, retry_in: timedelta) -> None:
    """Try again after `retry_in`, or give up after the last attempt."""
    done = delivery.attempt >= MAX_ATTEMPTS
    values: dict[str, Any] = {"last_error": error[:1000]}
    if done:
        values["status"] = "failed"
    else:
        values["next_attempt_at"] = times.now() + retry_in
    with dbs.meta.begin() as conn:
        conn.execute(
            update(webhook_deliveries)
            .where(webhook_deliveries.c.id == delivery.id)
            .values(**values)
        )


def _check_url(url: str) -> None:
    parts = urlsplit(url)
    if len(url) > MAX_URL_LENGTH or parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidRequest(
            f"a webhook URL is http:// or https:// with a host, at most {MAX_URL_LENGTH} "
            f"characters: '{url[:100]}'"
        )
