"""Haplo's batch import: the seed document's example script, run with sh and curl, changed only
in API_KEY, SERVER (https → http) and FILE_DIRECTORY, against a real server; the batch's job
and the dataset checked in mdhub's API."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx

from tests.acceptance.conftest import processes  # noqa: F401
from tests.acceptance.server import ADMIN_PASSWORD, POLL_SECONDS, Processes, Server

HERE = Path(__file__).parent / "haplo"
DEADLINE_SECONDS = 30.0
PEOPLE_SCHEMA = {
    "fields": [
        {"name": name, "type": "string"} for name in ("ref", "first_name", "last_name", "email")
    ],
    "primaryKey": ["ref"],
}
DRY_RUN = " -d mode=dry-run"


def api_key(http: httpx.Client, role: str, name: str) -> str:
    answer = http.post("/api/v1/api-keys", json={"name": name, "role": role})
    assert answer.status_code == 201, answer.text
    return str(answer.json()["key"])


def run_script(server: Server, key: str, files: Path, *, dry_run: bool) -> list[str]:
    """The document's script with this key, server and directory; its output lines."""
    script = (HERE / "example.sh").read_text()
    assert DRY_RUN in script
    script = (
        script.replace("API_KEY=API_KEY_GOES_HERE", f"API_KEY={key}")
        .replace("FILE_DIRECTORY=.", f"FILE_DIRECTORY={files}")
        .replace("SERVER=research.example.ac.uk", f"SERVER={server.url[7:]}/compat/haplo")
        .replace("https://${SERVER}", "http://${SERVER}")
    )
    if not dry_run:
        script = script.replace(DRY_RUN, "")
    done = subprocess.run(
        ["sh", "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    return done.stdout.splitlines()


def wait_job(http: httpx.Client, job_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + DEADLINE_SECONDS
    while True:
        job: dict[str, Any] = http.get(f"/api/v1/jobs/{job_id}").json()
        if job["status"] in ("succeeded", "failed", "cancelled"):
            return job
        assert time.monotonic() < deadline, job
        time.sleep(POLL_SECONDS)


def check_output(lines: list[str], files: Path) -> str:
    """The script printed the control digest, the batch id, the file digest and SCHEDULED;
    returns the batch id."""
    digest = hashlib.sha256((files / "control.json").read_bytes()).hexdigest()
    data_digest = hashlib.sha256((files / "data.json").read_bytes()).hexdigest()
    assert lines[0] == f"CONTROL DIGEST:  {digest}", lines
    assert lines[1].startswith("BATCH ID:  "), lines
    batch = lines[1].removeprefix("BATCH ID:  ")
    assert batch.isdecimal(), lines
    assert lines[2:] == [data_digest, "SCHEDULED"], lines
    return batch


def test_seed_script_dry_run_then_import(processes: Processes, tmp_path: Path) -> None:  # noqa: F811
    server = processes.serve()
    files = tmp_path / "import-files"
    shutil.copytree(HERE, files, ignore=shutil.ignore_patterns("*.sh"))
    with server.client() as http:
        key = api_key(http, "writer", "haplo-import")
        created = http.post("/api/v1/datasets", json={"name": "people", "schema": PEOPLE_SCHEMA})
        assert created.status_code == 201, created.text

        batch = check_output(run_script(server, key, files, dry_run=True), files)
        job = wait_job(http, batch)
        assert (job["status"], job["dry_run"]) == ("succeeded", True), job
        assert [(p["name"], p["dataset"], p["operation"]) for p in job["parts"]] == [
            ("data0", "people", "upsert")
        ]
        assert job["statistics"]["read"] == 3 and job["statistics"]["inserted"] == 3
        assert http.get("/api/v1/datasets/people").json()["row_count"] == 0
        assert http.post("/api/v1/datasets/people/find", json={}).json()["results"] == []

        second = check_output(run_script(server, key, files, dry_run=False), files)
        assert second != batch
        job = wait_job(http, second)
        assert (job["status"], job["dry_run"]) == ("succeeded", False), job
        assert job["statistics"]["inserted"] == 3
        rows = http.post("/api/v1/datasets/people/find", json={"sort": {"ref": 1}}).json()
        assert [(r["ref"], r["last_name"]) for r in rows["results"]] == [
            ("P001", "Lovelace"),
            ("P002", "Turing"),
            ("P003", "Hopper"),
        ]


def haplo_post(server: Server, step: str, key: str, **kwargs: Any) -> httpx.Response:
    return httpx.post(
        f"{server.url}/compat/haplo/api/haplo-data-import-batch/{step}",
        auth=("haplo", key),
        **kwargs,
    )


def test_control_files_roles_and_workspaces(processes: Processes) -> None:  # noqa: F811
    server = processes.serve()
    with server.client() as http:
        writer = api_key(http, "writer", "haplo-writer")
        reader = api_key(http, "reader", "haplo-reader")
        admin = api_key(http, "admin", "haplo-admin")
        assert http.post("/api/v1/workspaces", json={"name": "other"}).status_code == 201
    login = httpx.post(
        f"{server.url}/api/v1/auth/login",
        json={"username": "admin", "password": ADMIN_PASSWORD, "workspace": "other"},
    ).json()["token"]
    foreign = httpx.post(
        f"{server.url}/api/v1/api-keys",
        json={"name": "other-writer", "role": "writer"},
        headers={"Authorization": f"Bearer {login}"},
    ).json()["key"]

    def control(body: bytes, key: str = writer) -> httpx.Response:
        return haplo_post(server, "control", key, files={"file": ("control.json", body)})

    bad = control(b'{"files": {"data0": {"read": "xlsx", "dataset": "people"}}}')
    assert bad.status_code == 400 and "xlsx" in bad.text
    assert control(b"not json").status_code == 400
    assert control(b'{"files": {}, "extra": 1}').status_code == 400
    assert control(b"{}", key=reader).status_code == 403
    assert haplo_post(server, "control", "", files={"file": ("c", b"{}")}).status_code == 401

    # A missing dataset is created from the file's keys, by an admin only.
    spec = b'{"files": {"p": {"read": "tsv", "dataset": "staff", "keys": ["ref"]}}}'
    digest = control(spec).text
    assert haplo_post(server, "batch", writer, data={"control": digest}).status_code == 403
    assert haplo_post(server, "batch", foreign, data={"control": digest}).status_code == 403
    assert haplo_post(server, "batch", writer, data={"control": "0" * 64}).status_code == 404
    batch = haplo_post(server, "batch", admin, data={"control": digest})
    assert batch.status_code == 200 and batch.text.isdecimal(), batch.text

    tsv = b"ref\tname\nS1\tAda\n"
    upload = {"data": {"batch": batch.text, "name": "p"}, "files": {"file": ("s.tsv", tsv)}}
    assert haplo_post(server, "file", foreign, **upload).status_code == 404
    missing = {"data": {"batch": batch.text, "name": "q"}, "files": {"file": ("s.tsv", tsv)}}
    assert haplo_post(server, "file", writer, **missing).status_code == 404
    assert haplo_post(server, "schedule", writer, data={"batch": batch.text}).status_code == 409
    assert haplo_post(server, "file", writer, **upload).text == hashlib.sha256(tsv).hexdigest()
    assert haplo_post(server, "schedule", foreign, data={"batch": batch.text}).status_code == 404
    odd = haplo_post(server, "schedule", writer, data={"batch": batch.text, "mode": "later"})
    assert odd.status_code == 400
    assert haplo_post(server, "schedule", writer, data={"batch": batch.text}).text == "SCHEDULED"
    assert haplo_post(server, "schedule", writer, data={"batch": batch.text}).status_code == 409
    with server.client() as http:
        job = wait_job(http, batch.text)
        assert job["status"] == "succeeded", job
        record = http.get("/api/v1/datasets/staff/records/S1").json()
        assert record["name"] == "Ada"
