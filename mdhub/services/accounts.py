"""Accounts: users and their roles per workspace, login sessions, API keys, and turning a
presented secret into the Principal a request acts as (invariant 8)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from mdhub.core import security
from mdhub.core.security import KEY_PREFIX, ROLES, TOKEN_PREFIX
from mdhub.db.engine import Databases
from mdhub.db.tables import api_keys, login_failures, memberships, sessions, users, workspaces
from mdhub.errors import (
    Conflict,
    Forbidden,
    InvalidRequest,
    NotFound,
    RateLimited,
    Unauthorized,
)
from mdhub.services.datasets import NAME_PATTERN, workspace_id

ADMIN_USER = "admin"
DEFAULT_WORKSPACE = "default"
TOKEN_LIFETIME = timedelta(hours=12)
MIN_PASSWORD_LENGTH = 8
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


def _now() -> datetime:
    return datetime.now(UTC)


def _utc(value: datetime) -> datetime:
    """SQLite hands back naive datetimes; every stored time is UTC."""
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _iso(value: datetime | None) -> str | None:
    return _utc(value).isoformat() if value is not None else None


def _check_role(role: str) -> None:
    if role not in ROLES:
        raise InvalidRequest(f"unknown role '{role}' (one of {', '.join(ROLES)})")


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidRequest(f"a password needs at least {MIN_PASSWORD_LENGTH} characters")


def _check_name(kind: str, name: str) -> None:
    if not NAME_PATTERN.match(name):
        raise InvalidRequest(
            f"invalid {kind} {name!r}: 1 to 64 letters, digits, '_', '.' or '-', "
            "starting with a letter or digit"
        )


# Users ---------------------------------------------------------------------------------------


def ensure_admin(dbs: Databases, password: str | None) -> str | None:
    """On first start (no users yet) create `admin`, admin of `default` and instance admin.

    Returns the generated password when none was given (to be shown once), else None.
    """
    with dbs.meta.connect() as conn:
        if conn.execute(select(users.c.id).limit(1)).first() is not None:
            return None
    generated = None if password else secrets.token_urlsafe(18)
    try:
        create_user(
            dbs,
            ADMIN_USER,
            password or generated or "",
            workspace=DEFAULT_WORKSPACE,
            role="admin",
            instance_admin=True,
        )
    except Conflict:  # another process created it first
        return None
    return generated


def create_user(
    dbs: Databases,
    username: str,
    password: str,
    *,
    workspace: str,
    role: str,
    instance_admin: bool = False,
) -> dict[str, Any]:
    """A new user with `role` in `workspace`."""
    _check_name("user name", username)
    _check_role(role)
    _check_password(password)
    password_hash = security.hash_password(password)
    now = _now()
    try:
        with dbs.meta.begin() as conn:
            ws = workspace_id(conn, workspace)
            user_id = conn.execute(
                insert(users)
                .values(
                    username=username,
                    password_hash=password_hash,
                    instance_admin=instance_admin,
                    created_at=now,
                    password_changed_at=now,
                )
                .returning(users.c.id)
            ).scalar_one()
            conn.execute(insert(memberships).values(user_id=user_id, workspace_id=ws, role=role))
    except IntegrityError:
        raise Conflict(f"user '{username}' already exists") from None
    return {"username": username, "role": role, "workspace": workspace}


def _user_in(conn: Connection, workspace: str, username: str) -> Any:
    row = conn.execute(
        select(users.c.id, users.c.username, memberships.c.role)
        .join(memberships, memberships.c.user_id == users.c.id)
        .where(memberships.c.workspace_id == workspace_id(conn, workspace))
        .where(users.c.username == username)
    ).first()
    if row is None:
        raise NotFound(f"user '{username}' not found")
    return row


def list_members(dbs: Databases, workspace: str) -> list[dict[str, Any]]:
    with dbs.meta.connect() as conn:
        rows = conn.execute(
            select(users.c.username, memberships.c.role, users.c.created_at)
            .join(memberships, memberships.c.user_id == users.c.id)
            .where(memberships.c.workspace_id == workspace_id(conn, workspace))
            .order_by(users.c.username)
        ).all()
    return [
        {"username": r.username, "role": r.role, "created_at": _iso(r.created_at)} for r in rows
    ]


def remove_member(dbs: Databases, workspace: str, username: str) -> None:
    """Take a user out of a workspace (the user is deleted with their last workspace)."""
    with dbs.meta.begin() as conn:
        row = _user_in(conn, workspace, username)
        ws = workspace_id(conn, workspace)
        conn.execute(
            delete(memberships).where(
                memberships.c.user_id == row.id, memberships.c.workspace_id == ws
            )
        )
        conn.execute(
            delete(sessions).where(sessions.c.user_id == row.id, sessions.c.workspace_id == ws)
        )
        left = conn.execute(
            select(memberships.c.user_id).where(memberships.c.user_id == row.id)
        ).first()
        if left is None:
            conn.execute(delete(users).where(users.c.id == row.id))


def set_password(dbs: Databases, username: str, password: str) -> None:
    """Set a user's password and revoke all their login tokens."""
    _check_password(password)
    password_hash = security.hash_password(password)
    now = _now()
    with dbs.meta.begin() as conn:
        user_id = conn.execute(select(users.c.id).where(users.c.username == username)).scalar()
        if user_id is None:
            raise NotFound(f"user '{username}' not found")
        conn.execute(
            update(users)
            .where(users.c.id == user_id)
            .values(password_hash=password_hash, password_changed_at=now)
        )
        conn.execute(
            update(sessions)
            .where(sessions.c.user_id == user_id, sessions.c.revoked_at.is_(None))
            .values(revoked_at=now)
        )


