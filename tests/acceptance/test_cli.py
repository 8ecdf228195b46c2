"""The local commands (`apply` on the database, `serve`) as a user runs them: real processes,
real terminal output, exit codes."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from mdhub.config import Settings
from mdhub.services.hub import Hub
from tests.helpers import vendor, write_csv


def mdhub(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "MDHUB_DATA_DIR": str(data_dir), "COLUMNS": "200"}
    env.pop("MDHUB_DATABASE_URL", None)
    return subprocess.run(
        [sys.executable, "-m", "mdhub", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_apply_prints_statistics_and_exits_zero(tmp_path: Path) -> None:
    first = write_csv(tmp_path / "v1.csv", [vendor(i) for i in range(1, 4)])
    run = mdhub(tmp_path / "data", "apply", "vendors", str(first), "--keys", "id")
    assert run.returncode == 0, run.stderr
    assert "succeeded" in run.stdout
    assert "inserted" in run.stdout and "unchanged" in run.stdout
    assert "inferred from the first" in run.stdout

    second = write_csv(tmp_path / "v2.csv", [vendor(1), vendor(2, name="B"), vendor(4)])
    run = mdhub(tmp_path / "data", "apply", "vendors", str(second), "--json")
    assert run.returncode == 0, run.stderr
    job = json.loads(run.stdout)
    assert job["statistics"] == {
        "read": 3,
        "inserted": 1,
        "updated": 1,
        "unchanged": 1,
        "deleted": 0,
        "failed": 0,
    }
    assert job["version"] == 2


def test_rejected_input_exits_three_with_line_and_column(tmp_path: Path) -> None:
    first = write_csv(tmp_path / "v1.csv", [vendor(1)])
    assert mdhub(tmp_path / "data", "apply", "vendors", str(first), "--keys", "id").returncode == 0
    bad = write_csv(tmp_path / "bad.csv", [["V0009", "x", "not-a-number", 1, "true", ""]])
    run = mdhub(tmp_path / "data", "apply", "vendors", str(bad))
    assert run.returncode == 3
    assert "failed" in run.stdout
    assert "not-a-number" in run.stdout and "amount" in run.stdout
    with Hub.open(Settings(data_dir=tmp_path / "data")) as hub:
        assert hub.dataset("vendors").row_count == 1


def test_an_unreadable_file_is_rejected_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "latin.csv"
    path.write_bytes("id,name\nV1,Caf\xe9\n".encode("latin-1"))
    run = mdhub(tmp_path / "data", "apply", "things", str(path), "--keys", "id")
    assert run.returncode == 3
    assert "line 2" in run.stdout and "UTF-8" in run.stdout
    run = mdhub(
        tmp_path / "data", "apply", "things", str(path), "--keys", "id", "--encoding", "latin-1"
    )
    assert run.returncode == 0, run.stdout


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.slow
def test_serve_answers_health_checks_on_a_fresh_data_dir(tmp_path: Path) -> None:
    port = _free_port()
    env = {**os.environ, "MDHUB_DATA_DIR": str(tmp_path / "fresh"), "MDHUB_PORT": str(port)}
    env.pop("MDHUB_DATABASE_URL", None)
    log = tmp_path / "server.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "mdhub", "serve"], env=env, stdout=out, stderr=out
        )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                health = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    pytest.fail(f"the server did not answer within 60 s: {log.read_text()}")
                time.sleep(0.1)
        assert health.json() == {"status": "ok"}
        ready = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=5)
        assert ready.status_code == 200 and ready.json() == {"status": "ready"}
    finally:
        proc.terminate()
        proc.wait(timeout=30)
