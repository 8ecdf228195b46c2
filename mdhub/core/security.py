"""Secrets: password hashing (argon2id), random tokens and API keys, roles and their order.

Passwords are low-entropy and get a slow, salted hash. Login tokens and API keys are random
256-bit secrets: a SHA-256 of one cannot be reversed or guessed, and checking it costs
microseconds per request, so that is how they are stored.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from mdhub.errors import InvalidRequest

ROLES = ("reader", "writer", "admin")
TOKEN_PREFIX = "mdt_"
KEY_PREFIX = "mdk_"
# How much of an API key is kept in clear, to tell keys apart in lists and logs.
VISIBLE_KEY_CHARS = 12

_hasher = PasswordHasher()


@functools.cache
def _dummy_hash() -> str:
    """Verified against when a user does not exist, so that a login takes as long either way
    (made on first use: an argon2 hash costs tens of milliseconds and 64 MiB)."""
    return _hasher.hash(secrets.token_urlsafe(16))


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """Whether `password` matches; a missing user (None) costs the same time and fails."""
    try:
        return (
            _hasher.verify(password_hash or _dummy_hash(), password) and password_hash is not None
        )
    except (VerificationError, InvalidHashError):
        return False


def new_secret(prefix: str) -> str:
    """A random secret with a recognizable prefix (`mdt_` login token, `mdk_` API key)."""
    return prefix + secrets.token_urlsafe(32)


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


def role_allows(has: str, needs: str) -> bool:
    """reader < writer < admin."""
    return ROLES.index(has) >= ROLES.index(needs)


def check_role(role: str) -> None:
    if role not in ROLES:
        raise InvalidRequest(f"unknown role '{role}' (one of {', '.join(ROLES)})")
