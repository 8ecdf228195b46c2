"""What the commands that talk to a server share: connection options, the client they open,
how what goes wrong is told and turned into an exit code, and how a result is printed."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated, Any, Literal, NoReturn, TypeVar

import typer

from mdhub.cli import exits
from mdhub.cli.common import err
from mdhub.cli.credentials import Target, resolve
from mdhub.client import Client, RetryPolicy
from mdhub.client.errors import AuthError, ClientError, NetworkError, ServerError

RETRY_ATTEMPTS = 1000
# `--retry-for`'s default: typer takes a default from the parameter, never from `Annotated`.
RETRY_SECONDS = 300.0

Operation = Literal["upsert", "insert", "update", "append", "overwrite", "delete"]
FileFormat = Literal["csv", "ndjson", "json", "parquet"]
JobStatus = Literal["created", "queued", "running", "succeeded", "failed", "cancelled"]
SchemaPolicy = Literal["reject", "ignore", "add"]
T = TypeVar("T")

UrlOption = Annotated[
    str | None,
    typer.Option(
        "--url",
        envvar="MDHUB_URL",
        help="Server URL (default: the server of the last `mdhub login`).",
        show_default=False,
    ),
]
ApiKeyOption = Annotated[
    str | None,
    typer.Option(
        "--api-key",
        envvar="MDHUB_API_KEY",
        help="API key (default: the credential `mdhub login` stored for the server).",
        show_default=False,
    ),
]
RetryOption = Annotated[
    float,
    typer.Option(
        "--retry-for",
        envvar="MDHUB_RETRY_SECONDS",
        min=0,
        help="Seconds to keep retrying a request the server did not answer (down, 429, 5xx).",
    ),
]


@contextmanager
def connect(url: str | None, api_key: str | None, retry_for: float) -> Iterator[Client]:
    """A client on the chosen server; what it raises ends the command with its exit code."""
    target: Target | None = None
    try:
        target = resolve(url, api_key)
        with Client(target.url, api_key=target.secret, retry=retry_policy(retry_for)) as client:
            yield client
    except ClientError as exc:
        fail(exc, target)
    except OSError as exc:
        err.print(f"[bold red]error[/]: {exc}")
        raise typer.Exit(exits.ERROR) from None


def retry_policy(retry_for: float) -> RetryPolicy:
    """Retries bounded by time: `retry_for` seconds, however many attempts that takes."""
    return RetryPolicy(attempts=RETRY_ATTEMPTS, deadline=retry_for)


def fail(exc: ClientError, target: Target | None = None) -> NoReturn:
    """Tell what went wrong on stderr and exit with its code."""
    if isinstance(exc, ServerError):
        message = f"({exc.code}, HTTP {exc.status}): {exc.message}"
    else:
        message = f": {exc}"
    if isinstance(exc, NetworkError) and target is not None:
        message = f": cannot reach {target.url}: {exc}"
    err.print(f"[bold red]error[/]{message}", highlight=False)
    if isinstance(exc, AuthError) and exc.status == 401 and target is not None and target.stored:
        err.print(
            f"the stored credential was refused: log in again (`mdhub login --url {target.url}`)"
        )
    raise typer.Exit(exits.for_error(exc))


def print_json(value: Any) -> None:
    typer.echo(json.dumps(value, indent=2, default=str))


def print_result(value: T, *, as_json: bool, show: Callable[[T], None]) -> None:
    """How a command ends: `value` as JSON on stdout with `--json`, else as `show` draws it."""
    if as_json:
        print_json(value)
    else:
        show(value)
