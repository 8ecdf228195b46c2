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
    RETRY_SECONDS,
    ApiKeyOption,
    JobStatus,
    RetryOption,
    UrlOption,
    connect,
    print_result,
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
    retry_for: RetryOption = RETRY_SECONDS,
) -> None:
    """Jobs, newest first."""
    with connect(url, api_key, retry_for) as client:
        found = list(islice(client.jobs(dataset=dataset, status=status), limit or None))
    print_result(found, as_json=as_json, show=output.print_jobs)


@jobs_app.command("show")
def show(
    job_id: JobArgument,
    as_json: JsonOption = False,
    url: UrlOption = None,
    api_key: ApiKeyOption = None,
    retry_for: RetryOption = RETRY_SECONDS,
) -> None:
    """A job: status, statistics, version, error and its first row errors."""
    with connect(url, api_key, retry_for) as client:
        job = client.job(job_id)
    print_result(job, as_json=as_json, show=output.print_job)


@jobs_app.command("watch")
def watch(
    job_id: JobArgument,
    timeout: Annotated[
        float, typer.Option(min=0, help="Seconds to wait before giving up (exit 5).")
    ] = 3600.0,
    as_json: JsonOption = False,
    url: UrlOption = None,
    api_key: ApiKeyOption = None,
    retry_for: RetryOption = RETRY_SECONDS,
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
    retry_for: RetryOption = RETRY_SECONDS,
) -> None:
    """Cancel a job: a queued one at once, a running one between two batches."""
    with connect(url, api_key, retry_for) as client:
        job = client.cancel(job_id)
    print_result(job, as_json=as_json, show=output.print_cancelled)


@jobs_app.command("errors")
def errors(
    job_id: JobArgument,
    limit: LimitOption = 100,
    as_json: JsonOption = False,
    url: UrlOption = None,
    api_key: ApiKeyOption = None,
    retry_for: RetryOption = RETRY_SECONDS,
) -> None:
    """A job's row errors: part, line, column, value, message."""
    with connect(url, api_key, retry_for) as client:
        total = client.job(job_id)["error_count"]
        found = list(islice(client.job_errors(job_id), limit or None))
    print_result(
        found, as_json=as_json, show=lambda rows: output.print_job_errors(job_id, rows, total)
    )


@jobs_app.command("log")
def log(
    job_id: JobArgument,
    as_json: JsonOption = False,
    url: UrlOption = None,
    api_key: ApiKeyOption = None,
    retry_for: RetryOption = RETRY_SECONDS,
) -> None:
    """A job's log lines."""
    with connect(url, api_key, retry_for) as client:
        lines = list(client.job_log(job_id))
    print_result(lines, as_json=as_json, show=output.print_log)
