"""How `mdhub serve` starts the app: the startup heap is left out of garbage collection."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mdhub import serving
from mdhub.config import Settings


@pytest.fixture
def unfrozen() -> Iterator[None]:
    gc.unfreeze()
    yield
    gc.unfreeze()


def test_the_startup_heap_is_frozen_before_serving(
    unfrozen: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    frozen_when_served: list[int] = []

    def run(app: Any, **options: Any) -> None:
        frozen_when_served.append(gc.get_freeze_count())

    monkeypatch.setattr(serving.uvicorn, "run", run)
    serving.serve(Settings(data_dir=tmp_path), log_config={}, log_level="info")
    assert frozen_when_served and frozen_when_served[0] > 10_000


def test_settings_travel_to_other_processes_through_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = Settings(
        data_dir=tmp_path, workers=3, processes=2, lease_seconds=7.5, access_log=False
    )
    for name, value in settings.environment().items():
        monkeypatch.setenv(name, value)
    assert Settings.from_env() == settings


def test_an_access_log_setting_that_is_not_a_boolean_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MDHUB_ACCESS_LOG", "Off")
    assert Settings.from_env().access_log is False
    monkeypatch.setenv("MDHUB_ACCESS_LOG", "maybe")
    with pytest.raises(ValueError, match="MDHUB_ACCESS_LOG must be true or false, not 'maybe'"):
        Settings.from_env()


def test_the_access_log_setting_reaches_uvicorn(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    options_seen: list[dict[str, Any]] = []
    monkeypatch.setattr(serving.uvicorn, "run", lambda app, **options: options_seen.append(options))
    for access_log in (True, False):
        settings = Settings(data_dir=tmp_path, access_log=access_log)
        serving.serve(settings, log_config={}, log_level="info")
    assert [options["access_log"] for options in options_seen] == [True, False]
