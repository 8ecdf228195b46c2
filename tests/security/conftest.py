"""One database and one served app per test module and backend (SQLite, PostgreSQL): the
security tests make many requests, each test with objects of its own."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from mdhub.config import Settings
from mdhub.db import migrate
from mdhub.db.engine import open_databases
from tests.conftest import _pg_admin, _pg_url
from tests.security.support import ADMIN_PASSWORD, Served


@dataclass(frozen=True)
class Backend:
    """Where a module's app keeps its data: `root` holds the data directory (and, on SQLite,
    the database files under `root/data/db`)."""

    name: str
    url: str
    root: Path

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def uploads(self) -> Path:
        return self.data_dir / "uploads"

    @property
    def db_dir(self) -> Path:
        return self.data_dir / "db"


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def backend(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Backend]:
    root = tmp_path_factory.mktemp(f"security-{request.param}")
    if request.param == "sqlite":
        url = f"sqlite:///{root / 'data' / 'db' / 'mdhub.db'}"
        dbs = open_databases(url)
        migrate.upgrade(dbs)
        dbs.dispose()
        yield Backend("sqlite", url, root)
        return
    template = request.getfixturevalue("pg_template")
    name = f"mdhub_test_{uuid.uuid4().hex[:12]}"
    with _pg_admin() as admin:
        admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    yield Backend("postgresql", _pg_url(name), root)
    with _pg_admin() as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="module")
def served(backend: Backend) -> Iterator[Served]:
    """The app on the module's database, its lifespan and one worker running."""
    settings = Settings(
        data_dir=backend.data_dir,
        database_url=backend.url,
        workers=1,
        lease_seconds=10.0,
        admin_password=ADMIN_PASSWORD,
    )
    app = Served(settings).start()
    try:
        yield app
    finally:
        app.close()
