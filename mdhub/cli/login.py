"""`mdhub login` and `mdhub logout`: store (or forget) the credential the other commands use
for a server (see `mdhub.cli.credentials`)."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from mdhub.cli import credentials
from mdhub.cli.common import JsonOption, err
from mdhub.cli.credentials import Login
from mdhub.cli.remote import RETRY_SECONDS, RetryOption, fail, print_json, retry_policy
from mdhub.client import Client
from mdhub.client.errors import ClientError

LoginUrlOption = Annotated[
    str | None,
    typer.Option(
        "--url",
        envvar="MDHUB_URL",
        help=f"Server URL (default: the last login's, else {credentials.DEFAULT_URL}).",
        show_default=False,
    ),
]


def login(
    url: LoginUrlOption = None,
    username: Annotated[
        str | None, typer.Option("--username", "-u", help="User name (asked for if omitted).")
    ] = None,
    password_stdin: Annotated[
        bool,
        typer.Option("--password-stdin", help="Read the password from stdin, not a prompt."),
    ] = False,
    api_key: Annotated[
        str | None,
        typer.Option(
            "--api-key",
            help="Store this API key instead of logging in as a user ('-': read it from stdin).",
            show_default=False,
        ),
    ] = None,
    workspace: Annotated[
        str | None, typer.Option("--workspace", "-w", help="Workspace to act in (a user's).")
    ] = None,
    as_json: JsonOption = False,
    retry_for: RetryOption = RETRY_SECONDS,
) -> None:
    """Log in to a server and store the credential for the other commands.

    As a user, the login token is stored (it lasts 12 hours); with --api-key, the key. The file
    is in your config directory, readable by you only.
    """
    if password_stdin and username is None:
        raise typer.BadParameter("--password-stdin needs --username", param_hint="--username")
    policy = retry_policy(retry_for)
    try:
        server = credentials.normalize_url(url or credentials.default_url())
        if api_key is not None:
            secret = _stdin_line() if api_key == "-" else api_key
            with Client(server, api_key=secret, retry=policy) as client:
                me = client.me()
            stored = Login(server, secret, "api_key", me["workspace"], me["role"])
        else:
            name = username or typer.prompt("User name")
            password = (
                _stdin_line() if password_stdin else typer.prompt("Password", hide_input=True)
            )
            with Client(
                server, username=name, password=password, workspace=workspace, retry=policy
            ) as client:
                answer = client.log_in()
            stored = Login(
                server,
                str(answer["token"]),
                "token",
                answer["workspace"],
                answer["role"],
                username=name,
                expires_at=answer["expires_at"],
            )
        path = credentials.save(stored)
    except ClientError as exc:
        fail(exc)
    if as_json:
        print_json(
            {
                "url": stored.url,
                "kind": stored.kind,
                "username": stored.username,
                "workspace": stored.workspace,
                "role": stored.role,
                "expires_at": stored.expires_at,
                "config": str(path),
            }
        )
        return
    who = f"as {stored.username}" if stored.username else "with an API key"
    until = f" until {stored.expires_at}" if stored.expires_at else ""
    err.print(
        f"logged in to {stored.url} {who} (workspace {stored.workspace}, role {stored.role})"
        f"{until}; credential stored in {path}",
        highlight=False,
    )


def logout(
    url: LoginUrlOption = None,
    retry_for: RetryOption = RETRY_SECONDS,
) -> None:
    """Forget the credential stored for a server (a login token is also ended on the server)."""
    try:
        server = credentials.normalize_url(url or credentials.default_url())
        stored = credentials.stored_login(server)
    except ClientError as exc:
        fail(exc)
    if stored is None:
        err.print(f"not logged in to {server}")
        return
    if stored.kind == "token":
        try:
            with Client(server, api_key=stored.secret, retry=retry_policy(retry_for)) as client:
                client.log_out()
        except ClientError as exc:
            err.print(f"the server did not end the token ({exc}); it expires by itself")
    credentials.forget(server)
    err.print(f"logged out of {server}")


def _stdin_line() -> str:
    line = sys.stdin.readline().rstrip("\r\n")
    if not line:
        raise typer.BadParameter("nothing on stdin")
    return line
