"""`mdhub` run as a user runs it, for acceptance tests: a subprocess with its own config
directory and no inherited MDHUB_* variables; the server and key come from `env` or options."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.acceptance.server import Server

RUN_SECONDS = 120

# For tests of the command line itself (options, credentials, exit codes, retries, terminal
# output, the guides' recipes), which the database behind the server does not change: they run
# on SQLite only.
CLI_ONLY = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


class Cli:
    """Runs `python -m mdhub …` with `env` (MDHUB_URL, MDHUB_API_KEY…) in `cwd`."""

    def __init__(self, home: Path, **env: str) -> None:
        self.home = home
        self.cwd = home / "work"
        self.cwd.mkdir(parents=True, exist_ok=True)
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("MDHUB_")}
        self.env |= {"XDG_CONFIG_HOME": str(home / "config"), "COLUMNS": "200", **env}

    @property
    def config_file(self) -> Path:
        return self.home / "config" / "mdhub" / "credentials.json"

    def __call__(
        self, *args: str, stdin: str | None = None, **env: str
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "mdhub", *args],
            env={**self.env, **env},
            cwd=self.cwd,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=RUN_SECONDS,
        )

    def ok(self, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        run = self(*args, **env)
        assert run.returncode == 0, f"exit {run.returncode}\n{run.stdout}\n{run.stderr}"
        return run

    def json(self, *args: str, **env: str) -> Any:
        return json.loads(self.ok(*args, "--json", **env).stdout)

    def start(self, *args: str) -> Running:
        """Start a command without waiting for it; its output goes to files."""
        return Running(self, args)


class Running:
    """A command started in the background, its stdout and stderr written to files."""

    def __init__(self, cli: Cli, args: tuple[str, ...]) -> None:
        self.stdout_path = cli.home / "stdout.txt"
        self.stderr_path = cli.home / "stderr.txt"
        with self.stdout_path.open("wb") as out, self.stderr_path.open("wb") as err:
            self.popen = subprocess.Popen(
                [sys.executable, "-m", "mdhub", *args],
                env=cli.env,
                cwd=cli.cwd,
                stdout=out,
                stderr=err,
            )

    def wait_for(self, text: str, timeout: float = 60) -> None:
        """Poll stderr until it shows `text` (fail if the command ends first)."""
        deadline = time.monotonic() + timeout
        while text not in self.stderr_path.read_text():
            assert self.popen.poll() is None, f"ended before {text!r}: {self.output()}"
            assert time.monotonic() < deadline, f"no {text!r} in {timeout} s: {self.output()}"
            time.sleep(0.05)

    def finish(self, timeout: float = RUN_SECONDS) -> tuple[int, str, str]:
        """Wait for the end: exit code, stdout, stderr."""
        try:
            code = self.popen.wait(timeout=timeout)
        finally:
            if self.popen.poll() is None:
                self.popen.kill()
                self.popen.wait()
        return code, self.stdout_path.read_text(), self.stderr_path.read_text()

    def output(self) -> str:
        return f"{self.stdout_path.read_text()}\n{self.stderr_path.read_text()}"


def api_key(server: Server, role: str = "writer") -> str:
    """A new API key of the default workspace, made by the admin."""
    name = f"cli-{role}-{uuid.uuid4().hex[:8]}"
    with server.client() as http:
        answer = http.post("/api/v1/api-keys", json={"name": name, "role": role})
        assert answer.status_code == 201, answer.text
        return str(answer.json()["key"])


def write_items(path: Path, ids: range, name: str = "item") -> Path:
    """A CSV of `id,name,qty` rows."""
    lines = ["id,name,qty", *(f"k{i:06d},{name} {i},{i}" for i in ids)]
    path.write_text("\n".join(lines) + "\n")
    return path


def statistics(text: str) -> dict[str, int]:
    """The statistics table of a job's summary, as printed, read back into numbers."""
    lines = text.splitlines()
    for at, line in enumerate(lines):
        names = [cell.strip() for cell in re.split("[┃│]", line)[1:-1]]
        if names[:2] == ["read", "inserted"]:
            row = next(line for line in lines[at + 1 :] if "│" in line)
            values = [int(cell.strip().replace(",", "")) for cell in row.split("│")[1:-1]]
            return dict(zip(names, values, strict=True))
    raise AssertionError(f"no statistics table in:\n{text}")
