"""How the command line shows things: progress bars on stderr (drawn only on a terminal), and
tables of jobs, statistics, row errors, datasets and records, and what a cancel, a download or a
sync did, on stdout."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from rich import box
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskID,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TransferSpeedColumn,
)
from rich.table import Column, Table

console = Console(highlight=False)
STATISTICS = ("read", "inserted", "updated", "unchanged", "deleted", "failed")
SHOWN_ERRORS = 20


class JobProgress:
    """A Reporter that draws a local job's progress bar (the worker records it in the database)."""

    def __init__(self, *, total: int, enabled: bool) -> None:
        self._progress = Progress(
            TextColumn("[bold]applying"),
            BarColumn(),
            DownloadColumn(),
            TextColumn("{task.fields[rows]:,} rows"),
            TimeElapsedColumn(),
            console=Console(stderr=True),
            disable=not enabled,
            transient=True,
        )
        self._task = self._progress.add_task("apply", total=total, rows=0)

    def __enter__(self) -> JobProgress:
        self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._progress.stop()

    def progress(self, rows_read: int, bytes_read: int) -> None:
        self._progress.update(self._task, completed=bytes_read, rows=rows_read)

    def log(self, message: str, level: str = "info") -> None:
        return None

    def check_cancelled(self) -> None:
        return None


class RemoteProgress:
    """Bars on stderr for a job on a server: the upload (when there is one), then the job as
    the server reports it. A line says when the job is accepted, also off a terminal."""

    def __init__(self, *, upload_bytes: int | None, enabled: bool) -> None:
        self._progress = Progress(
            TextColumn("[bold]{task.description:<9}"),
            BarColumn(),
            TaskProgressColumn(),
            TextColumn("{task.fields[detail]}"),
            TimeElapsedColumn(),
            console=Console(stderr=True, highlight=False),
            disable=not enabled,
        )
        self._upload_bytes = upload_bytes
        self._upload: TaskID | None = None
        if upload_bytes is not None:
            self._upload = self._progress.add_task("uploading", total=upload_bytes, detail="")
        self._job: TaskID | None = None
        self._status: str | None = None

    def __enter__(self) -> RemoteProgress:
        self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._progress.stop()

    def uploaded(self, sent: int) -> None:
        if self._upload is not None:
            detail = f"{size(sent)} of {size(self._upload_bytes or 0)}"
            self._progress.update(self._upload, completed=sent, detail=detail)

    def job(self, job: dict[str, Any]) -> None:
        status = job["status"]
        if self._job is None:
            self._progress.console.print(f"job {job['id']} {status}")
            self._job = self._progress.add_task(status, total=100, detail="")
        elif status != self._status and status in ("running", "succeeded", "failed", "cancelled"):
            self._progress.console.print(f"job {job['id']} {status}")
        self._status = status
        progress = job["progress"]
        self._progress.update(
            self._job,
            description="applying" if status == "running" else status,
            completed=progress["percent"],
            detail=f"{progress['rows_read']:,} rows",
        )


class DownloadProgress:
    """A byte counter on stderr for a download (its size is not known before its end)."""

    def __init__(self, *, enabled: bool) -> None:
        self._progress = Progress(
            TextColumn("[bold]downloading"),
            DownloadColumn(),
            TransferSpeedColumn(),
            TimeElapsedColumn(),
            console=Console(stderr=True),
            disable=not enabled,
            transient=True,
        )
        self._task = self._progress.add_task("download", total=None)

    def __enter__(self) -> DownloadProgress:
        self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._progress.stop()

    def received(self, count: int) -> None:
        self._progress.update(self._task, completed=count)


