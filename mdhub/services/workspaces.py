"""Workspaces: the tenancy boundary; instance admins create them."""

from __future__ import annotations

from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError

from mdhub.core import times
from mdhub.core.names import check_name
from mdhub.db.engine import Databases
from mdhub.db.tables import memberships, workspaces
from mdhub.errors import Conflict
from mdhub.services.sessions import Principal


def list_workspaces(
    dbs: Databases, principal: Principal, *, after: str | None = None, limit: int | None = None
) -> list[dict[str, Any]]:
    """All workspaces by name for an instance admin, otherwise the principal's own: those after
    `after`, at most `limit` (None: all)."""
    with dbs.meta.connect() as conn:
        query = (
            select(workspaces.c.name, workspaces.c.created_at)
            .order_by(workspaces.c.name)
            .limit(limit)
        )
        if not principal.instance_admin:
            query = query.where(workspaces.c.id == principal.workspace_id)
        if after is not None:
            query = query.where(workspaces.c.name > after)
        rows = conn.execute(query).all()
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
