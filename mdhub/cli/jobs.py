"""`mdhub jobs …`: list, show, watch and cancel jobs on a server, and read their row errors and
log."""

from __future__ import annotations

from itertools import islice
from typing import Annotated

import typer

from mdhub.cli import output
from mdhub.cli.common import JsonOption, err
from mdhub.cli.push import show_job
from mdhub.cli.remote import (
    ApiKeyOption,
    JobStatus,
    RetryOption,
    UrlOption,
    connect,
    print_json,
)
from mdhub.client.errors import JobFailed, WaitTimeout

jobs_app = typer.Typer(
    help="List, show, watch and cancel jobs; read their row errors and log.",
    no_args_is_help=True,
)

JobArgument = Annotated[int, typer.Argument(min=1, help="The job's id.")]
LimitOption = Annotated[int, typer.Option(min=0, help="Show at most this many (0: all).")]


@jobs_app.command("list")
def list_jobs(
    dataset: Annotated[str | None, typer.Option(help="Only the jobs of this dataset.")] = None,
    status: Annotated[JobStatus | None, typer.Option(help="Only the jobs in this status.")] = None,
    limit: LimitOption = 20,
    as_json: JsonOption = False,
    url: UrlOption = None,
    api_key: ApiKeyOption = None,
    retry_for: RetryOption = 300.0,
) -> None:
    """Jobs, newest first."""
    with connect(url, api_key, retry_for) as client:
        found = list(islice(client.jobs(dataset=dataset, status=status), limit or None))
    if as_json:
        print_json(found)
    else:
        output.print_jobs(found)


@jobs_app.command("show")
def show(
    job_id: JobArgument,
    as_json: JsonOption = False,
    url: UrlOption = None,
    api_key: ApiKeyOption = None,
    retry_for: RetryOption = 300.0,
) -> None:
    """A job: status, statistics, version, error and its first row errors."""
    with connect(url, api_key, retry_for) as client:
        job = client.job(job_id)
    if as_json:
        print_json(job)
    else:
        output.print_job(job)


@jobs_app.command("watch")
def watch(
    job_id: JobArgument,
    timeout: Annotated[
        float, typer.Option(min=0, help="Seconds to wait before giving up (exit 5).")
    ] = 3600.0,
    as_json: JsonOption = False,
    url: UrlOption = None,
    api_key: ApiKeyOption = None,
    retry_for: RetryOption = 300.0,
) -> None:
    """Follow a job with a progress bar until it ends; exit with its code (like `push`)."""
    with (
        connect(url, api_key, retry_for) as client,
        output.RemoteProgress(upload_bytes=None, enabled=not as_json and err.is_terminal) as bar,
    ):
        try:
            job = client.wait(job_id, timeout=timeout, on_job=bar.job)
        except (JobFailed, WaitTimeout) as exc:
            job = exc.job
    show_job(job, as_json=as_json)


@jobs_app.command("cancel")
def cancel(
    job_id: JobArgument,
    as_json: JsonOption = False,
    url: UrlOption = None,
    api_key: ApiKeyOption = None,
    retry_for: RetryOption = 300.0,
) -> None:
    """Cancel a job: a queued one at once, a running one between two batches."""
    with connect(url, api_key, retry_for) as client:
        job = client.cancel(job_id)
    if as_json:
        print_json(job)
    elif job["status"] == "cancelled":
        output.console.print(f"job {job_id} cancelled")
    else:
        output.console.print(f"job {job_id} {job['status']}: cancel requested")


@jobs_app.command("errors")
def errors(
    job_id: JobArgument,
    limit: LimitOption = 100,
    as_json: JsonOption = False,
    url: UrlOption = None,
    api_key: ApiKeyOption = None,
    retry_for: RetryOption = 300.0,
) -> None:
    """A job's row errors: part, line, column, value, message."""
    with connect(url, api_key, retry_for) as client:
        total = client.job(job_id)["error_count"]
        found = list(islice(client.job_errors(job_id), limit or None))
    if as_json:
        print_json(found)
    elif found:
        output.print_row_errors(found, total)
    else:
        output.console.print(f"job {job_id} has no row errors")


@jobs_app.command("log")
def log(
    job_id: JobArgument,
    as_json: JsonOption = False,
    url: UrlOption = None,
    api_key: ApiKeyOption = None,
    retry_for: RetryOption = 300.0,
) -> None:
    """A job's log lines."""
    with connect(url, api_key, retry_for) as client:
        lines = list(client.job_log(job_id))
    if as_json:
        print_json(lines)
    else:
        output.print_log(lines)