def size(count: int) -> str:
    value = float(count)
    for unit in ("B", "kB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    raise AssertionError("unreachable")


def print_job(job: dict[str, Any]) -> None:
    """Status line, statistics table, notes, the first row errors."""
    status = job["status"]
    colour = {"succeeded": "green", "failed": "red"}.get(status, "yellow")
    dry = " (dry run: nothing was committed)" if job["dry_run"] else ""
    version = f", version {job['version']}" if job.get("version") else ""
    runtime = f", {job['runtime']} s" if job.get("runtime") is not None else ""
    console.print(f"job {job['id']} [bold {colour}]{status}[/]{dry}{version}{runtime}")
    table = Table(*STATISTICS)
    table.add_row(*(f"{job['statistics'].get(name, 0):,}" for name in STATISTICS))
    console.print(table)
    for note in job.get("notes", []):
        console.print(f"note: {escape(note)}")
    if job.get("error"):
        error = job["error"]
        console.print(f"[red]error[/] ({error['code']}): {escape(error['message'])}")
    errors = job.get("errors", [])
    if errors:
        print_row_errors(errors[:SHOWN_ERRORS], job["error_count"])


def print_row_errors(errors: list[dict[str, Any]], total: int) -> None:
    shown = Table("part", "line", "column", "value", "message", title="row errors")
    for e in errors:
        shown.add_row(
            escape(e["part"]),
            "" if e["line"] is None else str(e["line"]),
            escape(e["column"] or ""),
            escape(e["value"] or ""),
            escape(e["message"]),
        )
    console.print(shown)
    if total > len(errors):
        console.print(f"… {total - len(errors):,} more row error(s)")


def print_accepted(job: dict[str, Any]) -> None:
    """A job the server accepted and goes on with, and how to follow it."""
    console.print(f"job {job['id']} {job['status']}: `mdhub jobs watch {job['id']}`")


def print_job_errors(job_id: int, errors: list[dict[str, Any]], total: int) -> None:
    """A job's row errors, or a line saying it has none."""
    if errors:
        print_row_errors(errors, total)
    else:
        console.print(f"job {job_id} has no row errors")


def print_cancelled(job: dict[str, Any]) -> None:
    """What a cancel did: a queued job ends at once, a running one between two batches."""
    if job["status"] == "cancelled":
        console.print(f"job {job['id']} cancelled")
    else:
        console.print(f"job {job['id']} {job['status']}: cancel requested")


def print_jobs(jobs: Iterable[dict[str, Any]]) -> None:
    """One line per job; `jobs show` has the exact statistics."""
    table = Table(
        Column("id", justify="right"),
        Column("status", no_wrap=True),
        "dataset",
        "operation",
        Column("read", justify="right"),
        Column("changes", no_wrap=True),
        Column("created", no_wrap=True),
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        caption="changes: +inserted ~updated -deleted; times in UTC",
    )
    for job in jobs:
        parts = job["parts"]
        stats = job["statistics"]
        changes = (
            f"+{_compact(stats.get('inserted', 0))} ~{_compact(stats.get('updated', 0))} "
            f"-{_compact(stats.get('deleted', 0))}"
        )
        table.add_row(
            str(job["id"]),
            job["status"] + (" (dry run)" if job["dry_run"] else ""),
            ", ".join(dict.fromkeys(p["dataset"] for p in parts)),
            ", ".join(dict.fromkeys(p["operation"] for p in parts)),
            _compact(stats.get("read", 0)),
            changes,
            _minute(job.get("created_at"))[5:],
        )
    console.print(table)


def print_log(lines: Iterable[dict[str, Any]]) -> None:
    for line in lines:
        console.print(f"{_second(line['at'])} {line['level']:<7} {escape(line['message'])}")


def print_datasets(found: Iterable[dict[str, Any]]) -> None:
    table = Table("name", "keys", "rows", "version", "updated")
    for d in found:
        table.add_row(
            d["name"],
            ", ".join(d["keys"]),
            f"{d['row_count']:,}",
            str(d["version"]),
            _minute(d["updated_at"]),
        )
    console.print(table)


def print_dataset(d: dict[str, Any]) -> None:
    """A dataset's summary and its fields."""
    console.print(f"[bold]{d['name']}[/]: {d['row_count']:,} rows, version {d['version']}")
    console.print(f"keys: {', '.join(d['keys']) or '(none)'}; schema policy: {d['schema_policy']}")
    fields = (d.get("schema") or {}).get("fields", [])
    if not fields:
        console.print("schema: inferred from the first file")
        return
    table = Table("field", "type", "constraints")
    for f in fields:
        constraints = f.get("constraints") or {}
        table.add_row(
            f["name"], f.get("type", "string"), json.dumps(constraints) if constraints else ""
        )
    console.print(table)


def print_download(download: dict[str, Any]) -> None:
    console.print(
        f"{download['dataset']} version {download['version']}: "
        f"{size(download['bytes'])} written to {download['path']}"
    )


def print_sync(result: dict[str, Any]) -> None:
    """What a sync did to the copy, and where the copy is."""
    if result["full"]:
        what = f"downloaded whole ({result['full']})"
    else:
        what = f"{result['upserted']:,} upserted, {result['deleted']:,} deleted"
    console.print(
        f"{result['dataset']}: {what}; version {result['version']}, {result['rows']:,} rows in "
        f"{result['path']}"
    )


def print_records(records: list[dict[str, Any]]) -> None:
    if not records:
        console.print("no records match")
        return
    columns = list(dict.fromkeys(name for record in records for name in record))
    table = Table(*columns)
    for record in records:
        table.add_row(*(_cell(record.get(name)) for name in columns))
    console.print(table)


def _compact(count: int) -> str:
    """A count for a narrow column: exact below 10,000, else in thousands or millions."""
    if count < 10_000:
        return f"{count:,}"
    if count < 1_000_000:
        return f"{count / 1000:.1f}k".replace(".0k", "k")
    return f"{count / 1_000_000:.2f}M"


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return escape(value)
    return escape(json.dumps(value))


def _minute(value: str | None) -> str:
    return value[:16].replace("T", " ") if value else ""


def _second(value: str | None) -> str:
    return value[:19].replace("T", " ") if value else ""
