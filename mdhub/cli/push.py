"""`mdhub push`: a file to a dataset on a server, as a job that it waits for — the command a
nightly cron job runs. The exit code says how it ended (see `mdhub --help`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from mdhub.cli import exits, output
from mdhub.cli.common import JsonOption, err
from mdhub.cli.remote import (
    RETRY_SECONDS,
    ApiKeyOption,
    FileFormat,
    Operation,
    RetryOption,
    UrlOption,
    connect,
    print_result,
)
from mdhub.client.errors import JobFailed, WaitTimeout


def push(
    dataset: Annotated[
        str, typer.Argument(help="Dataset name (created from the file when --keys is given).")
    ],
    file: Annotated[
        Path,
        typer.Argument(exists=True, dir_okay=False, readable=True, help="The file to apply."),
    ],
    operation: Annotated[Operation, typer.Option("--operation", "-o")] = "upsert",
    keys: Annotated[
        str | None, typer.Option(help="Key fields, comma-separated, for a new dataset.")
    ] = None,
    format: Annotated[
        FileFormat | None, typer.Option(help="File format (default: from the file's name).")
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Validate and diff only: nothing is committed.")
    ] = False,
    max_errors: Annotated[
        int | None, typer.Option(min=0, help="Row errors allowed while still applying the rest.")
    ] = None,
    skip_invalid: Annotated[
        bool, typer.Option("--skip-invalid", help="Apply the valid rows whatever the errors.")
    ] = False,
    encoding: Annotated[str | None, typer.Option(help="File encoding, if not UTF-8.")] = None,
    delimiter: Annotated[str | None, typer.Option(help="CSV delimiter.")] = None,
    wait: Annotated[
        bool,
        typer.Option("--wait/--no-wait", help="Wait for the job, or only have it accepted."),
    ] = True,
    timeout: Annotated[
        float, typer.Option(min=0, help="Seconds to wait for the job before giving up (exit 5).")
    ] = 3600.0,
    idempotency_key: Annotated[
        str | None,
        typer.Option(
            help="Sent with the upload: a push with a key the server already accepted gets "
            "that job again instead of a new one (default: a new key per push)."
        ),
    ] = None,
    as_json: JsonOption = False,
    url: UrlOption = None,
    api_key: ApiKeyOption = None,
    retry_for: RetryOption = RETRY_SECONDS,
) -> None:
    """Push a file to a dataset as a job and wait for it.

    Shows progress bars, then the job's statistics and first row errors; exits with a code
    that says how it ended. Retries safely: the server applies the file once.
    """
    with (
        connect(url, api_key, retry_for) as client,
        output.RemoteProgress(
            upload_bytes=file.stat().st_size, enabled=not as_json and err.is_terminal
        ) as progress,
    ):
        try:
            job = client.push(
                dataset,
                file,
                operation,
                keys=keys.split(",") if keys else None,
                dry_run=dry_run,
                format=format,
                max_errors=max_errors,
                skip_invalid=skip_invalid,
                encoding=encoding,
                delimiter="\t" if delimiter in ("\\t", "tab") else delimiter,
                wait=wait,
                timeout=timeout,
                idempotency_key=idempotency_key,
                on_upload=progress.uploaded,
                on_job=progress.job,
            )
        except (JobFailed, WaitTimeout) as exc:
            job = exc.job
    show_job(job, as_json=as_json, final=wait)


def show_job(job: dict[str, Any], *, as_json: bool, final: bool = True) -> None:
    """Print a job (its statistics table, or JSON); when `final`, exit with its code."""
    print_result(job, as_json=as_json, show=output.print_job if final else output.print_accepted)
    code = exits.for_job(job) if final else exits.OK
    if code == exits.TIMEOUT:
        err.print(
            f"job {job['id']} is still {job['status']} after the timeout and goes on on the "
            f"server: follow it with `mdhub jobs watch {job['id']}`",
            highlight=False,
        )
    if code != exits.OK:
        raise typer.Exit(code)
