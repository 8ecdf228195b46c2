"""Records that have served their time, swept away by the workers (one DELETE per table):
Idempotency-Keys past their 24 hours, login tokens that ended (expired or revoked) a week ago,
windows of failed logins that have closed, and webhook deliveries done a month ago."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import delete, or_

from mdhub.core import times
from mdhub.db.engine import Databases
from mdhub.db.tables import idempotency_keys, login_failures, sessions, webhook_deliveries
from mdhub.services.sessions import LOGIN_WINDOW

# An ended login token is kept this long: using it says "expired" or "revoked", not "unknown".
ENDED_SESSIONS_KEPT = timedelta(days=7)
# A delivered or failed webhook delivery is listed this long.
DONE_DELIVERIES_KEPT = timedelta(days=30)

log = logging.getLogger("mdhub.housekeeping")


def sweep_expired(dbs: Databases, *, now: datetime | None = None) -> dict[str, int]:
    """Delete what has expired; how many rows went, by table."""
    now = now or times.now()
    ended = now - ENDED_SESSIONS_KEPT
    statements = {
        "idempotency_keys": delete(idempotency_keys).where(idempotency_keys.c.expires_at < now),
        "sessions": delete(sessions).where(
            or_(sessions.c.expires_at < ended, sessions.c.revoked_at < ended)
        ),
        "login_failures": delete(login_failures).where(
            login_failures.c.window_start < now - LOGIN_WINDOW
        ),
        "webhook_deliveries": delete(webhook_deliveries).where(
            webhook_deliveries.c.status != "pending",
            webhook_deliveries.c.created_at < now - DONE_DELIVERIES_KEPT,
        ),
    }
    with dbs.meta.begin() as conn:
        swept = {table: conn.execute(sql).rowcount for table, sql in statements.items()}
    if any(swept.values()):
        log.info("expired records swept: %s", swept)
    return swept
