"""The `mdhub` command line. On a server, through the HTTP client: login, datasets, push, jobs,
find, download, sync. Locally, on the database: serve, worker, migrate, apply, admin."""

from __future__ import annotations

import json
import signal
from pathlib import Path
from typing import Annotated, Any

import typer

from mdhub.cli import exits, login, output, pull, push
from mdhub.cli.admin import admin_app
from mdhub.cli.common import (
    DatabaseOption,
    DataDirOption,
    JsonOption,
    err,
    fail,
    open_hub,
    open_hub_with,
    settings_from,
)
from mdhub.cli.datasets import datasets_app
from mdhub.cli.jobs import jobs_app
from mdhub.config import Settings
from mdhub.errors import MdhubError

app = typer.Typer(
    help="mdhub: a self-hosted master data hub.",
    epilog=exits.EPILOG,
    no_args_is_help=True,
    add_completion=False,
)
REMOTE = "On a server (over HTTP)"
LOCAL = "On the database (server side)"
app.command(rich_help_panel=REMOTE)(login.login)
app.command(rich_help_panel=REMOTE)(login.logout)
app.add_typer(datasets_app, name="datasets", rich_help_panel=REMOTE)
app.command(rich_help_panel=REMOTE)(push.push)
app.add_typer(jobs_app, name="jobs", rich_help_panel=REMOTE)
app.command(rich_help_panel=REMOTE)(pull.find)
app.command(rich_help_panel=REMOTE)(pull.download)
app.command(rich_help_panel=REMOTE)(pull.sync)
app.add_typer(admin_app, name="admin", rich_help_panel=LOCAL)


@app.command(rich_help_panel=LOCAL)
def serve(
    host: Annotated[str | None, typer.Option(envvar="MDHUB_HOST")] = None,
    port: Annotated[int | None, typer.Option(envvar="MDHUB_PORT")] = None,
    workers: Annotated[
        int | None,
        typer.Option(
            envvar="MDHUB_WORKERS",
            help="In-process workers (0 when separate `mdhub worker` processes run).",
        ),
    ] = None,
    processes: Annotated[
        int | None,
        typer.Option(
            envvar="MDHUB_PROCESSES",
            min=1,
            help="Server processes sharing the port (up to one per core answers the most "
            "requests a second); each runs its own in-process workers.",
        ),
    ] = None,
    database_url: DatabaseOption = None,
    data_dir: DataDirOption = None,
    storage_url: Annotated[str | None, typer.Option(envvar="MDHUB_STORAGE_URL")] = None,
    max_upload_bytes: Annotated[int | None, typer.Option(envvar="MDHUB_MAX_UPLOAD_BYTES")] = None,
    log_level: Annotated[str, typer.Option(help="debug, info, warning or error.")] = "info",
    access_log: Annotated[
        bool | None,
        typer.Option(
            "--access-log/--no-access-log",
            envvar="MDHUB_ACCESS_LOG",
            help="A log line for each HTTP request [default: on].",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Start the HTTP server and its workers (a new database is initialized on first start)."""
    from mdhub.observability.logging import configure_logging, uvicorn_log_config
    from mdhub.serving import serve as serve_http

    settings = Settings.from_env(
        host=host,
        port=port,
        workers=workers,
        processes=processes,
        database_url=database_url or None,
        data_dir=data_dir,
        storage_url=storage_url or None,
        max_upload_bytes=max_upload_bytes,
        access_log=access_log,
    )
    as_json = settings.log_format == "json"
    configure_logging(log_level, json=as_json)
    serve_http(
        settings, log_config=uvicorn_log_config(log_level, json=as_json), log_level=log_level
    )


@app.command(rich_help_panel=LOCAL)
def worker(
    concurrency: Annotated[int, typer.Option(min=1, help="Jobs this process runs at once.")] = 1,
    database_url: DatabaseOption = None,
    data_dir: DataDirOption = None,
    storage_url: Annotated[str | None, typer.Option(envvar="MDHUB_STORAGE_URL")] = None,
    log_level: Annotated[str, typer.Option(help="debug, info, warning or error.")] = "info",
) -> None:
    """Run jobs from the queue until stopped (SIGTERM or Ctrl-C: after the current jobs)."""
    import logging

    from mdhub.observability.logging import configure_logging
    from mdhub.worker.pool import WorkerOptions, WorkerPool

    settings = Settings.from_env(
        database_url=database_url or None, data_dir=data_dir, storage_url=storage_url or None
    )
    configure_logging(log_level, json=settings.log_format == "json")
    hub = open_hub_with(settings)
    pool = WorkerPool(
        hub.dbs,
        hub.storage,
        concurrency,
        options=WorkerOptions.from_settings(settings),
    )
    signal.signal(signal.SIGTERM, lambda *_: pool.stop(timeout=0))
    pool.start()
    logging.getLogger("mdhub.worker").info("worker started with %s thread(s)", concurrency)
    try:
        pool.wait()
    except KeyboardInterrupt:
        pool.stop()
    finally:
        hub.close()


@app.command(rich_help_panel=LOCAL)
def migrate(database_url: DatabaseOption = None, data_dir: DataDirOption = None) -> None:
    """Bring the database schema up to date."""
    from mdhub.db import migrate as migrations
    from mdhub.db.engine import open_databases

    dbs = open_databases(settings_from(database_url, data_dir).database_url)
    try:
        migrations.upgrade(dbs)
    finally:
        dbs.dispose()
    err.print("database is up to date")


@app.command(rich_help_panel=LOCAL)
def apply(
    dataset: Annotated[str, typer.Argument(help="Dataset name (created if missing).")],
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="File to apply.")],
    operation: Annotated[
        str, typer.Option("--operation", "-o", help="upsert|insert|update|append|overwrite|delete")
    ] = "upsert",
    format: Annotated[
        str | None, typer.Option(help="csv|ndjson|json|parquet (default: from the file name)")
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Validate and diff only.")] = False,
    keys: Annotated[
        str | None, typer.Option(help="Key fields, comma-separated, for a new dataset.")
    ] = None,
    max_errors: Annotated[
        int, typer.Option(help="Row errors allowed while still applying valid rows.")
    ] = 0,
    skip_invalid: Annotated[
        bool, typer.Option("--skip-invalid", help="Apply valid rows whatever the errors.")
    ] = False,
    encoding: Annotated[str | None, typer.Option(help="File encoding, if not UTF-8.")] = None,
    delimiter: Annotated[str | None, typer.Option(help="CSV delimiter.")] = None,
    as_json: JsonOption = False,
    database_url: DatabaseOption = None,
    data_dir: DataDirOption = None,
) -> None:
    """Apply a file to a dataset now, on the configured database, and print the result."""
    read_options: dict[str, Any] = {}
    if encoding:
        read_options["encoding"] = encoding
    if delimiter:
        read_options["delimiter"] = "\t" if delimiter in ("\\t", "tab") else delimiter
    hub = open_hub(database_url, data_dir)
    try:
        job_id = hub.submit(
            dataset,
            file,
            operation=operation,
            format=format,
            dry_run=dry_run,
            max_errors=None if skip_invalid else max_errors,
            keys=keys.split(",") if keys else None,
            read_options=read_options,
        )
        with output.JobProgress(total=file.stat().st_size, enabled=not as_json) as reporter:
            job = hub.run(job_id, reporter)
    except MdhubError as exc:
        fail(exc, exits.REJECTED)
    finally:
        hub.close()
    if as_json:
        typer.echo(json.dumps(job, indent=2, default=str))
    else:
        output.print_job(job)
    if job["status"] != "succeeded":
        raise typer.Exit(exits.for_job(job))
