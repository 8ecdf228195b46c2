"""What the commands share: the stderr console, the `--json` option, and for the local commands
(on the database, no server) their options, opening the hub and failing with a message."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer
from rich.console import Console

from mdhub.cli import exits
from mdhub.config import Settings
from mdhub.errors import MdhubError

if TYPE_CHECKING:
    from mdhub.services.hub import Hub

err = Console(stderr=True)

DatabaseOption = Annotated[
    str | None,
    typer.Option("--database-url", envvar="MDHUB_DATABASE_URL", help="SQLAlchemy database URL."),
]
DataDirOption = Annotated[
    Path | None, typer.Option("--data-dir", envvar="MDHUB_DATA_DIR", help="Data directory.")
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON on stdout, for scripts.")]


def settings_from(database_url: str | None, data_dir: Path | None) -> Settings:
    return Settings.from_env(database_url=database_url or None, data_dir=data_dir)


def open_hub(database_url: str | None, data_dir: Path | None) -> Hub:
    return open_hub_with(settings_from(database_url, data_dir))


def open_hub_with(settings: Settings) -> Hub:
    # Imported here: the commands that talk to a server start without the database layer.
    from mdhub.services.hub import Hub

    try:
        return Hub.open(settings)
    except MdhubError as exc:
        fail(exc)


def fail(exc: MdhubError, code: int = exits.ERROR) -> NoReturn:
    err.print(f"[bold red]error[/] ({exc.code}): {exc.message}")
    raise typer.Exit(code)
