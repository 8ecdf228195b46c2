"""API keys for service accounts: created by an admin, shown once, stored as a hash."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import insert, select, update

from mdhub.core import security, times
from mdhub.core.names import check_name
from mdhub.core.security import KEY_PREFIX, check_role
from mdhub.db.engine import Databases
from mdhub.db.paging import page_after
from mdhub.db.tables import api_keys
from mdhub.errors import InvalidRequest, NotFound
from mdhub.services.datasets import workspace_id


def _key_dict(row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "name": row.name,
        "prefix": row.prefix,
        "role": row.role,
        "created_at": times.iso(row.created_at),
        "expires_at": times.iso(row.expires_at),
        "last_used_at": times.iso(row.last_used_at),
        "revoked": row.revoked_at is not None,
    }


def create_key(
    dbs: Databases,
    workspace: str,
    name: str,
    role: str,
    *,
    expires_at: datetime | None = None,
) -> dict[str, Any]:
    """A new API key; the secret is in the answer (`key`) and nowhere else, ever."""
    check_name("key name", name)
    check_role(role)
    now = times.now()
    if expires_at is not None:
        try:
            expires_at = times.utc(expires_at).astimezone(UTC)
        except OverflowError:
            raise InvalidRequest("expires_at is out of range") from None
        if expires_at <= now:
            raise InvalidRequest("expires_at must be in the future")
    secret = security.new_secret(KEY_PREFIX)
    with dbs.meta.begin() as conn:
        key_id = conn.execute(
            insert(api_keys)
            .values(
                workspace_id=workspace_id(conn, workspace),
                name=name,
                prefix=secret[: security.VISIBLE_KEY_CHARS],
                key_hash=security.digest(secret),
                role=role,
                created_at=now,
                expires_at=expires_at,
            )
            .returning(api_keys.c.id)
        ).scalar_one()
        row = conn.execute(select(api_keys).where(api_keys.c.id == key_id)).one()
    return {**_key_dict(row), "key": secret}


def list_keys(
    dbs: Databases, workspace: str, *, after: int | None = None, limit: int | None = None
) -> list[dict[str, Any]]:
    """The workspace's keys by id: those after id `after`, at most `limit` (None: all)."""
    with dbs.meta.connect() as conn:
        query = select(api_keys).where(api_keys.c.workspace_id == workspace_id(conn, workspace))
        rows = conn.execute(page_after(query, api_keys.c.id, after, limit)).all()
    return [_key_dict(r) for r in rows]


def revoke_key(dbs: Databases, workspace: str, key_id: int) -> None:
    with dbs.meta.begin() as conn:
        result = conn.execute(
            update(api_keys)
            .where(
                api_keys.c.id == key_id,
                api_keys.c.workspace_id == workspace_id(conn, workspace),
                api_keys.c.revoked_at.is_(None),
            )
            .values(revoked_at=times.now())
        )
    if result.rowcount != 1:
        raise NotFound(f"API key {key_id} not found")
