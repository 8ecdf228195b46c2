"""Reading data from a server: `mdhub find` (records matching a filter), `mdhub download` (a
whole dataset as a file) and `mdhub sync` (a local copy that follows the dataset's changes)."""

from __future__ import annotations

import json
from itertools import islice
from pathlib import Path
from typing import Annotated, Any

import typer

from mdhub.cli import output
from mdhub.cli.common import JsonOption, err
from mdhub.cli.remote import (
    RETRY_SECONDS,
    ApiKeyOption,
    FileFormat,
    RetryOption,
    UrlOption,
    connect,
    print_result,
)

FORMATS = {
    ".csv": "csv",
    ".ndjson": "ndjson",
    ".jsonl": "ndjson",
    ".json": "json",
    ".parquet": "parquet",
}
MAX_PAGE = 1000


def find(
    dataset: Annotated[str, typer.Argument(help="Dataset name.")],
    query: Annotated[
        str,
        typer.Option(
            "--query",
            "-q",
            help='Filter in MongoDB query language, e.g. \'{"country": "DE"}\'.',
        ),
    ] = "{}",
    projection: Annotated[
        str | None, typer.Option(help="Fields to show or hide, e.g. '{\"name\": 1}'.")
    ] = None,
    sort: Annotated[str | None, typer.Option(help="Sort order, e.g. '{\"name\": -1}'.")] = None,
    limit: Annotated[int, typer.Option(min=0, help="At most this many records (0: all).")] = 100,
    as_json: JsonOption = False,
    url: UrlOption = None,
    api_key: ApiKeyOption = None,
    retry_for: RetryOption = RETRY_SECONDS,
) -> None:
    """Records that match a filter: a table, or with --json a JSON array."""
    conditions = _json_object(query, "--query")
    shown = _json_object(projection, "--projection") if projection else None
    order = _json_object(sort, "--sort") if sort else None
    page = min(limit, MAX_PAGE) if limit else MAX_PAGE
    with connect(url, api_key, retry_for) as client:
        found = islice(
            client.find(dataset, conditions, projection=shown, sort=order, page_size=page),
            limit or None,
        )
        if as_json:
            _print_array(found)
        else:
            output.print_records(list(found))


def download(
    dataset: Annotated[str, typer.Argument(help="Dataset name.")],
    path: Annotated[
        Path,
        typer.Option(
            "--output", "-o", dir_okay=False, help="File to write (it appears complete or not)."
        ),
    ],
    format: Annotated[
        FileFormat | None,
        typer.Option(
            help="File format (default: from the file name: .csv, .ndjson, .json, .parquet)."
        ),
    ] = None,
    gzip: Annotated[
        bool | None,
        typer.Option(
            "--gzip/--no-gzip", help="Compress the file (default: when its name ends in .gz)."
        ),
    ] = None,
    as_json: JsonOption = False,
    url: UrlOption = None,
    api_key: ApiKeyOption = None,
    retry_for: RetryOption = RETRY_SECONDS,
) -> None:
    """Download a whole dataset (one snapshot) as CSV, NDJSON, JSON or Parquet."""
    compressed = path.name.endswith(".gz") if gzip is None else gzip
    chosen = format or FORMATS.get(Path(path.name.removesuffix(".gz")).suffix.lower(), "csv")
    with (
        connect(url, api_key, retry_for) as client,
        output.DownloadProgress(enabled=not as_json and err.is_terminal) as progress,
    ):
        version = client.export(
            dataset, path, chosen, gzip=compressed, on_download=progress.received
        )
    downloaded = {
        "dataset": dataset,
        "path": str(path),
        "format": chosen,
        "gzip": compressed,
        "version": version,
        "bytes": path.stat().st_size,
    }
    print_result(downloaded, as_json=as_json, show=output.print_download)


def sync(
    dataset: Annotated[str, typer.Argument(help="Dataset name.")],
    directory: Annotated[
        Path,
        typer.Argument(file_okay=False, help="Where the copy and its state file are kept."),
    ],
    full: Annotated[
        bool, typer.Option("--full", help="Download the whole dataset even if changes would do.")
    ] = False,
    as_json: JsonOption = False,
    url: UrlOption = None,
    api_key: ApiKeyOption = None,
    retry_for: RetryOption = RETRY_SECONDS,
) -> None:
    """Keep a copy of a dataset in a directory, up to date.

    The copy is DIRECTORY/DATASET.ndjson, one record per line. The first run downloads it
    whole; later runs apply only what changed since.
    """
    with connect(url, api_key, retry_for) as client:
        result = client.sync(dataset, directory, full=full)
    print_result(result.to_dict(), as_json=as_json, show=output.print_sync)


def _json_object(text: str, option: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise typer.BadParameter(f"not JSON: {exc}", param_hint=option) from None
    if not isinstance(value, dict):
        raise typer.BadParameter("must be a JSON object", param_hint=option)
    return value


def _print_array(records: Any) -> None:
    separator = "[\n"
    for record in records:
        typer.echo(separator + "  " + json.dumps(record, ensure_ascii=False), nl=False)
        separator = ",\n"
    typer.echo("[]" if separator == "[\n" else "\n]")
