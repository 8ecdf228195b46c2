"""Sessions: login (rate-limited) and logout, and turning a presented secret — a login token
or an API key — into the Principal a request acts as (invariant 8)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update

from mdhub.core import security, times
from mdhub.core.security import KEY_PREFIX, TOKEN_PREFIX
from mdhub.db.engine import Databases
from mdhub.db.tables import api_keys, login_failures, memberships, sessions, users, workspaces
from mdhub.errors import InvalidRequest, NotFound, RateLimited, Unauthorized

DEFAULT_WORKSPACE = "default"
TOKEN_LIFETIME = timedelta(hours=12)
# Failed logins allowed per window, per user name and per client address.
LOGIN_WINDOW = timedelta(minutes=15)
MAX_FAILURES_PER_USER = 10
MAX_FAILURES_PER_ADDRESS = 100
# last_used_at of an API key is written at most this often (not a write per request).
LAST_USED_RESOLUTION = timedelta(minutes=1)


@dataclass(frozen=True)
class Principal:
    """Who a request acts as: a workspace, a role in it, and the user or API key behind it."""

    workspace: str
    workspace_id: int
    role: str
    user_id: int | None = None
    username: str | None = None
    key_id: int | None = None
    session_id: int | None = None
    instance_admin: bool = False


def _count_failure(conn: Connection, subject: str, now: datetime) -> None:
    row = conn.execute(select(login_failures).where(login_failures.c.subject == subject)).first()
    if row is None:
        conn.execute(insert(login_failures).values(subject=subject, window_start=now, failures=1))
    elif times.utc(row.window_start) + LOGIN_WINDOW < now:
        conn.execute(
            update(login_failures)
            .where(login_failures.c.subject == subject)
            .values(window_start=now, failures=1)
        )
    else:
        conn.execute(
            update(login_failures)
            .where(login_failures.c.subject == subject)
            .values(failures=login_failures.c.failures + 1)
        )


def _check_rate(conn: Connection, subjects: dict[str, int], now: datetime) -> None:
    for subject, limit in subjects.items():
        row = conn.execute(
            select(login_failures).where(login_failures.c.subject == subject)
        ).first()
        if row is None:
            continue
        ends = times.utc(row.window_start) + LOGIN_WINDOW
        if ends >= now and row.failures >= limit:
            retry = int((ends - now).total_seconds()) + 1
            raise RateLimited(
                "too many failed logins; try again later", {"retry_after_seconds": retry}
            )


def login(
    dbs: Databases,
    username: str,
    password: str,
    *,
    workspace: str | None = None,
    address: str = "unknown",
) -> dict[str, Any]:
    """A new login token for a user in one of their workspaces.

    A wrong user name and a wrong password fail alike (same message, same time); failures are
    counted per user name and per address, and past the limits logins are refused for a while.
    """
    if "\x00" in username:
        # No user name holds one (and PostgreSQL text cannot): refused before any lookup.
        raise InvalidRequest("the user name contains a NUL character")
    now = times.now()
    subjects = {
        f"user:{username[:140]}": MAX_FAILURES_PER_USER,
        f"addr:{address[:140]}": MAX_FAILURES_PER_ADDRESS,
    }
    with dbs.meta.connect() as conn:
        _check_rate(conn, subjects, now)
        user = conn.execute(select(users).where(users.c.username == username)).first()
        rows: list[Any] = []
        if user is not None:
            rows = list(
                conn.execute(
                    select(workspaces.c.name, workspaces.c.id, memberships.c.role)
                    .join(memberships, memberships.c.workspace_id == workspaces.c.id)
                    .where(memberships.c.user_id == user.id)
                    .order_by(workspaces.c.name)
                )
            )
    if not security.verify_password(user.password_hash if user else None, password):
        with dbs.meta.begin() as conn:
            for subject in subjects:
                _count_failure(conn, subject, now)
        raise Unauthorized("invalid user name or password")
    assert user is not None
    chosen = _choose_workspace(rows, workspace)
    token = security.new_secret(TOKEN_PREFIX)
    expires = now + TOKEN_LIFETIME
    with dbs.meta.begin() as conn:
        conn.execute(
            delete(login_failures).where(login_failures.c.subject == f"user:{username[:140]}")
        )
        conn.execute(
            insert(sessions).values(
                user_id=user.id,
                workspace_id=chosen.id,
                token_hash=security.digest(token),
                created_at=now,
                expires_at=expires,
            )
        )
    return {
        "token": token,
        "token_type": "bearer",
        "expires_at": expires.isoformat(),
        "workspace": chosen.name,
        "role": chosen.role,
    }


def _choose_workspace(rows: list[Any], wanted: str | None) -> Any:
    if wanted is not None:
        for row in rows:
            if row.name == wanted:
                return row
        raise NotFound(f"workspace '{wanted}' not found")
    for row in rows:
        if row.name == DEFAULT_WORKSPACE:
            return row
    if len(rows) == 1:
        return rows[0]
    if not rows:
        raise Unauthorized("this user has no workspace")
    raise InvalidRequest(
        "this user belongs to several workspaces: name one in `workspace`",
        {"workspaces": [r.name for r in rows]},
    )


def logout(dbs: Databases, principal: Principal) -> None:
    """Revoke the login token the request came with."""
    if principal.session_id is None:
        raise InvalidRequest("only a login token can log out (API keys are revoked instead)")
    with dbs.meta.begin() as conn:
        conn.execute(
            update(sessions)
            .where(sessions.c.id == principal.session_id)
            .values(revoked_at=times.now())
        )


def authenticate(dbs: Databases, secret: str) -> Principal:
    """The Principal behind a login token or API key; Unauthorized when there is none."""
    if secret.startswith(TOKEN_PREFIX):
        return _from_session(dbs, secret)
    if secret.startswith(KEY_PREFIX):
        return _from_key(dbs, secret)
    raise Unauthorized("invalid credential")


def _from_session(dbs: Databases, token: str) -> Principal:
    now = times.now()
    with dbs.meta.connect() as conn:
        row = conn.execute(
            select(
                sessions.c.id,
                sessions.c.expires_at,
                sessions.c.revoked_at,
                users.c.id.label("user_id"),
                users.c.username,
                users.c.instance_admin,
                workspaces.c.name.label("workspace"),
                workspaces.c.id.label("workspace_id"),
                memberships.c.role,
            )
            .join(users, users.c.id == sessions.c.user_id)
            .join(workspaces, workspaces.c.id == sessions.c.workspace_id)
            .join(
                memberships,
                (memberships.c.user_id == users.c.id)
                & (memberships.c.workspace_id == workspaces.c.id),
            )
            .where(sessions.c.token_hash == security.digest(token))
        ).first()
    if row is None or row.revoked_at is not None or times.utc(row.expires_at) <= now:
        raise Unauthorized("invalid, expired or revoked login token")
    return Principal(
        workspace=row.workspace,
        workspace_id=row.workspace_id,
        role=row.role,
        user_id=row.user_id,
        username=row.username,
        session_id=row.id,
        instance_admin=row.instance_admin,
    )


def _from_key(dbs: Databases, secret: str) -> Principal:
    now = times.now()
    with dbs.meta.connect() as conn:
        row = conn.execute(
            select(api_keys, workspaces.c.name.label("workspace"))
            .join(workspaces, workspaces.c.id == api_keys.c.workspace_id)
            .where(api_keys.c.key_hash == security.digest(secret))
        ).first()
    expired = row is not None and row.expires_at is not None and times.utc(row.expires_at) <= now
    if row is None or row.revoked_at is not None or expired:
        raise Unauthorized("invalid, expired or revoked API key")
    if row.last_used_at is None or times.utc(row.last_used_at) + LAST_USED_RESOLUTION < now:
        with dbs.meta.begin() as conn:
            conn.execute(update(api_keys).where(api_keys.c.id == row.id).values(last_used_at=now))
    return Principal(
        workspace=row.workspace, workspace_id=row.workspace_id, role=row.role, key_id=row.id
    )
