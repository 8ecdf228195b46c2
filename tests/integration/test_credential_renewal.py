"""A remembered credential is checked again before it lapses, while it still answers: a busy
client's requests never all find it gone at once, and a credential revoked by another process
is still refused in time."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest
from fastapi import FastAPI

from mdhub.config import Settings
from mdhub.core import security
from mdhub.db.engine import Databases, open_databases
from mdhub.services import api_keys, sessions
from mdhub.services.sessions import CredentialCache, Principal
from tests.integration.test_lookup_shortcut import remembered, serve
from tests.integration.test_records_api import record_url

LIFE_SECONDS = 0.6
DEADLINE_SECONDS = 10.0
WHO = Principal(workspace="default", workspace_id=1, role="reader", key_id=1)


def test_a_renewal_is_due_once_past_half_the_life(settings: Settings) -> None:
    dbs = open_databases(settings.database_url)
    try:
        cache = CredentialCache(dbs.meta, seconds=LIFE_SECONDS)
        put_at = time.monotonic()
        cache.put("d", WHO, epoch=cache.epoch(), expires_at=None)
        assert not cache.renewal_due("d")
        while not cache.renewal_due("d"):
            assert time.monotonic() - put_at < DEADLINE_SECONDS
        assert time.monotonic() - put_at >= LIFE_SECONDS / 2
        assert not cache.renewal_due("d")  # asked for once
        assert cache.get("d") == WHO  # and it still answers
        cache.put("d", WHO, epoch=cache.epoch(), expires_at=None)
        assert not cache.renewal_due("d")  # renewed: half a life again
        assert not cache.renewal_due("unknown")
    finally:
        dbs.dispose()


def test_a_busy_clients_credential_never_lapses_and_a_revocation_is_seen(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sessions, "CREDENTIAL_CACHE_SECONDS", LIFE_SECONDS)

    async def body(app: FastAPI, client: httpx.AsyncClient, reader: str) -> None:
        created = api_keys.create_key(app.state.dbs, "default", "busy", "reader")
        credential = await remembered(app, client, created["key"])
        digest = security.digest(created["key"])
        cache = sessions.credential_cache(app.state.dbs)
        started = time.monotonic()
        while time.monotonic() - started < 4 * LIFE_SECONDS:
            assert cache.get(digest) is not None  # never lapsed between two requests
            response = await client.get(record_url("vendors", "V1"), headers=credential)
            assert response.status_code == 200, response.text
            # A server runs each request as a task of its own; in-process, one that needs no
            # I/O (SQLite) never hands the loop to the renewal's task without this.
            await asyncio.sleep(0)
        # Revoked by another process: this one's cache does not see the write, and still
        # refuses the key within one life.
        other = open_databases(settings.database_url)
        try:
            api_keys.revoke_key(other, "default", created["id"])
        finally:
            other.dispose()
        revoked = time.monotonic()
        while (await client.get(record_url("vendors", "V1"), headers=credential)).is_success:
            assert time.monotonic() - revoked < DEADLINE_SECONDS
        assert time.monotonic() - revoked <= LIFE_SECONDS + 0.5
        response = await client.get(record_url("vendors", "V1"), headers=credential)
        assert response.status_code == 401

    serve(settings, body)


def test_a_renewal_under_way_ends_before_the_databases_close(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sessions, "CREDENTIAL_CACHE_SECONDS", LIFE_SECONDS)
    events: list[str] = []
    renew = sessions.renew

    def slow_renew(dbs: Databases, secret: str) -> None:
        events.append("renewal started")
        time.sleep(0.3)
        renew(dbs, secret)
        events.append("renewal ended")

    monkeypatch.setattr(sessions, "renew", slow_renew)
    dispose = Databases.dispose

    def noted_dispose(dbs: Databases) -> None:
        events.append("databases closed")
        dispose(dbs)

    monkeypatch.setattr(Databases, "dispose", noted_dispose)

    async def body(app: FastAPI, client: httpx.AsyncClient, reader: str) -> None:
        credential = await remembered(app, client, reader)
        started = time.monotonic()
        while "renewal started" not in events:
            assert time.monotonic() - started < DEADLINE_SECONDS
            response = await client.get(record_url("vendors", "V1"), headers=credential)
            assert response.status_code == 200, response.text
            await asyncio.sleep(0.01)

    serve(settings, body)
    assert events[:3] == ["renewal started", "renewal ended", "databases closed"], events
