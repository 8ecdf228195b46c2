"""Where `mdhub login` keeps credentials, and which server and credential a command uses."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
import typer

from mdhub.cli import credentials
from mdhub.cli.credentials import Login, NotLoggedIn, Target

A = "http://a.example:8000"
B = "https://b.example"


@pytest.fixture(autouse=True)
def config_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    return tmp_path / "config"


def login(url: str, secret: str, kind: str = "token") -> Login:
    return Login(url, secret, kind, "default", "writer", username="alice")


def test_the_file_is_readable_by_its_owner_only(config_home: Path) -> None:
    path = credentials.save(login(A, "t-a"))
    assert path == config_home / "mdhub" / "credentials.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    credentials.save(login(B, "t-b"))
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in path.parent.iterdir()] == ["credentials.json"]


def test_the_last_login_is_the_default_server() -> None:
    credentials.save(login(A, "t-a"))
    credentials.save(login(B, "t-b"))
    assert credentials.resolve(None, None) == Target(B, "t-b", stored=True)
    assert credentials.resolve(A + "/", None) == Target(A, "t-a", stored=True)


def test_a_given_key_wins_over_the_stored_login() -> None:
    credentials.save(login(A, "t-a"))
    assert credentials.resolve(None, "mdk_given") == Target(A, "mdk_given", stored=False)
    assert credentials.resolve(B, "mdk_given") == Target(B, "mdk_given", stored=False)


def test_a_stored_credential_goes_only_to_its_own_server() -> None:
    credentials.save(login(A, "t-a"))
    with pytest.raises(NotLoggedIn, match=f"mdhub login --url {B}"):
        credentials.resolve(B, None)


def test_nothing_stored_and_nothing_given_is_not_logged_in() -> None:
    with pytest.raises(NotLoggedIn, match=credentials.DEFAULT_URL):
        credentials.resolve(None, None)
    assert credentials.default_url() == credentials.DEFAULT_URL


def test_forget_removes_one_server_and_moves_the_default() -> None:
    credentials.save(login(A, "t-a"))
    credentials.save(login(B, "k-b", "api_key"))
    assert credentials.forget(B)
    assert not credentials.forget(B)
    assert credentials.stored_login(B) is None
    assert credentials.default_url() == A
    assert credentials.stored_login(A) == login(A, "t-a")


def test_a_damaged_file_says_what_to_do(config_home: Path) -> None:
    (config_home / "mdhub").mkdir(parents=True)
    (config_home / "mdhub" / "credentials.json").write_text("{not json")
    with pytest.raises(NotLoggedIn, match="remove it and log in again"):
        credentials.resolve(A, None)


@pytest.mark.parametrize("url", ["b.example", "ftp://b.example"])
def test_a_url_without_http_is_a_usage_error(url: str) -> None:
    with pytest.raises(typer.BadParameter):
        credentials.resolve(url, "mdk_given")
