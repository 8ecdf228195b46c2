"""What a job carries through the engine: its parts, options, reporter and outcome."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import Connection

from mdhub.core.schema import Schema
from mdhub.errors import MdhubError
from mdhub.ingest.model import ReadOptions, RowError

STAT_NAMES = ("read", "inserted", "updated", "unchanged", "deleted", "failed")


@dataclass(frozen=True)
class DatasetRef:
    """What the engine needs to know of a dataset."""

    id: int
    name: str
    table: str
    schema: Schema | None
    keys: tuple[str, ...]
    schema_policy: str = "reject"


@dataclass(frozen=True)
class PartSpec:
    """One file to apply: its name in the job, target dataset, operation and how to read it."""

    name: str
    dataset: DatasetRef
    operation: str
    path: Path
    read: ReadOptions = field(default_factory=ReadOptions)


@dataclass(frozen=True)
class ApplyOptions:
    """`max_errors`: how many row errors a job may have and still apply its valid rows
    (0 = any error fails the job; None = no limit, i.e. skip invalid rows)."""

    dry_run: bool = False
    max_errors: int | None = 0


# Wraps a job's commit on its data connection; raises to stop the commit (see worker.queue).
CommitGuard = Callable[[Connection], AbstractContextManager[None]]


class Reporter(Protocol):
    """Where a running job reports progress and log lines, and learns it was cancelled."""

    def progress(self, rows_read: int, bytes_read: int) -> None: ...

    def log(self, message: str, level: str = "info") -> None: ...

    def check_cancelled(self) -> None: ...


class SilentReporter:
    def progress(self, rows_read: int, bytes_read: int) -> None:
        return None

    def log(self, message: str, level: str = "info") -> None:
        return None

    def check_cancelled(self) -> None:
        return None


def empty_statistics() -> dict[str, int]:
    return dict.fromkeys(STAT_NAMES, 0)


@dataclass
class PartOutcome:
    name: str
    dataset: str
    operation: str
    statistics: dict[str, int] = field(default_factory=empty_statistics)


@dataclass
class ApplyOutcome:
    """What a job did (or, for a dry run or a failure, would have done / got to)."""

    statistics: dict[str, int] = field(default_factory=empty_statistics)
    parts: list[PartOutcome] = field(default_factory=list)
    versions: dict[str, int] = field(default_factory=dict)
    schemas: dict[int, Schema] = field(default_factory=dict)
    row_counts: dict[int, int] = field(default_factory=dict)
    sample: dict[str, dict[str, list[dict[str, Any]]]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    error_count: int = 0
    error: MdhubError | None = None


class Progress:
    """Totals across parts, reported to the Reporter."""

    def __init__(self, reporter: Reporter) -> None:
        self.reporter = reporter
        self.rows_read = 0
        self.bytes_done = 0

    def update(self, rows: int, bytes_read: int) -> None:
        self.rows_read += rows
        self.reporter.progress(self.rows_read, self.bytes_done + bytes_read)
        self.reporter.check_cancelled()
