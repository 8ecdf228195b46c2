"""`mdhub datasets …`: create, list, show and delete datasets on a server."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from mdhub.cli import exits, output
from mdhub.cli.common import JsonOption, err
from mdhub.cli.remote import (
    RETRY_SECONDS,
    ApiKeyOption,
    RetryOption,
    SchemaPolicy,
    UrlOption,
    connect,
    print_result,
)

datasets_app = typer.Typer(help="Create, list, show and delete datasets.", no_args_is_help=True)


@datasets_app.command("create")
def create(
    name: Annotated[str, typer.Argument(help="The new dataset's name.")],
    schema: Annotated[
        Path | None,
        typer.Option(exists=True, dir_okay=False, help="Table Schema JSON file."),
    ] = None,
    keys: Annotated[str | None, typer.Option(help="Key fields, comma-separated.")] = None,
    schema_policy: Annotated[
        SchemaPolicy, typer.Option(help="What an unknown column in a file does.")
    ] = "reject",
    as_json: JsonOption = False,
    url: UrlOption = None,
    api_key: ApiKeyOption = None,
    retry_for: RetryOption = RETRY_SECONDS,
) -> None:
    """Create a dataset (declared schema, or inferred from its first file; admin role)."""
    descriptor = _schema(schema) if schema else None
    with connect(url, api_key, retry_for) as client:
        created = client.create_dataset(
            name,
            schema=descriptor,
            keys=keys.split(",") if keys else None,
            schema_policy=schema_policy,
        )
    if not as_json:
        err.print(f"dataset {name} created")
    print_result(created, as_json=as_json, show=output.print_dataset)


@datasets_app.command("list")
def list_datasets(
    as_json: JsonOption = False,
    url: UrlOption = None,
    api_key: ApiKeyOption = None,
    retry_for: RetryOption = RETRY_SECONDS,
) -> None:
    """List datasets."""
    with connect(url, api_key, retry_for) as client:
        found = list(client.datasets())
    print_result(found, as_json=as_json, show=output.print_datasets)


@datasets_app.command("show")
def show(
    name: str,
    as_json: JsonOption = False,
    url: UrlOption = None,
    api_key: ApiKeyOption = None,
    retry_for: RetryOption = RETRY_SECONDS,
) -> None:
    """Show a dataset: schema, keys, row count, version."""
    with connect(url, api_key, retry_for) as client:
        found = client.dataset(name)
    print_result(found, as_json=as_json, show=output.print_dataset)


@datasets_app.command("delete")
def delete(
    name: str,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask.")] = False,
    url: UrlOption = None,
    api_key: ApiKeyOption = None,
    retry_for: RetryOption = RETRY_SECONDS,
) -> None:
    """Delete a dataset with all its rows and history (admin role)."""
    if not yes and not typer.confirm(f"Delete dataset {name} and all its rows?"):
        err.print("nothing deleted")
        raise typer.Exit(exits.ERROR)
    with connect(url, api_key, retry_for) as client:
        client.delete_dataset(name)
    err.print(f"dataset {name} deleted")


def _schema(path: Path) -> dict[str, Any]:
    try:
        descriptor = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise typer.BadParameter(f"{path} is not a readable JSON file: {exc}") from None
    if not isinstance(descriptor, dict):
        raise typer.BadParameter(f"{path} must hold a JSON object (a Table Schema)")
    return descriptor
