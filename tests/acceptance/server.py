"""Real mdhub processes for acceptance tests: `mdhub serve` on a free port and `mdhub worker`,
configured by environment variables, each writing its own log file. The first server creates
the user `admin` with ADMIN_PASSWORD; `Server.client()` is logged in as that user."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

READY_SECONDS = 60.0
STOP_SECONDS = 15.0
POLL_SECONDS = 0.05
LOG_TAIL_CHARS = 20_000
ADMIN_PASSWORD = "acceptance-admin"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class MdhubProcess:
    """One `python -m mdhub ...` subprocess whose stdout and stderr go to `log_path`."""

    def __init__(self, name: str, args: list[str], env: dict[str, str], log_path: Path) -> None:
        self.name = name
        self.log_path = log_path
        with log_path.open("wb") as out:
            self.popen = subprocess.Popen(
                [sys.executable, "-m", "mdhub", *args],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def fail(self, message: str) -> None:
        """Fail the test with `message` and the tail of this process's log."""
        pytest.fail(f"{message}\n--- {self.name} log ---\n{self.log_text()[-LOG_TAIL_CHARS:]}")

    def wait_for_log(self, text: str, timeout: float = READY_SECONDS) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.log_text():
            if not self.alive():
                self.fail(f"{self.name} exited ({self.popen.returncode}) before logging {text!r}")
            if time.monotonic() > deadline:
                self.fail(f"{self.name} did not log {text!r} within {timeout} s")
            time.sleep(POLL_SECONDS)

    def kill(self) -> None:
        """SIGKILL: no cleanup, no graceful shutdown — a crash."""
        if self.alive():
            self.popen.send_signal(signal.SIGKILL)
        self.popen.wait(timeout=STOP_SECONDS)

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if it does not end in time."""
        if self.alive():
            self.popen.terminate()
            try:
                self.popen.wait(timeout=STOP_SECONDS)
            except subprocess.TimeoutExpired:
                self.kill()


class Server(MdhubProcess):
    """`mdhub serve` on its own port."""

    def __init__(
        self, name: str, env: dict[str, str], log_path: Path, port: int | None = None
    ) -> None:
        self.port = port or free_port()
        super().__init__(name, ["serve"], {**env, "MDHUB_PORT": str(self.port)}, log_path)
        self.url = f"http://127.0.0.1:{self.port}"
        self._token: str | None = None

    def login(self, username: str = "admin", password: str = ADMIN_PASSWORD) -> str:
        """A login token (POST /api/v1/auth/login)."""
        answer = httpx.post(
            f"{self.url}/api/v1/auth/login",
            json={"username": username, "password": password},
            timeout=30,
        )
        if answer.status_code != 200:
            self.fail(f"logging in as {username} failed: {answer.status_code} {answer.text}")
        return str(answer.json()["token"])

    def headers(self) -> dict[str, str]:
        """The headers of a request made as the admin (logged in once per server)."""
        if self._token is None:
            self._token = self.login()
        return {"Authorization": f"Bearer {self._token}"}

    def client(self, timeout: float = 30.0) -> httpx.Client:
        """A client logged in as the admin of the default workspace."""
        return httpx.Client(base_url=self.url, timeout=timeout, headers=self.headers())

    def wait_ready(self, timeout: float = READY_SECONDS) -> None:
        """Poll `/readyz` until it answers 200 (fail with the log at the deadline)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                if httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if not self.alive():
                self.fail(f"{self.name} exited with {self.popen.returncode} before it was ready")
            if time.monotonic() > deadline:
                self.fail(f"{self.name} was not ready within {timeout} s")
            time.sleep(POLL_SECONDS)


class Processes:
    """Starts mdhub processes on one database and one data directory; `close` ends them all."""

    def __init__(self, database_url: str, data_dir: Path) -> None:
        self.database_url = database_url
        self.data_dir = data_dir
        self.log_dir = data_dir.parent / "logs"
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.started: list[MdhubProcess] = []

    def env(self, **settings: str | int | float) -> dict[str, str]:
        """The environment of a new process: no inherited MDHUB_* variables, then ours."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("MDHUB_")}
        env.update(
            MDHUB_DATABASE_URL=self.database_url,
            MDHUB_DATA_DIR=str(self.data_dir),
            MDHUB_LOG_FORMAT="text",
            MDHUB_ADMIN_PASSWORD=ADMIN_PASSWORD,
        )
        env.update({f"MDHUB_{name.upper()}": str(value) for name, value in settings.items()})
        return env

    def _log_path(self, kind: str) -> tuple[str, Path]:
        name = f"{kind}-{len(self.started) + 1}"
        return name, self.log_dir / f"{name}.log"

    def serve(
        self, *, wait: bool = True, port: int | None = None, **settings: str | int | float
    ) -> Server:
        """Start `mdhub serve` (on `port`, or a free one) with `MDHUB_<NAME>=value` for each
        setting; wait until ready."""
        name, log_path = self._log_path("server")
        server = Server(name, self.env(**settings), log_path, port)
        self.started.append(server)
        if wait:
            server.wait_ready()
        return server

    def worker(self, *, wait: bool = True, **settings: str | int | float) -> MdhubProcess:
        """Start `mdhub worker`; wait until it polls the queue."""
        name, log_path = self._log_path("worker")
        worker = MdhubProcess(name, ["worker"], self.env(**settings), log_path)
        self.started.append(worker)
        if wait:
            worker.wait_for_log("worker started")
        return worker

    def close(self) -> None:
        for process in self.started:
            try:
                process.stop()
            except Exception:  # keep ending the others
                process.popen.kill()

    def logs(self) -> str:
        return "\n".join(
            f"--- {p.name} (pid {p.pid}) ---\n{p.log_text()[-LOG_TAIL_CHARS:]}"
            for p in self.started
        )
