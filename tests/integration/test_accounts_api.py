"""Accounts over HTTP on both databases: login, logout, token expiry and revocation, password
changes, the login rate limit, API keys in every accepted header, secrets stored only as hashes,
roles, workspaces that cannot see each other (invariant 8), and refused mass assignment."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import inspect, select, update

from mdhub.app import create_app
from mdhub.config import Settings
from mdhub.db.tables import api_keys, sessions, users
from mdhub.services import sessions as session_service

API = "/api/v1"
ADMIN_PASSWORD = "admin-password"
CSV = b"id,name\n1,Acme\n2,Globex\n"

Body = Callable[[FastAPI, httpx.AsyncClient], Awaitable[None]]


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    """No workers: jobs stay queued, which is all these tests need."""
    return Settings(
        data_dir=tmp_path, database_url=database_url, workers=0, admin_password=ADMIN_PASSWORD
    )


def serve(settings: Settings, body: Body) -> None:
    """Run `body` against an app on `settings` with a client that sends no credential."""

    async def main() -> None:
        app = create_app(settings)
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
                await body(app, client)

    asyncio.run(main())


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


async def login(
    client: httpx.AsyncClient,
    username: str = "admin",
    password: str = ADMIN_PASSWORD,
    **extra: str,
) -> dict[str, str]:
    """Log in; the headers that carry the new token."""
    answer = await client.post(
        f"{API}/auth/login", json={"username": username, "password": password, **extra}
    )
    assert answer.status_code == 200, answer.text
    return bearer(answer.json()["token"])


async def new_key(client: httpx.AsyncClient, admin: dict[str, str], role: str) -> dict[str, Any]:
    answer = await client.post(
        f"{API}/api-keys", json={"name": f"{role}-key", "role": role}, headers=admin
    )
    assert answer.status_code == 201, answer.text
    created: dict[str, Any] = answer.json()
    return created


def assert_unauthorized(answer: httpx.Response) -> dict[str, Any]:
    assert answer.status_code == 401, answer.text
    assert answer.headers["www-authenticate"] == 'Bearer realm="mdhub"'
    error: dict[str, Any] = answer.json()["error"]
    assert error["code"] == "unauthorized"
    return error


def assert_status(answer: httpx.Response, status: int, code: str | None = None) -> None:
    assert answer.status_code == status, answer.text
    if code is not None:
        assert answer.json()["error"]["code"] == code


async def create_dataset(client: httpx.AsyncClient, headers: dict[str, str], name: str) -> None:
    answer = await client.post(
        f"{API}/datasets", json={"name": name, "keys": ["id"]}, headers=headers
    )
    assert answer.status_code == 201, answer.text


async def submit(
    client: httpx.AsyncClient, headers: dict[str, str], dataset: str
) -> httpx.Response:
    return await client.post(
        f"{API}/datasets/{dataset}/jobs",
        files={"file": ("v.csv", CSV)},
        data={"operation": "upsert"},
        headers=headers,
    )


# Login, logout, expiry ---------------------------------------------------------------------


def test_login_and_a_bad_user_or_password_get_the_same_401(settings: Settings) -> None:
    async def body(app: FastAPI, client: httpx.AsyncClient) -> None:
        answer = await client.post(
            f"{API}/auth/login", json={"username": "admin", "password": ADMIN_PASSWORD}
        )
        assert answer.status_code == 200, answer.text
        session = answer.json()
        assert set(session) == {"token", "token_type", "expires_at", "workspace", "role"}
        assert (session["token_type"], session["workspace"], session["role"]) == (
            "bearer",
            "default",
            "admin",
        )
        assert datetime.fromisoformat(session["expires_at"]) > datetime.now(UTC)
        me = await client.get(f"{API}/auth/me", headers=bearer(session["token"]))
        assert me.json() == {
            "workspace": "default",
            "role": "admin",
            "username": "admin",
            "key_id": None,
            "instance_admin": True,
        }

        wrong_password = await client.post(
            f"{API}/auth/login", json={"username": "admin", "password": "not-the-password"}
        )
        unknown_user = await client.post(
            f"{API}/auth/login", json={"username": "nobody", "password": ADMIN_PASSWORD}
        )
        assert assert_unauthorized(wrong_password) == assert_unauthorized(unknown_user)

        assert_unauthorized(await client.get(f"{API}/datasets"))
        assert_unauthorized(await client.get(f"{API}/datasets", headers=bearer("mdt_forged")))
        assert_unauthorized(await client.get(f"{API}/jobs", headers=bearer("something")))
        assert (await client.get("/healthz")).status_code == 200
        assert (await client.get("/openapi.json")).status_code == 200

    serve(settings, body)


def test_logout_revokes_the_token(settings: Settings) -> None:
    async def body(app: FastAPI, client: httpx.AsyncClient) -> None:
        admin = await login(client)
        other = await login(client)
        assert (await client.get(f"{API}/datasets", headers=admin)).status_code == 200
        assert_status(await client.post(f"{API}/auth/logout", headers=admin), 204)
        assert_unauthorized(await client.get(f"{API}/datasets", headers=admin))
        assert_unauthorized(await client.post(f"{API}/auth/logout", headers=admin))
        assert (await client.get(f"{API}/auth/me", headers=other)).status_code == 200

        key = await new_key(client, other, "reader")
        as_key = {"X-API-Key": key["key"]}
        assert_status(await client.post(f"{API}/auth/logout", headers=as_key), 400)
        me = (await client.get(f"{API}/auth/me", headers=as_key)).json()
        assert (me["username"], me["key_id"], me["role"]) == (None, key["id"], "reader")

    serve(settings, body)


def test_an_expired_token_is_refused(settings: Settings) -> None:
    async def body(app: FastAPI, client: httpx.AsyncClient) -> None:
        admin = await login(client)
        assert (await client.get(f"{API}/datasets", headers=admin)).status_code == 200
        with app.state.dbs.meta.begin() as conn:
            conn.execute(update(sessions).values(expires_at=datetime.now(UTC) - timedelta(1)))
        assert_unauthorized(await client.get(f"{API}/datasets", headers=admin))

    serve(settings, body)


def test_failed_logins_are_rate_limited(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(session_service, "MAX_FAILURES_PER_USER", 3)

    async def body(app: FastAPI, client: httpx.AsyncClient) -> None:
        wrong = {"username": "admin", "password": "wrong-password"}
        for _ in range(3):
            assert_unauthorized(await client.post(f"{API}/auth/login", json=wrong))
        for password in ("wrong-password", ADMIN_PASSWORD):
            answer = await client.post(
                f"{API}/auth/login", json={"username": "admin", "password": password}
            )
            assert_status(answer, 429, "rate_limited")
            retry = answer.json()["error"]["details"]["retry_after_seconds"]
            assert answer.headers["retry-after"] == str(retry)
            assert 0 < retry <= session_service.LOGIN_WINDOW.total_seconds() + 1
        # Another user name is not limited by admin's failures.
        assert_unauthorized(
            await client.post(f"{API}/auth/login", json={"username": "bob", "password": "x"})
        )

    serve(settings, body)


# Passwords and users -----------------------------------------------------------------------


def test_changing_a_password_revokes_the_users_tokens(settings: Settings) -> None:
    async def body(app: FastAPI, client: httpx.AsyncClient) -> None:
        admin = await login(client)
        created = await client.post(
            f"{API}/users",
            json={"username": "alice", "password": "alice-password", "role": "writer"},
            headers=admin,
        )
        assert created.status_code == 201, created.text
        assert created.json() == {"username": "alice", "role": "writer", "workspace": "default"}
        first = await login(client, "alice", "alice-password")
        second = await login(client, "alice", "alice-password")

        wrong = {"current_password": "not-hers", "new_password": "alice-new-password"}
        refused = await client.post(f"{API}/auth/password", json=wrong, headers=first)
        assert_status(refused, 403)
        assert refused.json()["error"]["code"] == "forbidden"
        assert_status(await client.get(f"{API}/auth/me", headers=first), 200)
        change = {"current_password": "alice-password", "new_password": "alice-new-password"}
        answer = await client.post(f"{API}/auth/password", json=change, headers=first)
        assert_status(answer, 204)
        for headers in (first, second):
            assert_unauthorized(await client.get(f"{API}/auth/me", headers=headers))
        assert_unauthorized(
            await client.post(
                f"{API}/auth/login", json={"username": "alice", "password": "alice-password"}
            )
        )
        third = await login(client, "alice", "alice-new-password")
        short = {"current_password": "alice-new-password", "new_password": "short"}
        assert_status(await client.post(f"{API}/auth/password", json=short, headers=third), 400)

        reset = await client.put(
            f"{API}/users/alice/password", json={"password": "set-by-admin"}, headers=admin
        )
        assert_status(reset, 204)
        assert_unauthorized(await client.get(f"{API}/auth/me", headers=third))
        await login(client, "alice", "set-by-admin")
        missing = await client.put(
            f"{API}/users/nobody/password", json={"password": "whatever-1"}, headers=admin
        )
        assert_status(missing, 404)

        key = await new_key(client, admin, "admin")
        as_key = {"X-API-Key": key["key"]}
        answer = await client.post(f"{API}/auth/password", json=change, headers=as_key)
        assert_status(answer, 403, "forbidden")

    serve(settings, body)


def test_admins_manage_the_members_of_their_workspace(settings: Settings) -> None:
    async def body(app: FastAPI, client: httpx.AsyncClient) -> None:
        admin = await login(client)
        for name, role in (("bob", "admin"), ("carol", "reader")):
            answer = await client.post(
                f"{API}/users",
                json={"username": name, "password": f"{name}-password", "role": role},
                headers=admin,
            )
            assert answer.status_code == 201, answer.text
        again = await client.post(
            f"{API}/users",
            json={"username": "bob", "password": "bob-password", "role": "admin"},
            headers=admin,
        )
        assert_status(again, 409, "conflict")
        listed = (await client.get(f"{API}/users", headers=admin)).json()
        assert [(u["username"], u["role"]) for u in listed["results"]] == [
            ("admin", "admin"),
            ("bob", "admin"),
            ("carol", "reader"),
        ]
        assert listed["next"] is None

        carol = await login(client, "carol", "carol-password")
        assert_status(await client.get(f"{API}/users", headers=carol), 403, "forbidden")
        # A workspace admin cannot take over the instance admin's account.
        bob = await login(client, "bob", "bob-password")
        takeover = await client.put(
            f"{API}/users/admin/password", json={"password": "taken-over"}, headers=bob
        )
        assert_status(takeover, 403, "forbidden")
        await login(client)

        assert_status(await client.delete(f"{API}/users/carol", headers=admin), 204)
        assert_unauthorized(await client.get(f"{API}/datasets", headers=carol))
        assert_status(await client.delete(f"{API}/users/carol", headers=admin), 404)
        listed = (await client.get(f"{API}/users", headers=admin)).json()
        assert [u["username"] for u in listed["results"]] == ["admin", "bob"]

    serve(settings, body)


# API keys ----------------------------------------------------------------------------------


def test_an_api_key_is_accepted_in_every_documented_header(settings: Settings) -> None:
    async def body(app: FastAPI, client: httpx.AsyncClient) -> None:
        admin = await login(client)
        created = await new_key(client, admin, "reader")
        secret = created["key"]
        assert secret.startswith(created["prefix"]) and len(secret) > len(created["prefix"])
        assert (created["role"], created["revoked"], created["expires_at"]) == (
            "reader",
            False,
            None,
        )
        basic = base64.b64encode(f"anyone:{secret}".encode()).decode()
        for headers in (
            {"Authorization": f"Bearer {secret}"},
            {"Authorization": f"token {secret}"},
            {"Authorization": f"Basic {basic}"},
            {"X-API-Key": secret},
            {"Ocp-Apim-Subscription-Key": secret},
        ):
            answer = await client.get(f"{API}/datasets", headers=headers)
            assert answer.status_code == 200, (headers, answer.text)
        for headers in (
            {"Authorization": f"Digest {secret}"},
            {"Authorization": "Basic not-base64!"},
            {"X-API-Key": secret[:-1]},
        ):
            assert_unauthorized(await client.get(f"{API}/datasets", headers=headers))
        listed = (await client.get(f"{API}/api-keys", headers=admin)).json()["results"]
        assert listed[0]["last_used_at"] is not None

    serve(settings, body)


def test_revoked_and_expired_api_keys_are_refused(settings: Settings) -> None:
    async def body(app: FastAPI, client: httpx.AsyncClient) -> None:
        admin = await login(client)
        revoked = await new_key(client, admin, "reader")
        assert (await client.get(f"{API}/datasets", headers=bearer(revoked["key"]))).is_success
        answer = await client.delete(f"{API}/api-keys/{revoked['id']}", headers=admin)
        assert_status(answer, 204)
        assert_unauthorized(await client.get(f"{API}/datasets", headers=bearer(revoked["key"])))
        again = await client.delete(f"{API}/api-keys/{revoked['id']}", headers=admin)
        assert_status(again, 404)

        soon = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
        expiring = (
            await client.post(
                f"{API}/api-keys",
                json={"name": "expiring", "role": "reader", "expires_at": soon},
                headers=admin,
            )
        ).json()
        assert datetime.fromisoformat(expiring["expires_at"]) == datetime.fromisoformat(soon)
        assert (await client.get(f"{API}/datasets", headers=bearer(expiring["key"]))).is_success
        with app.state.dbs.meta.begin() as conn:
            conn.execute(
                update(api_keys)
                .where(api_keys.c.id == expiring["id"])
                .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
            )
        assert_unauthorized(await client.get(f"{API}/datasets", headers=bearer(expiring["key"])))

        past = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
        answer = await client.post(
            f"{API}/api-keys",
            json={"name": "stale", "role": "reader", "expires_at": past},
            headers=admin,
        )
        assert_status(answer, 400, "invalid_request")

    serve(settings, body)


def test_secrets_are_never_listed_and_stored_only_as_hashes(settings: Settings) -> None:
    async def body(app: FastAPI, client: httpx.AsyncClient) -> None:
        admin = await login(client)
        token = admin["Authorization"].removeprefix("Bearer ")
        secrets = [(await new_key(client, admin, role))["key"] for role in ("reader", "writer")]
        listed = await client.get(f"{API}/api-keys", headers=admin)
        assert listed.status_code == 200
        keys = listed.json()["results"]
        assert [k["role"] for k in keys] == ["reader", "writer"]
        assert all("key" not in k for k in keys)
        for secret in secrets:
            assert secret not in listed.text
        with app.state.dbs.meta.connect() as conn:
            stored = [
                *conn.execute(select(api_keys)).all(),
                *conn.execute(select(sessions)).all(),
                *conn.execute(select(users)).all(),
            ]
        values = [str(value) for row in stored for value in row]
        for secret in [*secrets, token, ADMIN_PASSWORD]:
            assert not any(secret in value for value in values), secret

    serve(settings, body)


# Roles -------------------------------------------------------------------------------------


def test_roles_decide_what_a_credential_may_do(settings: Settings) -> None:
    async def body(app: FastAPI, client: httpx.AsyncClient) -> None:
        admin = await login(client)
        reader = bearer((await new_key(client, admin, "reader"))["key"])
        writer = bearer((await new_key(client, admin, "writer"))["key"])
        await create_dataset(client, admin, "vendors")
        parts = {"parts": [{"name": "v", "dataset": "vendors", "operation": "upsert"}]}

        assert (await client.get(f"{API}/datasets/vendors", headers=reader)).status_code == 200
        assert_status(await submit(client, reader, "vendors"), 403, "forbidden")
        assert_status(await client.post(f"{API}/jobs", json=parts, headers=reader), 403)

        job = await submit(client, writer, "vendors")
        assert job.status_code == 202, job.text
        job_id = job.json()["id"]
        assert (await client.get(f"{API}/jobs/{job_id}", headers=reader)).status_code == 200
        assert (await client.get(f"{API}/jobs/{job_id}/log", headers=reader)).status_code == 200
        assert_status(await client.post(f"{API}/jobs/{job_id}/cancel", headers=reader), 403)
        created = await client.post(f"{API}/jobs", json=parts, headers=writer)
        assert created.status_code == 201, created.text
        multi = f"{API}/jobs/{created.json()['id']}"
        assert_status(await client.put(f"{multi}/parts/v", content=CSV, headers=reader), 403)
        assert (await client.put(f"{multi}/parts/v", content=CSV, headers=writer)).is_success
        assert_status(await client.post(f"{multi}/start", headers=writer), 202)
        assert_status(await client.post(f"{API}/jobs/{job_id}/cancel", headers=writer), 202)

        new = {"name": "products", "keys": ["id"]}
        assert_status(await client.post(f"{API}/datasets", json=new, headers=writer), 403)
        patch = {"schema_policy": "add"}
        assert_status(
            await client.patch(f"{API}/datasets/vendors", json=patch, headers=writer), 403
        )
        assert_status(await client.delete(f"{API}/datasets/vendors", headers=writer), 403)
        assert_status(await client.get(f"{API}/api-keys", headers=writer), 403)
        assert_status(await client.get(f"{API}/users", headers=writer), 403)
        assert_status(await client.post(f"{API}/datasets", json=new, headers=admin), 201)
        assert_status(await client.delete(f"{API}/datasets/products", headers=admin), 204)

        # Pushing to a missing dataset with `keys` creates it: only an admin may.
        implicit = {"operation": "upsert", "keys": "id"}
        for headers, status in ((writer, 403), (admin, 202)):
            answer = await client.post(
                f"{API}/datasets/parts/jobs",
                files={"file": ("p.csv", CSV)},
                data=implicit,
                headers=headers,
            )
            assert_status(answer, status)
        assert_status(await client.get(f"{API}/datasets/parts", headers=reader), 200)

    serve(settings, body)


# Workspaces --------------------------------------------------------------------------------


def test_a_workspace_sees_and_touches_only_its_own_objects(settings: Settings) -> None:
    async def body(app: FastAPI, client: httpx.AsyncClient) -> None:
        instance_admin = await login(client)
        default_key = await new_key(client, instance_admin, "admin")
        default = bearer(default_key["key"])
        assert_status(
            await client.post(f"{API}/workspaces", json={"name": "acme"}, headers=default),
            403,
            "forbidden",
        )
        answer = await client.post(
            f"{API}/workspaces", json={"name": "acme"}, headers=instance_admin
        )
        assert answer.status_code == 201, answer.text
        assert answer.json()["name"] == "acme"
        again = await client.post(
            f"{API}/workspaces", json={"name": "acme"}, headers=instance_admin
        )
        assert_status(again, 409)
        acme_admin = await login(client, workspace="acme")
        me = (await client.get(f"{API}/auth/me", headers=acme_admin)).json()
        assert (me["workspace"], me["role"]) == ("acme", "admin")
        acme_key = await new_key(client, acme_admin, "admin")
        acme = {"X-API-Key": acme_key["key"]}

        await create_dataset(client, default, "vendors")
        job_id = (await submit(client, default, "vendors")).json()["id"]
        dora = {"username": "dora", "password": "dora-password", "role": "reader"}
        assert_status(await client.post(f"{API}/users", json=dora, headers=default), 201)

        for method, url in (
            ("GET", f"{API}/datasets/vendors"),
            ("PATCH", f"{API}/datasets/vendors"),
            ("DELETE", f"{API}/datasets/vendors"),
            ("GET", f"{API}/jobs/{job_id}"),
            ("GET", f"{API}/jobs/{job_id}/errors"),
            ("GET", f"{API}/jobs/{job_id}/log"),
            ("GET", f"{API}/jobs/{job_id}/events"),
            ("POST", f"{API}/jobs/{job_id}/cancel"),
            ("POST", f"{API}/jobs/{job_id}/start"),
            ("PUT", f"{API}/jobs/{job_id}/parts/file"),
            ("DELETE", f"{API}/api-keys/{default_key['id']}"),
            ("DELETE", f"{API}/users/dora"),
            ("PUT", f"{API}/users/dora/password"),
        ):
            json = {"PATCH": {"schema_policy": "add"}, "PUT": {"password": "x" * 10}}.get(method)
            answer = await client.request(method, url, json=json, headers=acme)
            assert_status(answer, 404, "not_found")
        assert_status(await submit(client, acme, "vendors"), 404)
        assert (await client.get(f"{API}/datasets", headers=acme)).json()["results"] == []
        assert (await client.get(f"{API}/jobs", headers=acme)).json()["results"] == []

        await create_dataset(client, acme, "vendors")  # the same name, another dataset
        acme_job = (await submit(client, acme, "vendors")).json()["id"]
        assert_status(await client.get(f"{API}/jobs/{acme_job}", headers=default), 404)
        for headers, own_job in ((default, job_id), (acme, acme_job)):
            jobs = (await client.get(f"{API}/jobs", headers=headers)).json()["results"]
            assert [j["id"] for j in jobs] == [own_job]
            datasets = (await client.get(f"{API}/datasets", headers=headers)).json()["results"]
            assert [d["name"] for d in datasets] == ["vendors"]
        assert (await client.get(f"{API}/datasets/vendors", headers=default)).json()["version"] == 0

        keys = (await client.get(f"{API}/api-keys", headers=acme)).json()["results"]
        assert [k["id"] for k in keys] == [acme_key["id"]]
        members = (await client.get(f"{API}/users", headers=acme)).json()["results"]
        assert [m["username"] for m in members] == ["admin"]
        workspaces = (await client.get(f"{API}/workspaces", headers=acme)).json()["results"]
        assert [w["name"] for w in workspaces] == ["acme"]
        everything = (await client.get(f"{API}/workspaces", headers=instance_admin)).json()
        assert [w["name"] for w in everything["results"]] == ["acme", "default"]
        assert (await client.get(f"{API}/datasets/vendors", headers=default)).status_code == 200

    serve(settings, body)


# Mass assignment and the first admin -------------------------------------------------------


def test_bodies_with_fields_that_are_not_the_callers_to_set_are_refused(
    settings: Settings,
) -> None:
    async def body(app: FastAPI, client: httpx.AsyncClient) -> None:
        admin = await login(client)
        user = {"username": "mallory", "password": "mallory-password", "role": "reader"}
        for method, url, sent in (
            ("POST", f"{API}/users", {**user, "workspace": "other"}),
            ("POST", f"{API}/users", {**user, "instance_admin": True}),
            ("POST", f"{API}/users", {**user, "role": "owner"}),
            ("POST", f"{API}/api-keys", {"name": "k", "role": "admin", "workspace": "x"}),
            ("POST", f"{API}/api-keys", {"name": "k", "role": "admin", "key_hash": "0"}),
            ("POST", f"{API}/workspaces", {"name": "w", "admin_user_id": 1}),
            ("PUT", f"{API}/users/admin/password", {"password": "whatever-1", "role": "x"}),
            (
                "POST",
                f"{API}/auth/password",
                {"current_password": ADMIN_PASSWORD, "new_password": "x" * 9, "username": "a"},
            ),
            (
                "POST",
                f"{API}/auth/login",
                {"username": "admin", "password": ADMIN_PASSWORD, "role": "admin"},
            ),
        ):
            answer = await client.request(method, url, json=sent, headers=admin)
            assert_status(answer, 400, "invalid_request")
        members = (await client.get(f"{API}/users", headers=admin)).json()["results"]
        assert [m["username"] for m in members] == ["admin"]
        assert (await client.get(f"{API}/api-keys", headers=admin)).json()["results"] == []
        await login(client)

    serve(settings, body)


def test_the_first_start_creates_admin_with_mdhub_admin_password(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MDHUB_ADMIN_PASSWORD", "chosen-at-first-start")
    settings = Settings.from_env(data_dir=tmp_path, database_url=database_url, workers=0)

    async def body(app: FastAPI, client: httpx.AsyncClient) -> None:
        answer = await client.post(
            f"{API}/auth/login", json={"username": "admin", "password": "chosen-at-first-start"}
        )
        assert answer.status_code == 200, answer.text
        assert (answer.json()["workspace"], answer.json()["role"]) == ("default", "admin")

    serve(settings, body)


async def pages(client: httpx.AsyncClient, url: str, headers: dict[str, str], by: str) -> Any:
    """Every page of a list, two at a time: each page's `by` values."""
    found, cursor = [], None
    while True:
        params: dict[str, Any] = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        answer = await client.get(url, params=params, headers=headers)
        assert answer.status_code == 200, answer.text
        page = answer.json()
        found.append([item[by] for item in page["results"]])
        if (cursor := page["next"]) is None:
            return found


