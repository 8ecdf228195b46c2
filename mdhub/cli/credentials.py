"""Which server a command talks to and with which credential, and where `mdhub login` keeps it.

Precedence: the command's options (`--url`, `--api-key`), then the environment (`MDHUB_URL`,
`MDHUB_API_KEY`), then the login config: `credentials.json` in the user's config directory
(`$XDG_CONFIG_HOME/mdhub`, by default `~/.config/mdhub`), one credential per server URL and the
URL of the last login as the default server. A stored credential is only ever sent to the server
it was stored for. The file is written atomically, readable by its owner only (mode 0600).
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import typer

from mdhub.client.errors import ClientError

DEFAULT_URL = "http://127.0.0.1:8000"
FILE_NAME = "credentials.json"


class NotLoggedIn(ClientError):
    """No credential for the server: neither given nor stored by `mdhub login`."""


@dataclass(frozen=True)
class Login:
    """A stored credential: a user's login token or an API key, for one server."""

    url: str
    secret: str
    kind: str  # "token" or "api_key"
    workspace: str
    role: str
    username: str | None = None
    expires_at: str | None = None


@dataclass(frozen=True)
class Target:
    """The server a command talks to and the credential it sends; `stored` when it came from
    the login config."""

    url: str
    secret: str
    stored: bool


def config_file() -> Path:
    return Path(typer.get_app_dir("mdhub")) / FILE_NAME


def normalize_url(url: str) -> str:
    url = url.strip().rstrip("/")
    if not url.startswith(("http://", "https://")):
        raise typer.BadParameter(f"{url!r} is not an http:// or https:// URL", param_hint="--url")
    return url


def default_url() -> str:
    """The server of the last login, else the one `mdhub serve` listens on by default."""
    return str(_load().get("default") or DEFAULT_URL)


def resolve(url: str | None, api_key: str | None) -> Target:
    """The server and credential, from the options or environment (`url`, `api_key`, as typer
    read them) or else the login config."""
    config = _load()
    chosen = normalize_url(url or config.get("default") or DEFAULT_URL)
    if api_key:
        return Target(chosen, api_key, stored=False)
    stored = config["servers"].get(chosen)
    if stored is None:
        raise NotLoggedIn(
            f"no credential for {chosen}: run `mdhub login --url {chosen}`, "
            "or give an API key with --api-key or MDHUB_API_KEY"
        )
    return Target(chosen, str(stored["secret"]), stored=True)


def stored_login(url: str) -> Login | None:
    found = _load()["servers"].get(url)
    return Login(**found) if found else None


def save(login: Login) -> Path:
    """Store `login` for its server and make that server the default."""
    config = _load()
    config["servers"][login.url] = asdict(login)
    config["default"] = login.url
    return _write(config)


def forget(url: str) -> bool:
    """Remove the credential stored for `url`; whether there was one."""
    config = _load()
    if config["servers"].pop(url, None) is None:
        return False
    if config.get("default") == url:
        config["default"] = next(iter(config["servers"]), None)
    _write(config)
    return True


def _load() -> dict[str, Any]:
    try:
        config = json.loads(config_file().read_text())
    except FileNotFoundError:
        config = {}
    except ValueError as exc:
        raise NotLoggedIn(
            f"{config_file()} is damaged ({exc}): remove it and log in again"
        ) from None
    return {"default": config.get("default"), "servers": dict(config.get("servers") or {})}


def _write(config: dict[str, Any]) -> Path:
    path = config_file()
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}.part")
    partial.unlink(missing_ok=True)
    # Created with mode 0600 from the start: the secret is never readable by others.
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(descriptor, "w") as out:
            json.dump(config, out, indent=2)
            out.write("\n")
            out.flush()
            os.fsync(out.fileno())
        partial.replace(path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return path
