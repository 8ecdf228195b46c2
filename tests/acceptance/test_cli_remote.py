"""The commands that talk to a server, run as a user runs them (subprocesses, their real output
and exit codes) against a real `mdhub serve`: login, datasets, push of every format and
operation, jobs, find, download and sync; a server restarted during a push; 429 and 503
injected by a proxy; and an exit code for each way a command ends."""

from __future__ import annotations

import gzip
import json
import os
import pty
import re
import select
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from tests.acceptance.cli import CLI_ONLY, Cli, api_key, statistics, write_items
from tests.acceptance.proxy import Fault, fault_proxy
from tests.acceptance.server import ADMIN_PASSWORD, Processes, Server, free_port

SCHEMA = {
    "fields": [
        {"name": "id", "type": "string"},
        {"name": "name", "type": "string"},
        {"name": "qty", "type": "integer"},
    ],
    "primaryKey": ["id"],
}
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07")


def user(server: Server, tmp_path: Path, role: str = "admin") -> Cli:
    """A user whose environment names the server and an API key with `role`."""
    return Cli(tmp_path / "user", MDHUB_URL=server.url, MDHUB_API_KEY=api_key(server, role))


def changed(job: dict[str, Any]) -> dict[str, int]:
    return {name: count for name, count in job["statistics"].items() if count}


