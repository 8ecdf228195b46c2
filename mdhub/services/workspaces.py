"""Workspaces: the tenancy boundary; instance admins create them."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, func, insert, select
from sqlalchemy.exc import IntegrityError

from mdhub.core import times
from mdhub.core.names import check_name
from mdhub.db.engine import Databases
from mdhub.db.paging import page_after
from mdhub.db.tables import idempotency_keys, jobs, memberships, users, workspaces
from mdhub.errors import Conflict
from mdhub.services import datasets
from mdhub.services.datasets import workspace_id
from mdhub.services.sessions import Principal
from mdhub.worker.queue import IN_LINE


def list_workspaces(
    dbs: Databases, principal: Principal, *, after: str | None = None, limit: int | None = None
) -> list[dict[str, Any]]:
    """All workspaces by name for an instance admin, otherwise the principal's own: those after
    `after`, at most `limit` (None: all)."""
    with dbs.meta.connect() as conn:
        query = select(workspaces.c.name, workspaces.c.created_at)
        if not principal.instance_admin:
            query = query.where(workspaces.c.id == principal.workspace_id)
        rows = conn.execute(page_after(query, workspaces.c.name, after, limit)).all()
    return [{"name": r.name, "created_at": times.iso(r.created_at)} for r in rows]


def create_workspace(dbs: Databases, name: str, *, admin_user_id: int | None) -> dict[str, Any]:
    """A new workspace; the creating user becomes its admin."""
    check_name("workspace name", name)
    now = times.now()
    try:
        with dbs.meta.begin() as conn:
            ws = conn.execute(
                insert(workspaces).values(name=name, created_at=now).returning(workspaces.c.id)
            ).scalar_one()
            if admin_user_id is not None:
                conn.execute(
                    insert(memberships).values(user_id=admin_user_id, workspace_id=ws, role="admin")
                )
    except IntegrityError:
        raise Conflict(f"workspace '{name}' already exists") from None
    return {"name": name, "created_at": now.isoformat()}


def delete_workspace(dbs: Databases, name: str, principal: Principal) -> None:
    """Delete a workspace and everything in it: its datasets (their tables too), jobs, API
    keys, memberships and login tokens, and the users it was the last workspace of. Refused
    for the workspace the request acts in, and while a job of it is queued or running."""
    if name == principal.workspace:
        raise Conflict(f"workspace '{name}' is the one this request acts in: act in another")
    with dbs.meta.connect() as conn:
        ws = workspace_id(conn, name)
        busy = conn.execute(
            select(func.count()).where(jobs.c.workspace_id == ws, jobs.c.status.in_(IN_LINE))
        ).scalar_one()
    if busy:
        raise Conflict(
            f"workspace '{name}' has {busy} job(s) queued or running: cancel them or wait",
            {"jobs": busy},
        )
    for dataset in datasets.list_datasets(dbs, name):
        datasets.delete_dataset(dbs, name, dataset.name)
    with dbs.meta.begin() as conn:
        only_here = (
            select(memberships.c.user_id)
            .group_by(memberships.c.user_id)
            .having(func.count() == 1, func.max(memberships.c.workspace_id) == ws)
        )
        conn.execute(delete(users).where(users.c.id.in_(only_here)))
        conn.execute(delete(idempotency_keys).where(idempotency_keys.c.workspace_id == ws))
        conn.execute(delete(jobs).where(jobs.c.workspace_id == ws))
        # Memberships, API keys and login tokens go with the workspace (ON DELETE CASCADE).
        conn.execute(delete(workspaces).where(workspaces.c.id == ws))
