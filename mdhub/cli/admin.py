"""`mdhub admin`: users and API keys, straight on the configured database (first setup, and
getting back in after a lock-out), through the accounts service.

The services are imported by each command, so that the commands that talk to a server start
without loading the database layer.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Column, Table

from mdhub.cli.common import DatabaseOption, DataDirOption, JsonOption, err, fail, open_hub
from mdhub.errors import MdhubError

admin_app: typer.Typer = typer.Typer(
    help="Manage users and API keys directly on the database (no server needed).",
    no_args_is_help=True,
)
out = Console()
DEFAULT_WORKSPACE = "default"

WorkspaceOption = Annotated[
    str, typer.Option("--workspace", "-w", help="Workspace the user or key belongs to.")
]
PasswordOption = Annotated[
    str | None,
    typer.Option(
        "--password",
        help="The password (asked for, hidden, when omitted; on the command line it is visible "
        "to other local users).",
        show_default=False,
    ),
]


def _password(given: str | None) -> str:
    if given is not None:
        return given
    return str(typer.prompt("Password", hide_input=True, confirmation_prompt=True))


def _print_json(value: Any) -> None:
    typer.echo(json.dumps(value, indent=2))


def _minute(value: str | None, missing: str = "") -> str:
    """A stored ISO time (always UTC) to the minute, for tables."""
    return datetime.fromisoformat(value).strftime("%Y-%m-%d %H:%M") if value else missing


@admin_app.command("create-user")
def create_user(
    username: Annotated[str, typer.Argument(help="The new user's name.")],
    password: PasswordOption = None,
    role: Annotated[str, typer.Option(help="reader, writer or admin.")] = "reader",
    workspace: WorkspaceOption = DEFAULT_WORKSPACE,
    instance_admin: Annotated[
        bool,
        typer.Option("--instance-admin", help="May see and create every workspace."),
    ] = False,
    database_url: DatabaseOption = None,
    data_dir: DataDirOption = None,
) -> None:
    """Create a user with a role in a workspace."""
    from mdhub.services import accounts

    with open_hub(database_url, data_dir) as hub:
        secret = _password(password)
        try:
            accounts.create_user(
                hub.dbs,
                username,
                secret,
                workspace=workspace,
                role=role,
                instance_admin=instance_admin,
            )
        except MdhubError as exc:
            fail(exc)
    extra = " and instance admin" if instance_admin else ""
    err.print(
        f"user '{username}' created: {role} of workspace '{workspace}'{extra}", soft_wrap=True
    )


@admin_app.command("reset-password")
def reset_password(
    username: Annotated[str, typer.Argument(help="Whose password to set.")],
    password: PasswordOption = None,
    database_url: DatabaseOption = None,
    data_dir: DataDirOption = None,
) -> None:
    """Set a user's password and revoke all their login tokens."""
    from mdhub.services import accounts

    with open_hub(database_url, data_dir) as hub:
        secret = _password(password)
        try:
            accounts.set_password(hub.dbs, username, secret)
        except MdhubError as exc:
            fail(exc)
    err.print(
        f"password of '{username}' changed; all their login tokens were revoked",
        soft_wrap=True,
    )


@admin_app.command("create-key")
def create_key(
    name: Annotated[str, typer.Argument(help="A name saying what the key is for.")],
    role: Annotated[str, typer.Option(help="reader, writer or admin.")] = "writer",
    workspace: WorkspaceOption = DEFAULT_WORKSPACE,
    expires_in_days: Annotated[
        int | None,
        typer.Option(
            "--expires-in-days", min=1, help="Days until the key expires (default: never)."
        ),
    ] = None,
    as_json: JsonOption = False,
    database_url: DatabaseOption = None,
    data_dir: DataDirOption = None,
) -> None:
    """Create an API key and print it: it is shown this once only."""
    from mdhub.services import api_keys

    expires_at = (
        datetime.now(UTC) + timedelta(days=expires_in_days) if expires_in_days is not None else None
    )
    with open_hub(database_url, data_dir) as hub:
        try:
            key = api_keys.create_key(hub.dbs, workspace, name, role, expires_at=expires_at)
        except MdhubError as exc:
            fail(exc)
    # The secret goes alone to stdout so that scripts can capture it; the rest goes to stderr.
    if as_json:
        _print_json(key)
    else:
        typer.echo(key["key"])
    err.print(
        f"API key {key['id']} '{key['name']}' (prefix {key['prefix']}), {key['role']} of "
        f"workspace '{workspace}', expires {key['expires_at'] or 'never'}",
        soft_wrap=True,
    )
    err.print("[bold yellow]Store this key now: it cannot be shown again.[/]", soft_wrap=True)


@admin_app.command("revoke-key")
def revoke_key(
    key_id: Annotated[int, typer.Argument(help="The key's id (see `mdhub admin list-keys`).")],
    workspace: WorkspaceOption = DEFAULT_WORKSPACE,
    database_url: DatabaseOption = None,
    data_dir: DataDirOption = None,
) -> None:
    """Revoke an API key: requests made with it are refused from now on."""
    from mdhub.services import api_keys

    with open_hub(database_url, data_dir) as hub:
        try:
            api_keys.revoke_key(hub.dbs, workspace, key_id)
        except MdhubError as exc:
            fail(exc)
    err.print(f"API key {key_id} revoked")


@admin_app.command("list-keys")
def list_keys(
    workspace: WorkspaceOption = DEFAULT_WORKSPACE,
    as_json: JsonOption = False,
    database_url: DatabaseOption = None,
    data_dir: DataDirOption = None,
) -> None:
    """List a workspace's API keys (their prefixes; the secrets are never stored)."""
    from mdhub.core.security import VISIBLE_KEY_CHARS
    from mdhub.services import api_keys

    with open_hub(database_url, data_dir) as hub:
        try:
            keys = api_keys.list_keys(hub.dbs, workspace)
        except MdhubError as exc:
            fail(exc)
    if as_json:
        _print_json(keys)
        return
    table = Table(
        Column("id", no_wrap=True),
        Column("name", overflow="fold"),
        Column("prefix", no_wrap=True, min_width=VISIBLE_KEY_CHARS),
        "role",
        Column("created", overflow="fold"),
        Column("expires", overflow="fold"),
        Column("last used", overflow="fold"),
        "revoked",
        caption="times in UTC",
    )
    for k in keys:
        table.add_row(
            str(k["id"]),
            k["name"],
            k["prefix"],
            k["role"],
            _minute(k["created_at"]),
            _minute(k["expires_at"], "never"),
            _minute(k["last_used_at"], "never"),
            "yes" if k["revoked"] else "no",
        )
    out.print(table)


@admin_app.command("list-users")
def list_users(
    workspace: WorkspaceOption = DEFAULT_WORKSPACE,
    as_json: JsonOption = False,
    database_url: DatabaseOption = None,
    data_dir: DataDirOption = None,
) -> None:
    """List the users of a workspace with their roles."""
    from mdhub.services import accounts

    with open_hub(database_url, data_dir) as hub:
        try:
            members = accounts.list_members(hub.dbs, workspace)
        except MdhubError as exc:
            fail(exc)
    if as_json:
        _print_json(members)
        return
    table = Table("user", "role", "created", caption="times in UTC")
    for m in members:
        table.add_row(m["username"], m["role"], _minute(m["created_at"]))
    out.print(table)