def test_users_keys_and_workspaces_are_listed_a_page_at_a_time(settings: Settings) -> None:
    async def body(app: FastAPI, client: httpx.AsyncClient) -> None:
        admin = await login(client)
        for name in ("erin", "bob", "dave", "carol"):
            user = {"username": name, "password": f"{name}-password", "role": "reader"}
            assert_status(await client.post(f"{API}/users", json=user, headers=admin), 201)
        keys = [(await new_key(client, admin, "reader"))["id"] for _ in range(3)]
        for name in ("beta", "alpha"):
            created = await client.post(f"{API}/workspaces", json={"name": name}, headers=admin)
            assert_status(created, 201)

        users = await pages(client, f"{API}/users", admin, "username")
        assert users == [["admin", "bob"], ["carol", "dave"], ["erin"]]
        assert await pages(client, f"{API}/api-keys", admin, "id") == [keys[:2], keys[2:]]
        workspaces = await pages(client, f"{API}/workspaces", admin, "name")
        assert workspaces == [["alpha", "beta"], ["default"]]
        everything = (await client.get(f"{API}/users", headers=admin)).json()
        assert len(everything["results"]) == 5 and everything["next"] is None
        bad = await client.get(f"{API}/api-keys", params={"cursor": "x"}, headers=admin)
        assert_status(bad, 400)

    serve(settings, body)


