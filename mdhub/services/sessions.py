"""Sessions: login (rate-limited) and logout, and turning a presented secret — a login token
or an API key — into the Principal a request acts as (invariant 8)."""

from __future__ import annotations

import math
import re
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, delete, event, insert, select, update

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
# How long an authenticated credential is remembered by a process (see CredentialCache): the
# longest another process's revocation can take to be seen here; this process's own take
# effect at once.
CREDENTIAL_CACHE_SECONDS = 1.0
CREDENTIAL_CACHE_MAX_ENTRIES = 10_000
# A statement that may change who a credential is: a write naming a credential table.
_WRITE = re.compile(r"^\s*(?:INSERT|UPDATE|DELETE|REPLACE|ALTER|DROP|TRUNCATE)\b", re.IGNORECASE)
_CREDENTIAL_TABLES = re.compile(r"\b(?:sessions|api_keys|memberships|users|workspaces)\b")
_CHANGED = "mdhub_credentials_changed"  # flag in a DBAPI connection's info


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


class CredentialCache:
    """The Principals of recently authenticated secrets, by digest, for one metadata engine.

    Authenticating costs a pooled connection and three or four round trips to the metadata
    store on every request; a key-lookup client sends the same key hundreds of times a
    second. An entry lives CREDENTIAL_CACHE_SECONDS at most (and never past the credential's
    expiry). Revocation in this process takes effect at once: every statement through the
    engine that writes a credential table (sessions, api_keys, memberships, users,
    workspaces) turns the cache off until its connection is back in the pool — its
    transaction over — and then empties it; an answer read from the store while such a
    write was under way is not remembered. Another process's revocation is seen within
    CREDENTIAL_CACHE_SECONDS. A store whose writes do not go through the engine is not
    seen: the cache then only shortens its life.
    """

    def __init__(self, engine: Engine, seconds: float | None = None) -> None:
        self.seconds = CREDENTIAL_CACHE_SECONDS if seconds is None else seconds
        self._lock = threading.Lock()
        self._entries: dict[str, tuple[float, Principal, float]] = {}  # until, who, renew at
        self._epoch = 0  # changes whenever a credential write is over
        self._writing = 0  # connections holding a credential write not yet returned
        event.listen(engine, "after_cursor_execute", self._after_cursor_execute)
        event.listen(engine, "checkin", self._checkin)
        event.listen(engine, "invalidate", self._checkin)

    def _after_cursor_execute(self, conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if _WRITE.match(statement) and _CREDENTIAL_TABLES.search(statement):
            info = conn.info
            with self._lock:
                if not info.get(_CHANGED):
                    info[_CHANGED] = True
                    self._writing += 1
                self._entries.clear()

    def _checkin(self, _dbapi_connection: Any, record: Any, *_args: Any) -> None:
        if record is not None and record.info.pop(_CHANGED, False):
            with self._lock:
                self._writing -= 1
                self._epoch += 1
                self._entries.clear()

    def epoch(self) -> int:
        with self._lock:
            return self._epoch

    def get(self, digest: str) -> Principal | None:
        with self._lock:
            if self._writing:
                return None
            found = self._entries.get(digest)
        if found is None or found[0] <= time.monotonic():
            return None
        return found[1]

    def renewal_due(self, digest: str) -> bool:
        """Whether the entry has lived half its time with no renewal asked for yet (asking is
        this call: it says so once per entry). Renewing it then, while it still answers,
        spares a busy client's requests from all finding it gone at once."""
        with self._lock:
            found = self._entries.get(digest)
            if found is None or found[2] > time.monotonic():
                return False
            self._entries[digest] = (found[0], found[1], math.inf)
            return True

    def forget(self, digest: str) -> None:
        with self._lock:
            self._entries.pop(digest, None)

    def put(
        self, digest: str, principal: Principal, *, epoch: int, expires_at: datetime | None
    ) -> None:
        """Remember `principal` if no credential changed since `epoch` was read."""
        seconds = self.seconds
        if expires_at is not None:
            seconds = min(seconds, (times.utc(expires_at) - times.now()).total_seconds())
        now = time.monotonic()
        until, renew_at = now + seconds, now + seconds / 2
        with self._lock:
            if self._writing or epoch != self._epoch or seconds <= 0:
                return
            if len(self._entries) >= CREDENTIAL_CACHE_MAX_ENTRIES:
                now = time.monotonic()
                self._entries = {d: e for d, e in self._entries.items() if e[0] > now}
                if len(self._entries) >= CREDENTIAL_CACHE_MAX_ENTRIES:
                    return
            self._entries[digest] = (until, principal, renew_at)


_caches: weakref.WeakKeyDictionary[Engine, CredentialCache] = weakref.WeakKeyDictionary()
_caches_lock = threading.Lock()


def credential_cache(dbs: Databases) -> CredentialCache:
    """The CredentialCache of a metadata engine (made on first use; it lives as the engine)."""
    with _caches_lock:
        cache = _caches.get(dbs.meta)
        if cache is None:
            cache = _caches[dbs.meta] = CredentialCache(dbs.meta)
        return cache


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


def cached_principal(dbs: Databases, secret: str) -> Principal | None:
    """The Principal of a secret authenticated a moment ago (see CredentialCache), without
    touching the store; None when `authenticate` must ask it."""
    if not secret.startswith((TOKEN_PREFIX, KEY_PREFIX)):
        return None
    return credential_cache(dbs).get(security.digest(secret))


def authenticate(dbs: Databases, secret: str) -> Principal:
    """The Principal behind a login token or API key; Unauthorized when there is none."""
    cached = cached_principal(dbs, secret)
    return cached if cached is not None else _read_and_remember(dbs, secret)


def remembered(dbs: Databases, secret: str) -> tuple[Principal | None, bool]:
    """`cached_principal`, and whether it is due to be checked again now (see `renew`); the
    secret digested once, for the requests that need no more."""
    if not secret.startswith((TOKEN_PREFIX, KEY_PREFIX)):
        return None, False
    cache, digest = credential_cache(dbs), security.digest(secret)
    principal = cache.get(digest)
    return principal, principal is not None and cache.renewal_due(digest)


def renew(dbs: Databases, secret: str) -> None:
    """Check a remembered credential against the store again and remember it anew, or forget
    it when it is no longer valid."""
    try:
        _read_and_remember(dbs, secret)
    except Unauthorized:
        credential_cache(dbs).forget(security.digest(secret))


def _read_and_remember(dbs: Databases, secret: str) -> Principal:
    read: Callable[[Databases, str], tuple[Principal, datetime | None]]
    if secret.startswith(TOKEN_PREFIX):
        read = _from_session
    elif secret.startswith(KEY_PREFIX):
        read = _from_key
    else:
        raise Unauthorized("invalid credential")
    digest = security.digest(secret)
    cache = credential_cache(dbs)
    epoch = cache.epoch()
    principal, expires_at = read(dbs, digest)
    cache.put(digest, principal, epoch=epoch, expires_at=expires_at)
    return principal


def _from_session(dbs: Databases, digest: str) -> tuple[Principal, datetime]:
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
            .where(sessions.c.token_hash == digest)
        ).first()
    if row is None or row.revoked_at is not None or times.utc(row.expires_at) <= now:
        raise Unauthorized("invalid, expired or revoked login token")
    principal = Principal(
        workspace=row.workspace,
        workspace_id=row.workspace_id,
        role=row.role,
        user_id=row.user_id,
        username=row.username,
        session_id=row.id,
        instance_admin=row.instance_admin,
    )
    return principal, row.expires_at


def _from_key(dbs: Databases, digest: str) -> tuple[Principal, datetime | None]:
    now = times.now()
    with dbs.meta.connect() as conn:
        row = conn.execute(
            select(api_keys, workspaces.c.name.label("workspace"))
            .join(workspaces, workspaces.c.id == api_keys.c.workspace_id)
            .where(api_keys.c.key_hash == digest)
        ).first()
    expired = row is not None and row.expires_at is not None and times.utc(row.expires_at) <= now
    if row is None or row.revoked_at is not None or expired:
        raise Unauthorized("invalid, expired or revoked API key")
    if row.last_used_at is None or times.utc(row.last_used_at) + LAST_USED_RESOLUTION < now:
        with dbs.meta.begin() as conn:
            conn.execute(update(api_keys).where(api_keys.c.id == row.id).values(last_used_at=now))
    principal = Principal(
        workspace=row.workspace, workspace_id=row.workspace_id, role=row.role, key_id=row.id
    )
    return principal, row.expires_at
