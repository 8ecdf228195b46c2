"""Signed upload URLs of the Veracity layer: the query string of a "SAS URL" is the credential.

A URL is scoped to one job (its directory) and expires. It is signed (HMAC-SHA256) with the
stored digest of the credential that asked for it, named in the URL (`skoid`): every API
process can check it without a shared secret, and revoking or expiring that API key or login
token revokes its upload URLs too.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from sqlalchemy import select

from mdhub.core import times
from mdhub.db.engine import Databases
from mdhub.db.tables import api_keys, jobs, sessions, workspaces
from mdhub.errors import Forbidden
from mdhub.services.sessions import Principal

URL_LIFETIME = timedelta(hours=1)
SAS_VERSION = "2021-06-08"
PERMISSIONS = "cw"  # create and write, as an Azure directory SAS for uploads


def _signature(digest: str, job_id: int, expires: str, owner: str) -> str:
    message = f"{job_id}\n{expires}\n{owner}\n{PERMISSIONS}".encode()
    mac = hmac.new(digest.encode(), message, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).decode().rstrip("=")


def _credential(dbs: Databases, owner: str) -> tuple[str, int, datetime | None] | None:
    """The stored digest, workspace id and expiry of a live credential named `k<id>`/`s<id>`."""
    kind, number = owner[:1], owner[1:]
    if kind not in ("k", "s") or not number.isdigit() or len(number) > 18:
        return None
    table: Any = api_keys if kind == "k" else sessions
    digest = api_keys.c.key_hash if kind == "k" else sessions.c.token_hash
    with dbs.meta.connect() as conn:
        row = conn.execute(
            select(digest.label("digest"), table.c.workspace_id, table.c.expires_at).where(
                table.c.id == int(number), table.c.revoked_at.is_(None)
            )
        ).first()
    if row is None:
        return None
    return row.digest, row.workspace_id, row.expires_at


def upload_query(dbs: Databases, principal: Principal, job_id: int) -> str:
    """The SAS-like query string that lets its holder upload the files of one job."""
    owner = f"k{principal.key_id}" if principal.key_id is not None else f"s{principal.session_id}"
    found = _credential(dbs, owner)
    if found is None:
        raise Forbidden("this credential cannot sign upload URLs")
    digest, _, credential_expires = found
    expires_at = times.now() + URL_LIFETIME
    if credential_expires is not None:
        expires_at = min(expires_at, times.utc(credential_expires))
    expires = expires_at.strftime("%Y-%m-%dT%H:%M:%SZ")
    return urlencode(
        {
            "sv": SAS_VERSION,
            "sr": "d",
            "sp": PERMISSIONS,
            "se": expires,
            "skoid": owner,
            "sig": _signature(digest, job_id, expires, owner),
        }
    )


def verify(dbs: Databases, job_id: int, query: dict[str, str]) -> str:
    """The workspace of the job an upload URL was signed for; Forbidden if the signature is
    wrong, the URL expired, or its credential was revoked."""
    expires, owner, signature = query.get("se", ""), query.get("skoid", ""), query.get("sig", "")
    try:
        expires_at = datetime.strptime(expires, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    except ValueError:
        raise Forbidden("the upload URL is not signed (missing or malformed 'se')") from None
    if expires_at <= times.now():
        raise Forbidden("the upload URL has expired: ask for a new one")
    found = _credential(dbs, owner)
    expected = _signature(found[0], job_id, expires, owner) if found else ""
    if not found or not hmac.compare_digest(expected.encode(), signature.encode()):
        raise Forbidden("the upload URL's signature does not match")
    with dbs.meta.connect() as conn:
        workspace = conn.execute(
            select(workspaces.c.name)
            .join(jobs, jobs.c.workspace_id == workspaces.c.id)
            .where(jobs.c.id == job_id, jobs.c.workspace_id == found[1])
        ).scalar_one_or_none()
    if workspace is None:
        raise Forbidden("the upload URL's signature does not match")
    return str(workspace)
