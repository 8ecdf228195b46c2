"""What the security tests share: an app served in-process for a whole module, credentials,
the error shape, and snapshots of the database and of the files around the storage."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import Engine, inspect, select, text

from mdhub.app import create_app
from mdhub.config import Settings
from mdhub.db.dialect import quote
from mdhub.db.engine import Databases
from mdhub.db.tables import jobs
from mdhub.services import api_keys

API = "/api/v1"
ADMIN_PASSWORD = "instance-admin-password"
USER_PASSWORD = "member-password-1"
JOB_TIMEOUT = 60.0
FINAL = ("succeeded", "failed", "cancelled")


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def basic(secret: str, user: str = "svc") -> dict[str, str]:
    encoded = base64.b64encode(f"{user}:{secret}".encode()).decode()
    return {"Authorization": f"Basic {encoded}"}


def assert_error(response: httpx.Response, status: int, code: str | None = None) -> str:
    """The response is the one error shape with this status (and code); returns the message."""
    assert response.status_code == status, f"{status} expected, got: {response.text[:500]}"
    body = response.json()
    assert set(body) == {"error"}, body
    error = body["error"]
    assert set(error) == {"code", "message", "details"}, error
    assert isinstance(error["message"], str) and error["message"]
    assert isinstance(error["details"], dict)
    if code is not None:
        assert error["code"] == code, error
    return str(error["message"])


def assert_unauthorized(response: httpx.Response) -> None:
    """401 in the error shape, telling the client how to authenticate."""
    assert_error(response, 401)
    assert response.headers.get("www-authenticate", "").lower().startswith("bearer"), (
        response.headers
    )


class Served:
    """An app with its lifespan (and one worker) running on one event loop, for many tests.

    Every answer is checked on the way: a 5xx fails the test that caused it.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.runner = asyncio.Runner()
        self.app: FastAPI = create_app(settings)
        self._lifespan = self.app.router.lifespan_context(self.app)
        transport = httpx.ASGITransport(app=self.app, raise_app_exceptions=False)
        self.client = httpx.AsyncClient(transport=transport, base_url="http://mdhub.test")

    def start(self) -> Served:
        self.runner.run(self._lifespan.__aenter__())
        return self

    def close(self) -> None:
        try:
            self.runner.run(self.client.aclose())
            self.runner.run(self._lifespan.__aexit__(None, None, None))
        finally:
            self.runner.close()

    @property
    def dbs(self) -> Databases:
        found: Databases = self.app.state.dbs
        return found

    def request(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        **kwargs: Any,
    ) -> httpx.Response:
        response = self.runner.run(
            self.client.request(method, url, headers=dict(headers or {}), **kwargs)
        )
        assert response.status_code < 500, (
            f"{method} {url} answered {response.status_code}: {response.text[:800]}"
        )
        return response

    def get(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", url, **kwargs)

    def post(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", url, **kwargs)

    def key(self, workspace: str, name: str, role: str) -> tuple[int, str]:
        """A new API key: (id, secret)."""
        created = api_keys.create_key(self.dbs, workspace, name, role)
        return int(created["id"]), str(created["key"])

    def login(self, username: str, password: str, workspace: str | None = None) -> str:
        body: dict[str, Any] = {"username": username, "password": password}
        if workspace is not None:
            body["workspace"] = workspace
        response = self.post(f"{API}/auth/login", json=body)
        assert response.status_code == 200, response.text
        return str(response.json()["token"])

    def wait_job(self, job_id: int, headers: Mapping[str, str]) -> dict[str, Any]:
        deadline = time.monotonic() + JOB_TIMEOUT
        while True:
            response = self.get(f"{API}/jobs/{job_id}", headers=headers)
            assert response.status_code == 200, response.text
            job: dict[str, Any] = response.json()
            if job["status"] in FINAL:
                return job
            assert time.monotonic() < deadline, f"job {job_id} still {job['status']}"
            time.sleep(0.02)

    def wait_idle(self) -> None:
        """Until no job is queued or running (jobs in `created` wait for uploads forever)."""
        deadline = time.monotonic() + JOB_TIMEOUT
        while True:
            with self.dbs.meta.connect() as conn:
                busy = conn.execute(
                    select(jobs.c.id).where(jobs.c.status.in_(("queued", "running")))
                ).first()
            if busy is None:
                return
            assert time.monotonic() < deadline, "jobs still queued or running"
            time.sleep(0.02)


def _engines(dbs: Databases) -> dict[str, Engine]:
    return {"meta": dbs.meta} if dbs.data is dbs.meta else {"meta": dbs.meta, "data": dbs.data}


def table_counts(dbs: Databases) -> dict[str, int]:
    """Rows per table, of every table of both stores (`store.table`)."""
    counts: dict[str, int] = {}
    for store, engine in _engines(dbs).items():
        names = inspect(engine).get_table_names()
        with engine.connect() as conn:
            for name in names:
                found = conn.execute(text(f"SELECT COUNT(*) FROM {quote(name)}")).scalar_one()
                counts[f"{store}.{name}"] = int(found)
    return counts


def all_text(dbs: Databases) -> Iterator[tuple[str, str]]:
    """(`table.column`, value as text) for every non-null value of every table of both stores."""
    for engine in _engines(dbs).values():
        names = inspect(engine).get_table_names()
        with engine.connect() as conn:
            for name in names:
                result = conn.execute(text(f"SELECT * FROM {quote(name)}"))
                columns = list(result.keys())
                for row in result:
                    for column, value in zip(columns, row, strict=True):
                        if value is None:
                            continue
                        shown = value if isinstance(value, str) else json.dumps(value, default=str)
                        yield f"{name}.{column}", shown


@dataclass
class FileSnapshot:
    """The files under `root`, apart from the upload storage and the database files."""

    root: Path
    excluded: tuple[Path, ...] = field(default_factory=tuple)

    def take(self) -> set[str]:
        found: set[str] = set()
        for path in self.root.rglob("*"):
            if any(path == skip or skip in path.parents for skip in self.excluded):
                continue
            found.add(str(path.relative_to(self.root)))
        return found
