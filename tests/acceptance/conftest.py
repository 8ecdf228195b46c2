"""Fixtures for tests against real mdhub processes: started per test, always ended, and their
logs attached to the report of a test that fails."""

from __future__ import annotations

from collections.abc import Generator, Iterator
from pathlib import Path

import pytest

from tests.acceptance.server import LOG_TAIL_CHARS, MdhubProcess, Processes


@pytest.fixture
def processes(database_url: str, tmp_path: Path) -> Iterator[Processes]:
    """Start `mdhub serve` / `mdhub worker` processes on this test's database."""
    group = Processes(database_url, tmp_path / "data")
    try:
        yield group
    finally:
        group.close()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if report.failed:
        for value in getattr(item, "funcargs", {}).values():
            if isinstance(value, Processes) and value.started:
                report.sections.append(("mdhub process logs", value.logs()))
            elif isinstance(value, MdhubProcess):
                report.sections.append((f"{value.name} log", value.log_text()[-LOG_TAIL_CHARS:]))
    return report
