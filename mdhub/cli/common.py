"""What the commands share: options, exit codes, opening the hub, failing with a message."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from mdhub.config import Settings
from mdhub.errors import MdhubError
from mdhub.services.hub import Hub

err = Console(stderr=True)

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_REJECTED = 3
EXIT_ERROR = 4

DatabaseOption = Annotated[
    str | None,
    typer.Option("--database-url", envvar="MDHUB_DATABASE_URL", help="SQLAlchemy database URL."),
]
DataDirOption = Annotated[
    Path | None, typer.Option("--data-dir", envvar="MDHUB_DATA_DIR", help="Data directory.")
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]


def settings_from(database_url: str | None, data_dir: Path | None) -> Settings:
    return Settings.from_env(database_url=database_url or None, data_dir=data_dir)


def open_hub(database_url: str | None, data_dir: Path | None) -> Hub:
    return open_hub_with(settings_from(database_url, data_dir))


def open_hub_with(settings: Settings) -> Hub:
    try:
        return Hub.open(settings)
    except MdhubError as exc:
        fail(exc)
        raise  # unreachable: _fail exits


def fail(exc: MdhubError, code: int = EXIT_ERROR) -> None:
    err.print(f"[bold red]error[/] ({exc.code}): {exc.message}")
    raise typer.Exit(code)
