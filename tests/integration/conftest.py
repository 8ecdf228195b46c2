"""Fixtures of the in-process API tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from mdhub.config import Settings


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    """The app's settings: one worker (woken by each submission), on the test's database and
    storage directory."""
    return Settings(
        data_dir=tmp_path,
        database_url=database_url,
        workers=1,
        lease_seconds=10.0,
        admin_password="admin-password",
    )