def test_an_instance_admin_deletes_a_workspace_and_everything_in_it(settings: Settings) -> None:
    async def body(app: FastAPI, client: httpx.AsyncClient) -> None:
        instance_admin = await login(client)
        created = await client.post(
            f"{API}/workspaces", json={"name": "acme"}, headers=instance_admin
        )
        assert_status(created, 201)
        acme_admin = await login(client, workspace="acme")
        acme_key = bearer((await new_key(client, acme_admin, "admin"))["key"])
        gus = {"username": "gus", "password": "gus-password", "role": "writer"}
        assert_status(await client.post(f"{API}/users", json=gus, headers=acme_admin), 201)
        gus_token = await login(client, "gus", "gus-password", workspace="acme")
        schema = {"fields": [{"name": "id", "type": "string"}], "primaryKey": ["id"]}
        answer = await client.post(
            f"{API}/datasets", json={"name": "vendors", "schema": schema}, headers=acme_key
        )
        assert_status(answer, 201)
        table = answer.json()["table"]
        assert inspect(app.state.dbs.data).has_table(table)
        job_id = (await submit(client, acme_key, "vendors")).json()["id"]
        url = f"{API}/workspaces/acme"

        assert_status(await client.delete(url, headers=acme_key), 403, "forbidden")
        own = await client.delete(url, headers=acme_admin)  # an instance admin acting in it
        assert "acts in" in own.json()["error"]["message"]
        busy = await client.delete(url, headers=instance_admin)
        assert_status(busy, 409, "conflict")
        assert "queued or running" in busy.json()["error"]["message"]
        cancelled = await client.post(f"{API}/jobs/{job_id}/cancel", headers=acme_key)
        assert_status(cancelled, 202)
        assert_status(await client.delete(url, headers=instance_admin), 204)

        assert not inspect(app.state.dbs.data).has_table(table)
        for gone in (acme_key, gus_token, acme_admin):
            assert_unauthorized(await client.get(f"{API}/datasets", headers=gone))
        workspaces = (await client.get(f"{API}/workspaces", headers=instance_admin)).json()
        assert [w["name"] for w in workspaces["results"]] == ["default"]
        # gus had no other workspace: gone; the instance admin stays.
        relogin = await client.post(
            f"{API}/auth/login", json={"username": "gus", "password": "gus-password"}
        )
        assert_unauthorized(relogin)
        assert (await client.get(f"{API}/auth/me", headers=instance_admin)).status_code == 200
        # The name is free again, for an empty workspace.
        assert_status(
            await client.post(f"{API}/workspaces", json={"name": "acme"}, headers=instance_admin),
            201,
        )
        fresh = await login(client, workspace="acme")
        assert (await client.get(f"{API}/datasets", headers=fresh)).json()["results"] == []
        assert (await client.get(f"{API}/jobs", headers=fresh)).json()["results"] == []

        assert_status(await client.delete(f"{API}/workspaces/nowhere", headers=instance_admin), 404)
        own = await client.delete(f"{API}/workspaces/default", headers=instance_admin)
        assert_status(own, 409, "conflict")

    serve(settings, body)