def reset_member_password(
    dbs: Databases, principal: Principal, username: str, password: str
) -> None:
    """A workspace admin sets the password of a member of their workspace (and revokes the
    member's login tokens).

    An instance admin, or a user who also belongs to another workspace, can only be reset by an
    instance admin: a workspace's admin must not take over an account beyond their workspace.
    """
    with dbs.meta.connect() as conn:
        member = _user_in(conn, principal.workspace, username)
        if not principal.instance_admin:
            user = conn.execute(select(users.c.instance_admin).where(users.c.id == member.id))
            workspaces_of = conn.execute(
                select(func.count()).where(memberships.c.user_id == member.id)
            ).scalar_one()
            if user.scalar_one() or workspaces_of > 1:
                raise Forbidden(
                    f"only an instance admin can reset the password of '{username}': "
                    "the user is an instance admin or belongs to another workspace too"
                )
    set_password(dbs, username, password)


def change_own_password(dbs: Databases, principal: Principal, current: str, new: str) -> None:
    if principal.user_id is None:
        raise Forbidden("an API key has no password: only a logged-in user can change theirs")
    with dbs.meta.connect() as conn:
        stored = conn.execute(
            select(users.c.password_hash).where(users.c.id == principal.user_id)
        ).scalar()
    if principal.username is None or not security.verify_password(stored, current):
        raise Forbidden("the current password is not right")
    set_password(dbs, principal.username, new)


# Login sessions ------------------------------------------------------------------------------


def _count_failure(conn: Connection, subject: str, now: datetime) -> None:
    row = conn.execute(select(login_failures).where(login_failures.c.subject == subject)).first()
    if row is None:
        conn.execute(insert(login_failures).values(subject=subject, window_start=now, failures=1))
    elif _utc(row.window_start) + LOGIN_WINDOW < now:
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
        ends = _utc(row.window_start) + LOGIN_WINDOW
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
    now = _now()
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
            update(sessions).where(sessions.c.id == principal.session_id).values(revoked_at=_now())
        )


# API keys ------------------------------------------------------------------------------------


def _key_dict(row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "name": row.name,
        "prefix": row.prefix,
        "role": row.role,
        "created_at": _iso(row.created_at),
        "expires_at": _iso(row.expires_at),
        "last_used_at": _iso(row.last_used_at),
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
    _check_name("key name", name)
    _check_role(role)
    now = _now()
    if expires_at is not None:
        try:
            expires_at = _utc(expires_at).astimezone(UTC)
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


def list_keys(dbs: Databases, workspace: str) -> list[dict[str, Any]]:
    with dbs.meta.connect() as conn:
        rows = conn.execute(
            select(api_keys)
            .where(api_keys.c.workspace_id == workspace_id(conn, workspace))
            .order_by(api_keys.c.id)
        ).all()
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
            .values(revoked_at=_now())
        )
    if result.rowcount != 1:
        raise NotFound(f"API key {key_id} not found")


# Authentication ------------------------------------------------------------------------------


def authenticate(dbs: Databases, secret: str) -> Principal:
    """The Principal behind a login token or API key; Unauthorized when there is none."""
    if secret.startswith(TOKEN_PREFIX):
        return _from_session(dbs, secret)
    if secret.startswith(KEY_PREFIX):
        return _from_key(dbs, secret)
    raise Unauthorized("invalid credential")


def _from_session(dbs: Databases, token: str) -> Principal:
    now = _now()
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
    if row is None or row.revoked_at is not None or _utc(row.expires_at) <= now:
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
    now = _now()
    with dbs.meta.connect() as conn:
        row = conn.execute(
            select(api_keys, workspaces.c.name.label("workspace"))
            .join(workspaces, workspaces.c.id == api_keys.c.workspace_id)
            .where(api_keys.c.key_hash == security.digest(secret))
        ).first()
    expired = row is not None and row.expires_at is not None and _utc(row.expires_at) <= now
    if row is None or row.revoked_at is not None or expired:
        raise Unauthorized("invalid, expired or revoked API key")
    if row.last_used_at is None or _utc(row.last_used_at) + LAST_USED_RESOLUTION < now:
        with dbs.meta.begin() as conn:
            conn.execute(update(api_keys).where(api_keys.c.id == row.id).values(last_used_at=now))
    return Principal(
        workspace=row.workspace, workspace_id=row.workspace_id, role=row.role, key_id=row.id
    )


# Workspaces ----------------------------------------------------------------------------------


def list_workspaces(dbs: Databases, principal: Principal) -> list[dict[str, Any]]:
    """All workspaces for an instance admin; otherwise the principal's own."""
    with dbs.meta.connect() as conn:
        query = select(workspaces.c.name, workspaces.c.created_at).order_by(workspaces.c.name)
        if not principal.instance_admin:
            query = query.where(workspaces.c.id == principal.workspace_id)
        rows = conn.execute(query).all()
    return [{"name": r.name, "created_at": _iso(r.created_at)} for r in rows]


def create_workspace(dbs: Databases, name: str, *, admin_user_id: int | None) -> dict[str, Any]:
    """A new workspace; the creating user becomes its admin."""
    _check_name("workspace name", name)
    now = _now()
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
