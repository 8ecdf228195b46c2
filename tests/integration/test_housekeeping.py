"""Expired records are swept by the workers' maintenance, on both databases: Idempotency-Keys
past their time, login tokens a week after they ended, closed windows of failed logins; what
is still in use stays."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import insert, select

from mdhub.core import times
from mdhub.db.tables import idempotency_keys, login_failures, sessions, users, workspaces
from mdhub.services import accounts
from mdhub.services.hub import Hub
from mdhub.worker.pool import Worker, WorkerOptions

DAY = timedelta(days=1)


def seed(hub: Hub) -> None:
    """Rows of each table, named by whether they should outlive a sweep."""
    now = times.now()
    accounts.create_user(hub.dbs, "erin", "erin-password", workspace="default", role="reader")
    with hub.dbs.meta.begin() as conn:
        ws = conn.execute(select(workspaces.c.id).where(workspaces.c.name == "default")).scalar()
        user = conn.execute(select(users.c.id).where(users.c.username == "erin")).scalar()
        for key, expires in (("stays", now + DAY), ("goes", now - DAY)):
            conn.execute(
                insert(idempotency_keys).values(
                    workspace_id=ws,
                    key=key,
                    fingerprint="f",
                    state="done",
                    created_at=expires - DAY,
                    expires_at=expires,
                )
            )
        ended_long_ago, ended_lately = now - 8 * DAY, now - DAY
        for token, expires, revoked in (
            ("stays-live", now + DAY, None),
            ("stays-expired-lately", ended_lately, None),
            ("stays-revoked-lately", now + DAY, ended_lately),
            ("goes-expired", ended_long_ago, None),
            ("goes-revoked", now + DAY, ended_long_ago),
        ):
            conn.execute(
                insert(sessions).values(
                    user_id=user,
                    workspace_id=ws,
                    token_hash=token,
                    created_at=now - 9 * DAY,
                    expires_at=expires,
                    revoked_at=revoked,
                )
            )
        for subject, started in (("stays", now), ("goes", now - DAY)):
            conn.execute(
                insert(login_failures).values(subject=subject, window_start=started, failures=3)
            )


def remaining(hub: Hub) -> dict[str, Any]:
    with hub.dbs.meta.connect() as conn:
        return {
            "keys": set(conn.execute(select(idempotency_keys.c.key)).scalars()),
            "tokens": set(conn.execute(select(sessions.c.token_hash)).scalars()),
            "failures": set(conn.execute(select(login_failures.c.subject)).scalars()),
        }


def test_a_workers_maintenance_sweeps_what_expired_and_nothing_else(hub: Hub) -> None:
    seed(hub)
    before = remaining(hub)
    worker = Worker(hub.dbs, hub.storage, options=WorkerOptions(change_retention=None))
    worker.maintain()
    after = remaining(hub)
    for table, names in before.items():
        assert after[table] == {n for n in names if not n.startswith("goes")}, table
    worker.maintain()  # nothing more to sweep
    assert remaining(hub) == after
