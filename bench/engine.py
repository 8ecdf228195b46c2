"""mdhub's side of the benchmark: the same scenarios through the engine's library API.

    hub = Hub.open(Settings(data_dir=data_dir, database_url=url))  # "" = SQLite in data_dir
    hub.create_dataset("vendors", schema=descriptor, keys=["vendor_id"])
    result = hub.apply("vendors", csv_path, operation="upsert")
    result.status, result.statistics, result.version   # or result["status"], … (the job dict)
    hub.close()

mdhub is imported only inside the functions, so this module (and the baseline) work while the
engine is missing or half-written; `available()` says whether it can be tried.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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


def available() -> bool:
    """True when `mdhub.services.hub` exists (whether it works is for the run to find out)."""
    try:
        return importlib.util.find_spec("mdhub.services.hub") is not None
    except ImportError:
        return False


def database_url(backend: str, pg_url: str) -> str:
    """The `Settings.database_url` for a backend: "" lets mdhub use SQLite in its data_dir."""
    return pg_url if backend == "postgres" else ""


def open_hub(data_dir: Path, url: str) -> Hub:
    """Open (creating and migrating as needed) the hub whose files live in `data_dir`."""
    from mdhub.config import Settings
    from mdhub.services.hub import Hub

    data_dir.mkdir(parents=True, exist_ok=True)
    return Hub.open(Settings(data_dir=data_dir, database_url=url))


def _as_dict(value: Any) -> dict[str, Any] | None:
    """Statistics as a plain dict, whether the engine gives a mapping, a dataclass or a model."""
    if value is None:
        return None
    if isinstance(value, Mapping):
        return dict(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if hasattr(value, "model_dump"):
        return dict(value.model_dump())
    return {k: v for k, v in vars(value).items() if not k.startswith("_")}


def _field(result: Any, name: str) -> Any:
    """A field of the apply result: an object's attribute or a mapping's item (the job dict)."""
    if isinstance(result, Mapping):
        return result.get(name)
    return getattr(result, name, None)


def _check(result: Any, what: str) -> None:
    status = _field(result, "status")
    if status != "succeeded":
        raise RuntimeError(f"{what}: status {status!r}: {_error_of(result)}")


def _error_of(result: Any) -> str | None:
    """The error a failed result carries, shortened."""
    for name in ("error", "errors", "message"):
        value = _field(result, name)
        if value:
            return str(value)[:2000]
    return None


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
    status = str(_field(result, "status"))
    return EngineRun(
        seconds=seconds,
        status=status,
        statistics=_as_dict(_field(result, "statistics")),
        version=_field(result, "version"),
        error=None if status == "succeeded" else _error_of(result),
    )
