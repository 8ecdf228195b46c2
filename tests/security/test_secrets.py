"""Secrets (invariant 8): an API key or login token is shown once, in the answer that creates
it, and a password never; none of them reaches a later answer, an error message, a log line
or the database, which keeps only their hashes."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from mdhub.config import Settings
from mdhub.core import security
from mdhub.db.tables import api_keys, sessions, users
from mdhub.services import accounts
from mdhub.services import api_keys as key_service
from tests.security.support import ADMIN_PASSWORD, API, Served, all_text, basic, bearer

ALICE = "alice"
PASSWORDS = {
    "alice": "alice-first-Pa55word",
    "wrong": "wrong-guess-Pa55word",
    "ghost": "ghost-user-Pa55word",
    "wrong current": "not-her-current-Pa55word",
    "new": "alice-second-Pa55word",
    "reset": "alice-reset-Pa55word",
    "too short": "sh0rt!",
    "too long": "L0ng-" * 300,
    "refused": "refused-body-Pa55word",
}


@pytest.fixture
def served(database_url: str, tmp_path: Path) -> Iterator[Served]:
    """A fresh app for one flow (its logs are this test's)."""
    settings = Settings(
        data_dir=tmp_path / "data",
        database_url=database_url,
        workers=1,
        admin_password=ADMIN_PASSWORD,
    )
    app = Served(settings).start()
    try:
        yield app
    finally:
        app.close()


class Recorder:
    """Sends requests and keeps every answer, with the secrets each one may show."""

    def __init__(self, served: Served) -> None:
        self.served = served
        self.answers: list[tuple[httpx.Response, set[str]]] = []

    def send(
        self, method: str, url: str, *, shows: str | None = None, **kwargs: Any
    ) -> httpx.Response:
        response = self.served.request(method, url, **kwargs)
        self.answers.append((response, set()))
        if shows is not None:
            secret = str(response.json()[shows])
            self.answers[-1] = (response, {secret})
        return response

    def login(self, username: str, password: str) -> str:
        response = self.send(
            "POST",
            f"{API}/auth/login",
            json={"username": username, "password": password},
            shows="token",
        )
        assert response.status_code == 200, response.text
        return str(response.json()["token"])

    def shown(self) -> set[str]:
        return {secret for _, secrets in self.answers for secret in secrets}


def _answer_text(response: httpx.Response) -> str:
    headers = "\n".join(f"{k}: {v}" for k, v in response.headers.items())
    return f"{headers}\n{response.text}"


def _flow(r: Recorder) -> dict[str, str]:
    """Log in, make keys and a user, use them, fail in every way; the secrets it made."""
    admin = bearer(r.login("admin", ADMIN_PASSWORD))
    made = r.send(
        "POST", f"{API}/api-keys", json={"name": "svc", "role": "admin"}, headers=admin, shows="key"
    )
    assert made.status_code == 201, made.text
    key = made.json()["key"]
    reader = r.send(
        "POST", f"{API}/api-keys", json={"name": "ro", "role": "reader"}, headers=admin, shows="key"
    )
    reader_key, reader_id = reader.json()["key"], reader.json()["id"]
    created = r.send(
        "POST",
        f"{API}/users",
        json={"username": ALICE, "password": PASSWORDS["alice"], "role": "writer"},
        headers=bearer(key),
    )
    assert created.status_code == 201, created.text
    token = r.login(ALICE, PASSWORDS["alice"])
    for username, password in ((ALICE, PASSWORDS["wrong"]), ("ghost", PASSWORDS["ghost"])):
        failed = r.send(
            "POST", f"{API}/auth/login", json={"username": username, "password": password}
        )
        assert failed.status_code == 401, failed.text

    for url in ("/api-keys", "/users", "/auth/me", "/workspaces", "/datasets", "/jobs"):
        for headers in (bearer(key), {"X-API-Key": key}, basic(key)):
            assert r.send("GET", f"{API}{url}", headers=headers).status_code == 200
    assert r.send("GET", f"{API}/auth/me", headers=bearer(token)).status_code == 200
    job = r.send(
        "POST",
        f"{API}/datasets/things/jobs",
        json={"keys": ["id"], "records": [{"id": "t1", "note": "hello"}]},
        headers=bearer(key),
    )
    assert job.status_code == 202, job.text
    r.served.wait_job(job.json()["id"], bearer(key))

    # Failures, each with a secret (or a near miss of one) in the request.
    near_misses = [key + "x", key[:-1], token + "x", token[:-1], reader_key.upper()]
    for wrong in near_misses:
        for headers in (bearer(wrong), {"X-API-Key": wrong}, basic(wrong)):
            assert r.send("GET", f"{API}/datasets", headers=headers).status_code == 401
    bad_change = r.send(
        "POST",
        f"{API}/auth/password",
        json={"current_password": PASSWORDS["wrong current"], "new_password": PASSWORDS["new"]},
        headers=bearer(token),
    )
    assert bad_change.status_code in (401, 403), bad_change.text
    for password in (PASSWORDS["too short"], PASSWORDS["too long"]):
        refused = r.send(
            "POST",
            f"{API}/users",
            json={"username": "bob", "password": password, "role": "reader"},
            headers=bearer(key),
        )
        assert refused.status_code == 400, refused.text
    extra = r.send(
        "POST",
        f"{API}/auth/login",
        json={"username": ALICE, "password": PASSWORDS["refused"], "role": "admin"},
    )
    assert extra.status_code == 400, extra.text
    forbidden = r.send(
        "POST", f"{API}/api-keys", json={"name": "x", "role": "admin"}, headers=bearer(reader_key)
    )
    assert forbidden.status_code == 403, forbidden.text

    # Changes: a new password, a reset, a logout, a revoked key (replayed).
    changed = r.send(
        "POST",
        f"{API}/auth/password",
        json={"current_password": PASSWORDS["alice"], "new_password": PASSWORDS["new"]},
        headers=bearer(token),
    )
    assert changed.status_code == 204, changed.text
    second = r.login(ALICE, PASSWORDS["new"])
    reset = r.send(
        "PUT", f"{API}/users/{ALICE}/password", json={"password": PASSWORDS["reset"]}, headers=admin
    )
    assert reset.status_code == 204, reset.text
    third = r.login(ALICE, PASSWORDS["reset"])
    assert r.send("POST", f"{API}/auth/logout", headers=bearer(third)).status_code == 204
    assert r.send("GET", f"{API}/auth/me", headers=bearer(third)).status_code == 401
    revoked = r.send("DELETE", f"{API}/api-keys/{reader_id}", headers=bearer(key))
    assert revoked.status_code == 204, revoked.text
    assert r.send("GET", f"{API}/datasets", headers=bearer(reader_key)).status_code == 401
    for url in ("/api-keys", "/users", "/auth/me"):
        assert r.send("GET", f"{API}{url}", headers=bearer(key)).status_code == 200

    tokens = {"admin token": admin["Authorization"].split()[1], "token": token}
    tokens |= {"second token": second, "third token": third}
    return {"key": key, "reader key": reader_key, **tokens}


def test_secrets_appear_only_where_they_are_created(
    served: Served, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    caplog.set_level(logging.DEBUG)
    recorder = Recorder(served)
    made = _flow(recorder)
    secrets = {**made, **{f"password {k}": v for k, v in PASSWORDS.items()}}
    secrets["admin password"] = ADMIN_PASSWORD
    assert set(made.values()) <= recorder.shown()

    for response, shows in recorder.answers:
        text = _answer_text(response)
        for label, secret in secrets.items():
            if secret not in shows:
                request = response.request
                assert secret not in text, (
                    f"{label} in the answer to {request.method} {request.url}"
                )

    logged = [
        record.getMessage() + json.dumps(vars(record), default=str) for record in caplog.records
    ]
    assert logged, "nothing was logged: the check below would prove nothing"
    logged.append(caplog.text)
    output = capsys.readouterr()
    logged += [output.out, output.err]
    for label, secret in secrets.items():
        assert not any(secret in line for line in logged), f"{label} was logged"

    for place, value in all_text(served.dbs):
        for label, secret in secrets.items():
            assert secret not in value, f"{label} stored in {place}"


def test_only_hashes_are_stored(served: Served) -> None:
    dbs = served.dbs
    key = key_service.create_key(dbs, "default", "svc", "reader")["key"]
    accounts.create_user(dbs, ALICE, PASSWORDS["alice"], workspace="default", role="reader")
    token = served.login(ALICE, PASSWORDS["alice"])
    with dbs.meta.connect() as conn:
        key_hashes = set(conn.execute(select(api_keys.c.key_hash)).scalars())
        token_hashes = set(conn.execute(select(sessions.c.token_hash)).scalars())
        password_hash = conn.execute(
            select(users.c.password_hash).where(users.c.username == ALICE)
        ).scalar_one()
    assert security.digest(key) in key_hashes
    assert security.digest(token) in token_hashes
    assert password_hash.startswith("$argon2id$")
    assert security.verify_password(password_hash, PASSWORDS["alice"])


def test_an_unexpected_error_keeps_its_details_in_the_log(
    served: Served, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A bug's exception text (SQL, parameters, secrets) goes to the log, not to the client."""
    key = key_service.create_key(served.dbs, "default", "svc", "admin")["key"]

    def broken(*args: object, **kwargs: object) -> list[dict[str, Any]]:
        raise RuntimeError(f"boom: SELECT secret FROM keys WHERE key = '{key}'")

    monkeypatch.setattr(key_service, "list_keys", broken)
    transport = httpx.ASGITransport(app=served.app, raise_app_exceptions=False)

    async def call() -> httpx.Response:
        async with httpx.AsyncClient(transport=transport, base_url="http://mdhub.test") as client:
            return await client.get(f"{API}/api-keys", headers=bearer(key))

    with caplog.at_level(logging.ERROR, logger="mdhub.api"):
        response = served.runner.run(call())
    assert response.status_code == 500
    error = response.json()["error"]
    assert error["code"] == "internal_error" and error["message"]
    assert key not in response.text and "SELECT" not in response.text
    assert "boom" in caplog.text
