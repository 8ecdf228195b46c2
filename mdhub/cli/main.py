"""The `mdhub` command line: serve, worker, migrate, datasets, and `apply` (the engine, locally)."""

from __future__ import annotations

import json
import logging
import signal
from pathlib import Path
from typing import Annotated, Any

import typer

from mdhub.cli import output
from mdhub.cli.admin import admin_app
from mdhub.cli.common import (
    EXIT_ERROR,
    EXIT_FAILED,
    EXIT_REJECTED,
    DatabaseOption,
    DataDirOption,
    JsonOption,
    err,
    fail,
    open_hub,
    open_hub_with,
    settings_from,
)
from mdhub.config import Settings
from mdhub.db import migrate as migrations
from mdhub.db.engine import open_databases
from mdhub.errors import MdhubError
from mdhub.observability.logging import configure_logging, uvicorn_log_config
from mdhub.worker.pool import WorkerOptions, WorkerPool

app = typer.Typer(
    help="mdhub: a self-hosted master data hub.", no_args_is_help=True, add_completion=False
)
datasets_app = typer.Typer(help="Create, list, show and delete datasets.", no_args_is_help=True)
app.add_typer(datasets_app, name="datasets")
app.add_typer(admin_app, name="admin")


@app.command()
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
    database_url: DatabaseOption = None,
    data_dir: DataDirOption = None,
    storage_url: Annotated[str | None, typer.Option(envvar="MDHUB_STORAGE_URL")] = None,
    max_upload_bytes: Annotated[int | None, typer.Option(envvar="MDHUB_MAX_UPLOAD_BYTES")] = None,
    log_level: Annotated[str, typer.Option(help="debug, info, warning or error.")] = "info",
) -> None:
    """Start the HTTP server and its workers (a new database is initialized on first start)."""
    import uvicorn

    from mdhub.app import create_app

    settings = Settings.from_env(
        host=host,
        port=port,
        workers=workers,
        database_url=database_url or None,
        data_dir=data_dir,
        storage_url=storage_url or None,
        max_upload_bytes=max_upload_bytes,
    )
    as_json = settings.log_format == "json"
    configure_logging(log_level, json=as_json)
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_config=uvicorn_log_config(log_level, json=as_json),
        log_level=log_level,
    )


@app.command()
def worker(
    concurrency: Annotated[int, typer.Option(min=1, help="Jobs this process runs at once.")] = 1,
    database_url: DatabaseOption = None,
    data_dir: DataDirOption = None,
    storage_url: Annotated[str | None, typer.Option(envvar="MDHUB_STORAGE_URL")] = None,
    log_level: Annotated[str, typer.Option(help="debug, info, warning or error.")] = "info",
) -> None:
    """Run jobs from the queue until stopped (SIGTERM or Ctrl-C: after the current jobs)."""
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


@app.command()
def migrate(database_url: DatabaseOption = None, data_dir: DataDirOption = None) -> None:
    """Bring the database schema up to date."""
    dbs = open_databases(settings_from(database_url, data_dir).database_url)
    try:
        migrations.upgrade(dbs)
    finally:
        dbs.dispose()
    err.print("database is up to date")


@app.command()
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
        fail(exc, EXIT_REJECTED)
    finally:
        hub.close()
    if as_json:
        typer.echo(json.dumps(job, indent=2, default=str))
    else:
        output.print_job(job)
    if job["status"] != "succeeded":
        error = job.get("error") or {}
        code = (
            EXIT_REJECTED if error.get("code") in ("row_errors", "invalid_input") else EXIT_FAILED
        )
        raise typer.Exit(code)


@datasets_app.command("create")
def datasets_create(
    name: str,
    schema: Annotated[
        Path | None, typer.Option(exists=True, help="Table Schema JSON file.")
    ] = None,
    keys: Annotated[str | None, typer.Option(help="Key fields, comma-separated.")] = None,
    schema_policy: Annotated[str, typer.Option(help="reject|ignore|add")] = "reject",
    database_url: DatabaseOption = None,
    data_dir: DataDirOption = None,
) -> None:
    """Create a dataset (with a declared schema, or inferred from its first file)."""
    with open_hub(database_url, data_dir) as hub:
        try:
            descriptor = json.loads(schema.read_text()) if schema else None
            found = hub.create_dataset(
                name,
                schema=descriptor,
                keys=keys.split(",") if keys else None,
                schema_policy=schema_policy,
            )
        except MdhubError as exc:
            fail(exc)
        except json.JSONDecodeError as exc:
            err.print(f"[bold red]error[/]: {schema} is not valid JSON: {exc}")
            raise typer.Exit(EXIT_ERROR) from None
    typer.echo(json.dumps(found.to_dict(), indent=2))


@datasets_app.command("list")
def datasets_list(
    as_json: JsonOption = False, database_url: DatabaseOption = None, data_dir: DataDirOption = None
) -> None:
    """List datasets."""
    with open_hub(database_url, data_dir) as hub:
        found = [d.to_dict() for d in hub.datasets()]
    if as_json:
        typer.echo(json.dumps(found, indent=2))
    else:
        output.print_datasets(found)


@datasets_app.command("show")
def datasets_show(
    name: str, database_url: DatabaseOption = None, data_dir: DataDirOption = None
) -> None:
    """Show a dataset: schema, keys, row count, version."""
    with open_hub(database_url, data_dir) as hub:
        try:
            typer.echo(json.dumps(hub.dataset(name).to_dict(), indent=2))
        except MdhubError as exc:
            fail(exc)


@datasets_app.command("delete")
def datasets_delete(
    name: str,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask.")] = False,
    database_url: DatabaseOption = None,
    data_dir: DataDirOption = None,
) -> None:
    """Delete a dataset with all its rows and history."""
    if not yes:
        typer.confirm(f"Delete dataset {name} and all its rows?", abort=True)
    with open_hub(database_url, data_dir) as hub:
        try:
            hub.delete_dataset(name)
        except MdhubError as exc:
            fail(exc)
    err.print(f"dataset {name} deleted")
