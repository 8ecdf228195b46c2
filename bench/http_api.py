"""The HTTP side of the benchmark: the same scenarios through a real `mdhub serve` process.

Each phase starts its own server (`python -m mdhub serve`, one in-process worker, JSON logs)
on a free port, waits for `/readyz`, and stops it afterwards:

- setup (untimed): `POST /api/v1/datasets` with the schema and keys, then, when the scenario
  starts from the initial snapshot, upload it with `operation=insert` and wait for the job;
- run (timed): stream the scenario's file as multipart `file` to
  `POST /api/v1/datasets/vendors/jobs` with its `operation`, then poll `GET /api/v1/jobs/{id}`
  every 50 ms; the clock runs from the first byte sent to the response that shows the job
  `succeeded`. Starting and stopping the server are not timed.

The server's peak RSS is that of its process tree, sampled every 100 ms while it runs, or its
own VmHWM if larger (bench.memory); the client's is reported apart.

Setup logs in as the user `admin`, whom the first start creates with ADMIN_PASSWORD
(`MDHUB_ADMIN_PASSWORD`), and makes a writer API key that it leaves in the data directory
(KEY_FILE); the timed run sends that key. (A login verifies a password with argon2, which
takes 64 MiB for a moment: it would count in the measured server's peak RSS.)

On PostgreSQL the server works in a database of its own next to the engine's
(`<name>_http`, see `companion_url`), so the two never share a metadata store; on SQLite in the
files of its own data directory.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy.engine import make_url

from bench import memory

DATASET = "vendors"  # as bench.engine
KEYS = ["vendor_id"]
HOST = "127.0.0.1"
COMPANION_SUFFIX = "_http"
FINAL_STATUSES = ("succeeded", "failed", "cancelled")
POLL_SECONDS = 0.05
RSS_SAMPLE_SECONDS = 0.1
READY_TIMEOUT_SECONDS = 60.0
STOP_TIMEOUT_SECONDS = 30.0
MAX_UPLOAD_BYTES = 1 << 40
LOG_TAIL_LINES = 15
ADMIN_USER = "admin"
ADMIN_PASSWORD = "mdhub-bench-admin"
KEY_FILE = "bench-api-key"  # the writer's, which the timed uploads send
# The keys setup makes, by role, and the files it leaves them in (the read scenarios read as a
# reader and create their index as an admin).
KEY_FILES = {"writer": KEY_FILE, "reader": "bench-reader-key", "admin": "bench-admin-key"}


@dataclass(frozen=True)
class HttpRun:
    """The outcome of one timed upload and wait."""

    seconds: float
    upload_seconds: float  # of `seconds`: until the 202 answered the upload
    status: str
    statistics: dict[str, Any] | None
    server_peak_rss_mb: float
    client_peak_rss_mb: float
    version: Any = None
    error: str | None = None


def companion_url(url: str, suffix: str = COMPANION_SUFFIX) -> str:
    """The SQLAlchemy URL of database `<name><suffix>` on the same server as `url`."""
    parsed = make_url(url)
    if not parsed.database:
        raise ValueError(f"the URL names no database: {url}")
    return parsed.set(database=parsed.database + suffix).render_as_string(hide_password=False)


def database_url(backend: str, pg_url: str, data_dir: Path) -> str:
    """The server's MDHUB_DATABASE_URL: the companion PostgreSQL database or a SQLite file."""
    if backend == "postgres":
        return companion_url(pg_url)
    return f"sqlite:///{data_dir.resolve() / 'mdhub.db'}"


def server_env(
    base: Mapping[str, str], *, database_url: str, data_dir: Path, port: int
) -> dict[str, str]:
    """The server's environment: `base` without any MDHUB_* setting, plus the benchmark's."""
    env = {k: v for k, v in base.items() if not k.startswith("MDHUB_")}
    env.update(
        {
            "MDHUB_DATABASE_URL": database_url,
            "MDHUB_DATA_DIR": str(data_dir),
            "MDHUB_HOST": HOST,
            "MDHUB_PORT": str(port),
            "MDHUB_WORKERS": "1",
            "MDHUB_LOG_FORMAT": "json",
            "MDHUB_MAX_UPLOAD_BYTES": str(MAX_UPLOAD_BYTES),
            "MDHUB_ADMIN_PASSWORD": ADMIN_PASSWORD,
        }
    )
    return env


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    """A running `mdhub serve` child."""

    proc: subprocess.Popen[bytes]
    base_url: str
    log_path: Path

    def log_tail(self, lines: int = LOG_TAIL_LINES) -> list[str]:
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return []
        return text.splitlines()[-lines:]