def ndjson(path: Path, *records: dict[str, Any]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def by_id(records: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {r["id"]: r for r in records}


@CLI_ONLY
def test_login_keeps_a_private_credential_and_options_and_environment_win(
    processes: Processes, tmp_path: Path
) -> None:
    server = processes.serve()
    cli = Cli(tmp_path / "user")
    login = ("login", "--url", server.url + "/", "-u", "admin", "--password-stdin")
    run = cli(*login, stdin=f"{ADMIN_PASSWORD}\n")
    assert run.returncode == 0, run.stderr
    assert f"logged in to {server.url} as admin" in run.stderr
    assert stat.S_IMODE(cli.config_file.stat().st_mode) == 0o600
    assert ADMIN_PASSWORD not in cli.config_file.read_text() + run.stdout + run.stderr

    assert cli.json("datasets", "create", "items", "--keys", "id")["keys"] == ["id"]
    assert [d["name"] for d in cli.json("datasets", "list")] == ["items"]

    key = api_key(server, "reader")
    refused = cli("datasets", "list", MDHUB_API_KEY="mdk_wrong")
    assert refused.returncode == 6 and "HTTP 401" in refused.stderr
    cli.ok("datasets", "list", "--api-key", key, MDHUB_API_KEY="mdk_wrong")
    elsewhere = f"http://127.0.0.1:{free_port()}"
    unknown = cli("datasets", "list", MDHUB_URL=elsewhere)
    assert unknown.returncode == 6 and f"mdhub login --url {elsewhere}" in unknown.stderr

    wrong = cli("login", "-u", "admin", "--password-stdin", stdin="not the password\n")
    assert wrong.returncode == 6
    cli.ok("datasets", "list")  # the stored login is still the good one

    as_reader = cli("login", "--api-key", "-", stdin=f"{key}\n")
    assert as_reader.returncode == 0 and "role reader" in as_reader.stderr
    forbidden = cli("push", "items", str(write_items(cli.cwd / "a.csv", range(2))))
    assert forbidden.returncode == 6 and "HTTP 403" in forbidden.stderr

    cli.ok("logout")
    assert cli("datasets", "list").returncode == 6


@CLI_ONLY
def test_push_every_format_and_operation_then_read_it_back(
    processes: Processes, tmp_path: Path
) -> None:
    server = processes.serve()
    cli = user(server, tmp_path)
    (cli.cwd / "items.schema.json").write_text(json.dumps(SCHEMA))
    (cli.cwd / "log.schema.json").write_text(json.dumps({"fields": SCHEMA["fields"]}))
    cli.ok("datasets", "create", "items", "--schema", "items.schema.json")
    cli.ok("datasets", "create", "log", "--schema", "log.schema.json")

    first = cli.ok("push", "items", str(write_items(cli.cwd / "a.csv", range(3))))
    assert "job 1 succeeded" in first.stdout
    assert statistics(first.stdout) == dict(
        read=3, inserted=3, updated=0, unchanged=0, deleted=0, failed=0
    )

    def push(*args: str) -> dict[str, int]:
        return changed(cli.json("push", *args))

    renamed = {"id": "k000000", "name": "renamed", "qty": 0}
    ndjson(cli.cwd / "b.ndjson", renamed, {"id": "n1", "name": "new", "qty": 5})
    assert push("items", "b.ndjson") == {"read": 2, "inserted": 1, "updated": 1}
    (cli.cwd / "c.json").write_text(json.dumps([{"id": "n1", "name": "new", "qty": 6}]))
    assert push("items", "c.json", "-o", "update") == {"read": 1, "updated": 1}
    pq.write_table(pa.table({"id": ["p1"], "name": ["pq"], "qty": [7]}), cli.cwd / "d.parquet")
    assert push("items", "d.parquet", "--operation", "insert") == {"read": 1, "inserted": 1}
    (cli.cwd / "e.csv.gz").write_bytes(gzip.compress(b"id,name,qty\ng1,gz,8\n"))
    assert push("items", "e.csv.gz") == {"read": 1, "inserted": 1}
    (cli.cwd / "f.csv").write_bytes("id;name;qty\nl1;Café;9\n".encode("latin-1"))
    latin = push("items", "f.csv", "--encoding", "latin-1", "--delimiter", ";")
    assert latin == {"read": 1, "inserted": 1}
    ndjson(cli.cwd / "gone.ndjson", {"id": "p1"}, {"id": "k000002"})
    assert push("items", "gone.ndjson", "-o", "delete") == {"read": 2, "deleted": 2}
    dry = cli.json("push", "items", "a.csv", "-o", "overwrite", "--dry-run")
    assert dry["dry_run"] and changed(dry)["deleted"] == 3
    assert push("log", "a.csv", "-o", "append") == {"read": 3, "inserted": 3}

    records = by_id(cli.json("find", "items", "--limit", "0"))
    assert sorted(records) == ["g1", "k000000", "k000001", "l1", "n1"]
    assert records["l1"]["name"] == "Café" and records["n1"]["qty"] == 6
    query = ("-q", '{"qty": {"$gte": 1}}', "--sort", '{"qty": -1}', "--limit", "2")
    top = cli.json("find", "items", *query)
    assert [r["id"] for r in top] == ["l1", "g1"]
    assert "renamed" in cli.ok("find", "items", "-q", '{"id": "k000000"}').stdout

    replaced = cli.json("push", "items", "a.csv", "-o", "overwrite")
    assert changed(replaced) == dict(read=3, inserted=1, updated=1, unchanged=1, deleted=3)
    download = cli.json("download", "items", "-o", "items.csv")
    assert download["version"] == replaced["version"] == 8
    assert (cli.cwd / "items.csv").read_text().splitlines()[1:] == (
        (cli.cwd / "a.csv").read_text().splitlines()[1:]
    )
    cli.ok("download", "items", "-o", "items.ndjson.gz")
    lines = gzip.decompress((cli.cwd / "items.ndjson.gz").read_bytes()).splitlines()
    assert [json.loads(line)["id"] for line in lines] == ["k000000", "k000001", "k000002"]


@CLI_ONLY
def test_row_errors_exit_3_and_the_jobs_commands_show_them(
    processes: Processes, tmp_path: Path
) -> None:
    server = processes.serve()
    cli = user(server, tmp_path)
    cli.ok("push", "items", str(write_items(cli.cwd / "a.csv", range(2))), "--keys", "id")
    (cli.cwd / "bad.csv").write_text("id,name,qty\nk1,x,1\nk2,y,not-a-number\n")
    run = cli("push", "items", "bad.csv")
    assert run.returncode == 3
    assert "job 2 failed" in run.stdout and statistics(run.stdout)["failed"] == 1
    assert "not-a-number" in run.stdout and "row errors" in run.stdout

    assert cli.json("jobs", "errors", "2") == [
        {
            "part": "bad.csv",
            "line": 3,
            "column": "qty",
            "value": "not-a-number",
            "message": "'not-a-number' is not an integer",
        }
    ]
    assert cli.json("jobs", "show", "2")["error"]["code"] == "row_errors"
    assert [j["id"] for j in cli.json("jobs", "list", "--status", "failed")] == [2]
    assert [j["id"] for j in cli.json("jobs", "list", "--dataset", "items")] == [2, 1]
    assert "row error" in cli.ok("jobs", "log", "2").stdout
    listing = cli.ok("jobs", "list").stdout
    assert re.search(r"^ *2 +failed +items +upsert +2 +\+0 ~0 -0 ", listing, re.MULTILINE)
    assert re.search(r"^ *1 +succeeded +items +upsert +2 +\+2 ~0 -0 ", listing, re.MULTILINE)
    assert cli.json("datasets", "show", "items")["row_count"] == 2


@CLI_ONLY
def test_exit_codes_tell_a_cron_job_what_happened(processes: Processes, tmp_path: Path) -> None:
    server = processes.serve(workers=0)  # no worker: jobs wait in the queue
    cli = user(server, tmp_path)
    write_items(cli.cwd / "a.csv", range(5))

    late = cli("push", "items", "a.csv", "--keys", "id", "--timeout", "0.5")
    assert late.returncode == 5 and "mdhub jobs watch 1" in late.stderr
    accepted = cli.json("push", "items", "a.csv", "--no-wait")
    assert accepted["status"] == "queued"
    assert cli.ok("jobs", "cancel", str(accepted["id"])).stdout.strip() == "job 2 cancelled"
    cancelled = cli("jobs", "watch", str(accepted["id"]))
    assert cancelled.returncode == 1 and "job 2 cancelled" in cancelled.stdout
    assert cli("jobs", "watch", "1", "--timeout", "0.5").returncode == 5

    (cli.cwd / "empty.csv").write_text("")
    empty = cli("push", "items", "empty.csv")
    assert empty.returncode == 3 and "empty" in empty.stderr
    assert cli("push", "items").returncode == 2
    assert cli("push", "items", "missing.csv").returncode == 2
    assert cli("datasets", "show", "nothing").returncode == 4
    assert cli("jobs", "show", "999").returncode == 4
    assert cli("push", "items", "a.csv", MDHUB_API_KEY=api_key(server, "reader")).returncode == 6
    down = f"http://127.0.0.1:{free_port()}"
    unreachable = cli("datasets", "list", "--url", down, "--retry-for", "1")
    assert unreachable.returncode == 7 and f"cannot reach {down}" in unreachable.stderr
    with server.client() as http:
        statuses = [j["status"] for j in http.get("/api/v1/jobs").json()["results"]]
    assert statuses == ["cancelled", "queued"]


def test_a_push_waits_through_a_server_restart_and_applies_once(
    processes: Processes, tmp_path: Path
) -> None:
    server = processes.serve(workers=0, lease_seconds=2)
    cli = user(server, tmp_path)
    write_items(cli.cwd / "big.csv", range(50_000))
    push = cli.start("push", "items", "big.csv", "--keys", "id")
    push.wait_for("job 1 queued")  # the upload was accepted; the push now waits for the job
    server.kill()
    restarted = processes.serve(port=server.port, workers=1, lease_seconds=2)
    code, out, err = push.finish()
    assert code == 0, err
    assert "job 1 succeeded" in out
    assert statistics(out)["read"] == statistics(out)["inserted"] == 50_000
    with restarted.client() as http:
        jobs = http.get("/api/v1/jobs").json()["results"]
        dataset = http.get("/api/v1/datasets/items").json()
    assert [(j["id"], j["status"]) for j in jobs] == [(1, "succeeded")]
    assert (dataset["row_count"], dataset["version"]) == (50_000, 1)


@CLI_ONLY
def test_429_and_503_are_retried_with_one_idempotency_key(
    processes: Processes, tmp_path: Path
) -> None:
    server = processes.serve()
    key = api_key(server, "admin")
    with fault_proxy(server.url) as (proxy, url):
        proxy.faults += [
            Fault("POST", "/api/v1/datasets/items/jobs", 503, times=2),
            Fault("GET", "/api/v1/jobs/", 429, headers={"Retry-After": "1"}),
            Fault("GET", "/api/v1/datasets", 503, times=1000),
        ]
        cli = Cli(tmp_path / "user", MDHUB_URL=url, MDHUB_API_KEY=key)
        write_items(cli.cwd / "a.csv", range(10))
        job = cli.json("push", "items", "a.csv", "--keys", "id")
        assert job["status"] == "succeeded" and job["statistics"]["inserted"] == 10
        posts = [seen for seen in proxy.seen if seen[0] == "POST"]
        assert [status for _, _, status, _ in posts] == [503, 503, 202]
        assert len({sent for *_, sent in posts}) == 1 and posts[0][3]
        polls = [status for method, _, status, _ in proxy.seen if method == "GET"]
        assert polls[0] == 429 and polls[-1] == 200

        unavailable = cli("datasets", "list", "--retry-for", "2")
        assert unavailable.returncode == 7 and "HTTP 503" in unavailable.stderr
        assert len([s for s in proxy.seen if s[1] == "/api/v1/datasets"]) >= 2


def test_sync_follows_changes_and_starts_over_after_a_full_load(
    processes: Processes, tmp_path: Path
) -> None:
    server = processes.serve()
    cli = user(server, tmp_path)
    cli.ok("push", "items", str(write_items(cli.cwd / "a.csv", range(100))), "--keys", "id")

    def in_sync() -> None:
        lines = (cli.cwd / "copy" / "items.ndjson").read_text().splitlines()
        assert by_id([json.loads(line) for line in lines]) == by_id(
            cli.json("find", "items", "--limit", "0")
        )

    first = cli.json("sync", "items", "copy")
    assert (first["full"], first["version"], first["rows"]) == ("no copy yet", 1, 100)
    in_sync()

    renamed = {"id": "k000001", "name": "renamed", "qty": 1}
    cli.ok("push", "items", str(ndjson(cli.cwd / "b.ndjson", renamed, {"id": "new", "qty": 7})))
    ndjson(cli.cwd / "gone.ndjson", {"id": "k000002"})
    cli.ok("push", "items", "gone.ndjson", "-o", "delete")
    second = cli.ok("sync", "items", "copy").stdout
    assert "items: 2 upserted, 1 deleted; version 3, 100 rows" in " ".join(second.split())
    in_sync()

    everything = [{"id": r["id"]} for r in cli.json("find", "items", "--limit", "0")]
    cli.ok("push", "items", str(ndjson(cli.cwd / "all.ndjson", *everything)), "-o", "delete")
    cli.ok("push", "items", str(write_items(cli.cwd / "c.csv", range(500, 510))))
    third = cli.json("sync", "items", "copy")
    assert "no longer known" in third["full"] and third["rows"] == 10
    in_sync()


@CLI_ONLY
def test_push_in_a_terminal_draws_progress_bars_and_the_statistics(
    processes: Processes, tmp_path: Path
) -> None:
    server = processes.serve()
    cli = user(server, tmp_path)
    write_items(cli.cwd / "a.csv", range(20_000))
    controller, terminal = pty.openpty()
    env = {**cli.env, "TERM": "xterm-256color", "COLUMNS": "120"}
    env.pop("NO_COLOR", None)
    command = [sys.executable, "-m", "mdhub", "push", "items", "a.csv", "--keys", "id"]
    push = subprocess.Popen(
        command, stdin=terminal, stdout=terminal, stderr=terminal, env=env, cwd=cli.cwd
    )
    os.close(terminal)
    shown = b""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if select.select([controller], [], [], 0.5)[0]:
            try:
                chunk = os.read(controller, 65536)
            except OSError:  # the terminal closed: the command ended
                break
            if not chunk:
                break
            shown += chunk
    os.close(controller)
    assert push.wait(timeout=30) == 0
    text = ANSI.sub("", shown.decode(errors="replace"))
    assert "uploading" in text and "job 1 succeeded" in text
    assert statistics(text)["inserted"] == 20_000
