"""Shared fixtures: a fresh database per test, on SQLite and on PostgreSQL."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from mdhub.config import Settings
from mdhub.db import migrate
from mdhub.db.engine import open_databases
from mdhub.services.hub import Hub

pytest_plugins = ["tests.s3_server"]

PG_ADMIN = os.environ.get("MDHUB_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
TEMPLATE = f"mdhub_test_template_{os.getpid()}"


def _pg_admin() -> psycopg.Connection:
    return psycopg.connect(PG_ADMIN, autocommit=True, connect_timeout=5)


def _pg_url(database: str) -> str:
    base = PG_ADMIN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1)
    return f"{base}/{database}"


@pytest.fixture(scope="session")
def pg_template() -> Iterator[str]:
    """A migrated PostgreSQL database that each test clones (fast, like procrastinate)."""
    try:
        admin = _pg_admin()
    except psycopg.OperationalError as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"PostgreSQL is required under CI=true and is not reachable: {exc}")
        pytest.skip(f"PostgreSQL not reachable: {exc}")
    with admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{TEMPLATE}"')
        admin.execute(f'CREATE DATABASE "{TEMPLATE}"')
    dbs = open_databases(_pg_url(TEMPLATE))
    migrate.upgrade(dbs)
    dbs.dispose()
    yield TEMPLATE
    with _pg_admin() as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{TEMPLATE}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, migrated database URL for one test, on each backend."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'db' / 'mdhub.db'}"
        dbs = open_databases(url)
        migrate.upgrade(dbs)
        dbs.dispose()
        yield url
        return
    template = request.getfixturevalue("pg_template")
    name = f"mdhub_test_{uuid.uuid4().hex[:12]}"
    with _pg_admin() as admin:
        admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    yield _pg_url(name)
    with _pg_admin() as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def hub(database_url: str, tmp_path: Path) -> Iterator[Hub]:
    with Hub.open(Settings(data_dir=tmp_path, database_url=database_url)) as opened:
        yield opened