@contextmanager
def serve(
    database_url: str, data_dir: Path, log_path: Path, *, processes: int = 1
) -> Iterator[Server]:
    """Start a server (of `processes` processes) on `database_url` and `data_dir`, wait until
    `/readyz` answers 200, stop it on exit (its log's tail goes to stderr when the block
    raised)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    env = server_env(os.environ, database_url=database_url, data_dir=data_dir, port=port)
    env["MDHUB_PROCESSES"] = str(processes)
    with log_path.open("ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "mdhub", "serve"],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    server = Server(proc, f"http://{HOST}:{port}", log_path)
    try:
        _wait_ready(server)
        yield server
    except BaseException:
        tail = server.log_tail()
        print("\n".join(f"server | {line}" for line in tail), file=sys.stderr, flush=True)
        raise
    finally:
        _stop(proc)


def _wait_ready(server: Server) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    last = "no answer"
    while time.monotonic() < deadline:
        if server.proc.poll() is not None:
            raise RuntimeError(f"the server exited with code {server.proc.returncode}")
        try:
            answer = httpx.get(f"{server.base_url}/readyz", timeout=2)
            if answer.status_code == 200:
                return
            last = f"{answer.status_code} {answer.text[:200]}"
        except httpx.TransportError as exc:
            last = f"{type(exc).__name__}: {exc}"
        time.sleep(0.1)
    raise RuntimeError(f"the server was not ready within {READY_TIMEOUT_SECONDS:.0f} s: {last}")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM (uvicorn shuts down gracefully), then SIGKILL after STOP_TIMEOUT_SECONDS."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class RssSampler:
    """The peak RSS of a process tree, sampled by a background thread; `stop` also reads the
    root's VmHWM (call it while the process still runs). `largest_kb` is the peak of its
    largest process (with several server processes, what each of them needs)."""

    def __init__(self, pid: int, interval: float = RSS_SAMPLE_SECONDS) -> None:
        self.pid = pid
        self.interval = interval
        self.peak_kb = 0
        self.largest_kb = 0
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._sample, name="rss-sampler", daemon=True)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _sample(self) -> None:
        while True:
            self.peak_kb = max(self.peak_kb, memory.tree_rss_kb(self.pid))
            self.largest_kb = max(self.largest_kb, memory.largest_rss_kb(self.pid))
            if self._stopped.wait(self.interval):
                return

    def stop(self) -> float:
        """Stop sampling; the peak in MiB."""
        if not self._stopped.is_set():
            self._stopped.set()
            self._thread.join()
            self.peak_kb = max(self.peak_kb, memory.tree_rss_kb(self.pid), memory.peak_kb(self.pid))
            self.largest_kb = max(self.largest_kb, memory.peak_kb(self.pid))
        return self.peak_kb / 1024

    def stop_largest(self) -> float:
        """Stop sampling; the peak of the largest process in MiB."""
        self.stop()
        return self.largest_kb / 1024


def _answer(response: httpx.Response, what: str) -> dict[str, Any]:
    if response.is_error:
        raise RuntimeError(f"{what}: HTTP {response.status_code}: {response.text[:1000]}")
    body: dict[str, Any] = response.json()
    return body


def submit(client: httpx.Client, path: Path, operation: str) -> dict[str, Any]:
    """Stream `path` as the multipart `file` of a new job; the job as answered (202)."""
    with path.open("rb") as f:  # httpx reads the file object in 64 KiB chunks as it sends
        response = client.post(
            f"/api/v1/datasets/{DATASET}/jobs",
            data={"operation": operation},
            files={"file": (path.name, f, "text/csv")},
        )
    return _answer(response, f"uploading {path.name}")


def wait(client: httpx.Client, job_id: int, *, timeout: float) -> dict[str, Any]:
    """Poll the job every POLL_SECONDS until it is final; the final job."""
    deadline = time.monotonic() + timeout
    while True:
        job = _answer(client.get(f"/api/v1/jobs/{job_id}"), f"reading job {job_id}")
        if job["status"] in FINAL_STATUSES:
            return job
        if time.monotonic() > deadline:
            raise RuntimeError(f"job {job_id} still {job['status']!r} after {timeout:.0f} s")
        time.sleep(POLL_SECONDS)


def _error_of(job: Mapping[str, Any]) -> str | None:
    return str(job.get("error") or job.get("errors") or "")[:2000] or None


def http_client(server: Server, timeout: float, headers: Mapping[str, str]) -> httpx.Client:
    return httpx.Client(
        base_url=server.base_url, timeout=httpx.Timeout(timeout, connect=10), headers=headers
    )


def _admin_headers(server: Server) -> dict[str, str]:
    """The headers of a request as the admin (after a login)."""
    credentials = {"username": ADMIN_USER, "password": ADMIN_PASSWORD}
    login = _answer(httpx.post(f"{server.base_url}/api/v1/auth/login", json=credentials), "login")
    return {"Authorization": f"Bearer {login['token']}"}


def _make_keys(client: httpx.Client, data_dir: Path) -> None:
    """An API key per role of KEY_FILES for the timed runs, each kept in its file in
    `data_dir` (readable by its owner only)."""
    for role, name in KEY_FILES.items():
        created = _answer(
            client.post("/api/v1/api-keys", json={"name": f"bench-{role}", "role": role}),
            f"creating a {role} API key",
        )
        path = data_dir / name
        path.touch(mode=0o600)
        path.write_text(created["key"], encoding="utf-8")


def key_headers(data_dir: Path, role: str = "writer") -> dict[str, str]:
    """The headers of a request with the `role` API key that setup made."""
    try:
        key = (data_dir / KEY_FILES[role]).read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        raise RuntimeError(f"no API key in {data_dir}: run the setup phase first") from None
    return {"X-API-Key": key}


def setup(
    url: str,
    data_dir: Path,
    schema: Mapping[str, Any],
    initial_csv: Path | None,
    *,
    timeout: float,
) -> None:
    """Untimed: create the dataset and, when `initial_csv` is given, load it (`insert`)."""
    log = data_dir.parent / f"{data_dir.name}-setup.log"
    with (
        serve(url, data_dir, log) as server,
        http_client(server, timeout, _admin_headers(server)) as client,
    ):
        _make_keys(client, data_dir)
        created = client.post(
            "/api/v1/datasets", json={"name": DATASET, "schema": schema, "keys": KEYS}
        )
        _answer(created, "creating the dataset")
        if initial_csv is None:
            return
        job = wait(client, submit(client, initial_csv, "insert")["id"], timeout=timeout)
        if job["status"] != "succeeded":
            raise RuntimeError(f"loading the initial rows: {job['status']}: {_error_of(job)}")


def run(url: str, data_dir: Path, csv_path: Path, operation: str, *, timeout: float) -> HttpRun:
    """Timed: upload `csv_path` with `operation` to a fresh server, then wait for the job."""
    log = data_dir.parent / f"{data_dir.name}-run.log"
    with (
        serve(url, data_dir, log) as server,
        RssSampler(server.proc.pid) as sampler,
        http_client(server, timeout, key_headers(data_dir)) as client,
    ):
        started = time.perf_counter()
        submitted = submit(client, csv_path, operation)
        uploaded = time.perf_counter()
        job = wait(client, submitted["id"], timeout=timeout)
        seconds = time.perf_counter() - started
        server_peak_mb = sampler.stop()  # while the server still runs: its VmHWM counts
    status = str(job["status"])
    return HttpRun(
        seconds=seconds,
        upload_seconds=uploaded - started,
        status=status,
        statistics=dict(job["statistics"]),
        server_peak_rss_mb=server_peak_mb,
        client_peak_rss_mb=memory.peak_kb("self") / 1024,
        version=job.get("version"),
        error=None if status == "succeeded" else _error_of(job),
    )
