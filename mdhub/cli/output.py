"""How the command line shows jobs and datasets: progress bar, statistics, errors."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

console = Console()
STATISTICS = ("read", "inserted", "updated", "unchanged", "deleted", "failed")


class JobProgress:
    """A Reporter that draws a job's progress bar (the worker records it in the database)."""

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


def print_job(job: dict[str, Any]) -> None:
    """Status line, statistics table, notes, the first row errors."""
    status = job["status"]
    colour = {"succeeded": "green", "failed": "red"}.get(status, "yellow")
    dry = " (dry run: nothing was committed)" if job["dry_run"] else ""
    version = f", version {job['version']}" if job.get("version") else ""
    console.print(f"job {job['id']} [bold {colour}]{status}[/]{dry}{version}, {job['runtime']} s")
    table = Table(*STATISTICS)
    table.add_row(*(f"{job['statistics'].get(name, 0):,}" for name in STATISTICS))
    console.print(table)
    for note in job.get("notes", []):
        console.print(f"note: {note}")
    if job.get("error"):
        console.print(f"[red]error[/] ({job['error']['code']}): {job['error']['message']}")
    errors = job.get("errors", [])
    if errors:
        shown = Table("part", "line", "column", "value", "message", title="row errors")
        for e in errors[:20]:
            shown.add_row(
                e["part"], str(e["line"]), e["column"] or "", e["value"] or "", e["message"]
            )
        console.print(shown)
        if job["error_count"] > len(errors[:20]):
            console.print(f"… {job['error_count'] - len(errors[:20]):,} more row error(s)")


def print_datasets(found: list[dict[str, Any]]) -> None:
    table = Table("name", "keys", "rows", "version", "updated")
    for d in found:
        table.add_row(
            d["name"],
            ", ".join(d["keys"]),
            f"{d['row_count']:,}",
            str(d["version"]),
            d["updated_at"],
        )
    console.print(table)
