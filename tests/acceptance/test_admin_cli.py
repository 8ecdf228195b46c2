"""`mdhub admin` as an operator runs it: real processes on SQLite and PostgreSQL, checked through
the accounts service."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator

import pytest

from mdhub.db.engine import Databases, open_databases
from mdhub.errors import Unauthorized
from mdhub.services import accounts, api_keys, sessions

PASSWORD = "correct horse"
NEW_PASSWORD = "battery staple"


@pytest.fixture
def dbs(database_url: str) -> Iterator[Databases]:
    opened = open_databases(database_url)
    try:
        yield opened
    finally:
        opened.dispose()


@pytest.fixture
def admin(database_url: str) -> Admin:
    return Admin(database_url)


class Admin:
    """Runs `mdhub admin …` on one database."""

    def __init__(self, database_url: str) -> None:
        self.database_url = database_url

    def __call__(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "COLUMNS": "200"}
        env.pop("MDHUB_DATA_DIR", None)
        env.pop("MDHUB_DATABASE_URL", None)
        return subprocess.run(
            [sys.executable, "-m", "mdhub", "admin", *args, "--database-url", self.database_url],
            env=env,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=120,
            # No controlling terminal: a password prompt reads stdin rather than /dev/tty.
            start_new_session=True,
        )

    def ok(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        run = self(*args, stdin=stdin)
        assert run.returncode == 0, run.stderr
        return run


def test_create_user_can_log_in(admin: Admin, dbs: Databases) -> None:
    run = admin.ok("create-user", "alice", "--password", PASSWORD, "--role", "writer")
    assert "alice" in run.stderr and PASSWORD not in run.stdout + run.stderr

    token = sessions.login(dbs, "alice", PASSWORD)["token"]
    principal = sessions.authenticate(dbs, token)
    assert (principal.username, principal.role, principal.workspace) == (
        "alice",
        "writer",
        "default",
    )
    assert not principal.instance_admin

    users = json.loads(admin.ok("list-users", "--json").stdout)
    assert [(u["username"], u["role"]) for u in users] == [("alice", "writer")]
    table = admin.ok("list-users").stdout
    assert "alice" in table and "writer" in table


def test_create_user_defaults_to_reader_and_can_be_instance_admin(
    admin: Admin, dbs: Databases
) -> None:
    admin.ok("create-user", "root", "--password", PASSWORD, "--instance-admin")
    principal = sessions.authenticate(dbs, sessions.login(dbs, "root", PASSWORD)["token"])
    assert principal.role == "reader" and principal.instance_admin


def test_password_prompt_reads_stdin_and_is_not_echoed(admin: Admin, dbs: Databases) -> None:
    run = admin.ok("create-user", "bob", "--role", "admin", stdin=f"{PASSWORD}\n{PASSWORD}\n")
    assert PASSWORD not in run.stdout + run.stderr
    assert sessions.login(dbs, "bob", PASSWORD)["role"] == "admin"


def test_mismatched_prompted_passwords_create_nobody(admin: Admin, dbs: Databases) -> None:
    run = admin("create-user", "bob", stdin=f"{PASSWORD}\n{NEW_PASSWORD}\n")
    assert run.returncode != 0
    assert accounts.list_members(dbs, "default") == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--password", "short"), "at least 8 characters"),
        (("--password", PASSWORD, "--role", "boss"), "unknown role 'boss'"),
        (("--password", PASSWORD, "--workspace", "nowhere"), "workspace 'nowhere' not found"),
    ],
)
def test_create_user_errors_exit_non_zero(
    admin: Admin, dbs: Databases, args: tuple[str, ...], message: str
) -> None:
    run = admin("create-user", "carol", *args)
    assert run.returncode != 0
    assert message in run.stderr
    assert accounts.list_members(dbs, "default") == []


def test_duplicate_user_exits_non_zero(admin: Admin) -> None:
    admin.ok("create-user", "alice", "--password", PASSWORD)
    run = admin("create-user", "alice", "--password", NEW_PASSWORD)
    assert run.returncode != 0
    assert "user 'alice' already exists" in run.stderr


def test_reset_password_replaces_the_old_one_and_revokes_tokens(
    admin: Admin, dbs: Databases
) -> None:
    admin.ok("create-user", "alice", "--password", PASSWORD)
    token = sessions.login(dbs, "alice", PASSWORD)["token"]

    run = admin.ok("reset-password", "alice", "--password", NEW_PASSWORD)
    assert "revoked" in run.stderr and NEW_PASSWORD not in run.stdout + run.stderr

    with pytest.raises(Unauthorized):
        sessions.login(dbs, "alice", PASSWORD)
    with pytest.raises(Unauthorized):
        sessions.authenticate(dbs, token)
    assert sessions.login(dbs, "alice", NEW_PASSWORD)["workspace"] == "default"


def test_reset_password_by_prompt(admin: Admin, dbs: Databases) -> None:
    admin.ok("create-user", "alice", "--password", PASSWORD)
    admin.ok("reset-password", "alice", stdin=f"{NEW_PASSWORD}\n{NEW_PASSWORD}\n")
    assert sessions.login(dbs, "alice", NEW_PASSWORD)["token"]


def test_reset_password_errors_exit_non_zero(admin: Admin) -> None:
    run = admin("reset-password", "nobody", "--password", NEW_PASSWORD)
    assert run.returncode != 0 and "user 'nobody' not found" in run.stderr
    admin.ok("create-user", "alice", "--password", PASSWORD)
    run = admin("reset-password", "alice", "--password", "short")
    assert run.returncode != 0 and "at least 8 characters" in run.stderr


def test_create_key_prints_a_working_key_once(admin: Admin, dbs: Databases) -> None:
    run = admin.ok("create-key", "loader", "--role", "admin")
    secret = run.stdout.strip()
    assert run.stdout == f"{secret}\n" and secret.startswith("mdk_")
    assert "cannot be shown again" in run.stderr

    principal = sessions.authenticate(dbs, secret)
    assert (principal.role, principal.workspace) == ("admin", "default")
    [key] = api_keys.list_keys(dbs, "default")
    assert key["id"] == principal.key_id
    assert key["prefix"] in run.stderr and f"API key {key['id']}" in run.stderr
    assert key["expires_at"] is None


def test_create_key_defaults_to_writer_and_can_expire(admin: Admin, dbs: Databases) -> None:
    created = json.loads(
        admin.ok("create-key", "nightly", "--expires-in-days", "7", "--json").stdout
    )
    assert created["role"] == "writer" and created["expires_at"] is not None
    principal = sessions.authenticate(dbs, created["key"])
    assert principal.key_id == created["id"] and principal.role == "writer"


def test_create_key_errors_exit_non_zero(admin: Admin) -> None:
    run = admin("create-key", "loader", "--role", "boss")
    assert run.returncode != 0 and "unknown role 'boss'" in run.stderr
    run = admin("create-key", "loader", "--workspace", "nowhere")
    assert run.returncode != 0 and "workspace 'nowhere' not found" in run.stderr


def test_list_keys_shows_the_prefix_never_the_secret(admin: Admin) -> None:
    created = json.loads(admin.ok("create-key", "loader", "--json").stdout)

    table = admin.ok("list-keys").stdout
    assert created["prefix"] in table and "loader" in table and "writer" in table
    assert created["key"] not in table

    listed = admin.ok("list-keys", "--json").stdout
    assert created["key"] not in listed
    [key] = json.loads(listed)
    assert key == {k: v for k, v in created.items() if k != "key"}


def test_revoke_key_stops_it_working(admin: Admin, dbs: Databases) -> None:
    created = json.loads(admin.ok("create-key", "loader", "--json").stdout)
    sessions.authenticate(dbs, created["key"])

    run = admin.ok("revoke-key", str(created["id"]))
    assert f"API key {created['id']} revoked" in run.stderr
    with pytest.raises(Unauthorized):
        sessions.authenticate(dbs, created["key"])
    [key] = json.loads(admin.ok("list-keys", "--json").stdout)
    assert key["revoked"] is True

    again = admin("revoke-key", str(created["id"]))
    assert again.returncode != 0 and "not found" in again.stderr
