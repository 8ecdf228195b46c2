"""mdhub's side of the benchmark: the same scenarios through the engine's library API.

hub = Hub.open(Settings(data_dir=data_dir, database_url=url))  # "" = SQLite in data_dir
hub.create_dataset("vendors", schema=descriptor, keys=["vendor_id"])
job = hub.apply("vendors", csv_path, operation="upsert")   # the finished job, as a dict
hub.close()
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mdhub.config import Settings
from mdhub.services.hub import Hub

DATASET = "vendors"
KEYS = ["vendor_id"]


@dataclass(frozen=True)
class EngineRun:
    """The outcome of one timed `Hub.apply`."""

    seconds: float
    status: str
    statistics: dict[str, Any] | None
    version: Any = None
    error: str | None = None


def database_url(backend: str, pg_url: str) -> str:
    """The `Settings.database_url` for a backend: "" lets mdhub use SQLite in its data_dir."""
    return pg_url if backend == "postgres" else ""


def open_hub(data_dir: Path, url: str) -> Hub:
    """Open (creating and migrating as needed) the hub whose files live in `data_dir`."""
    data_dir.mkdir(parents=True, exist_ok=True)
    return Hub.open(Settings(data_dir=data_dir, database_url=url))


def _check(job: Mapping[str, Any], what: str) -> None:
    if job["status"] != "succeeded":
        raise RuntimeError(f"{what}: status {job['status']!r}: {_error_of(job)}")


def _error_of(job: Mapping[str, Any]) -> str | None:
    """The error a failed job carries, shortened."""
    return str(job.get("error") or job.get("errors") or "")[:2000] or None


def setup(data_dir: Path, url: str, schema: Mapping[str, Any], initial_csv: Path | None) -> None:
    """Untimed: create the dataset and, when `initial_csv` is given, load it (operation
    `insert`) so that the timed run starts from a table holding the initial snapshot."""
    hub = open_hub(data_dir, url)
    try:
        hub.create_dataset(DATASET, schema=dict(schema), keys=KEYS)
        if initial_csv is not None:
            _check(hub.apply(DATASET, initial_csv, operation="insert"), "loading the initial rows")
    finally:
        hub.close()


def run(data_dir: Path, url: str, csv_path: Path, operation: str) -> EngineRun:
    """Timed: one `Hub.apply(DATASET, csv_path, operation=…)` on the hub set up before.
    Opening and closing the hub are not timed (as connecting is not, for the baseline)."""
    hub = open_hub(data_dir, url)
    try:
        started = time.perf_counter()
        result = hub.apply(DATASET, csv_path, operation=operation)
        seconds = time.perf_counter() - started
    finally:
        hub.close()
    status = str(result["status"])
    return EngineRun(
        seconds=seconds,
        status=status,
        statistics=dict(result["statistics"]),
        version=result.get("version"),
        error=None if status == "succeeded" else _error_of(result),
    )
