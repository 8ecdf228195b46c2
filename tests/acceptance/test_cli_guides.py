"""The guides in docs/ are recipes to copy: their `sh` blocks run as they are, in order, in one
directory, against a real server, and do what the guides say."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

from mdhub.client import Client
from tests.acceptance.cli import CLI_ONLY, Cli, api_key, statistics, write_items
from tests.acceptance.server import Processes

DOCS = Path(__file__).resolve().parents[2] / "docs"
BLOCK = re.compile(r"^```sh\n(.*?)^```", re.DOTALL | re.MULTILINE)


def sh_blocks(guide: str) -> list[str]:
    return BLOCK.findall((DOCS / guide).read_text())


def run_block(cli: Cli, block: str) -> subprocess.CompletedProcess[str]:
    """One block in bash (stopping at the first failure), with `mdhub` on the PATH."""
    bin_dir = Path(sys.executable).parent
    assert (bin_dir / "mdhub").exists(), f"no mdhub command next to {sys.executable}"
    env = {**cli.env, "PATH": f"{bin_dir}{os.pathsep}{cli.env.get('PATH', '')}"}
    run = subprocess.run(
        ["bash", "-e", "-o", "pipefail", "-c", block],
        env=env,
        cwd=cli.cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, f"{block}\nexit {run.returncode}\n{run.stdout}\n{run.stderr}"
    return run


def copy_of(cli: Cli) -> dict[str, dict[str, Any]]:
    lines = (cli.cwd / "vendors-copy" / "vendors.ndjson").read_text().splitlines()
    return {record["id"]: record for record in map(json.loads, lines)}


@CLI_ONLY
def test_push_from_cron(processes: Processes, tmp_path: Path) -> None:
    server = processes.serve()
    with server.client() as http:
        assert http.post("/api/v1/datasets", json={"name": "vendors", "keys": ["id"]}).is_success
    cli = Cli(tmp_path / "cron", MDHUB_URL=server.url, MDHUB_API_KEY=api_key(server, "writer"))
    write_items(cli.cwd / "vendors.csv", range(1000))

    script, by_hand, acting, listing = sh_blocks("push-from-cron.md")
    run_block(cli, script)
    twice = run_block(cli, by_hand).stdout
    assert twice.count("job 1 succeeded") == 2
    assert statistics(twice)["inserted"] == 1000
    assert "vendors applied" in run_block(cli, acting).stdout
    assert "succeeded" in run_block(cli, listing).stdout

    with server.client() as http:
        jobs = http.get("/api/v1/jobs").json()["results"]
        dataset = http.get("/api/v1/datasets/vendors").json()
    assert [(j["id"], j["status"]) for j in jobs] == [(1, "succeeded")]
    assert (dataset["row_count"], dataset["version"]) == (1000, 1)


@CLI_ONLY
def test_sync_a_copy(processes: Processes, tmp_path: Path) -> None:
    server = processes.serve()
    cli = Cli(tmp_path / "consumer", MDHUB_URL=server.url, MDHUB_API_KEY=api_key(server, "reader"))
    changes = tmp_path / "changes.ndjson"
    with Client(server.url, api_key=api_key(server, "admin")) as client:
        client.push("vendors", write_items(tmp_path / "v.csv", range(100)), keys=["id"])

        first, later, as_json, over = sh_blocks("sync-a-copy.md")
        out = run_block(cli, first).stdout
        assert "downloaded whole (no copy yet); version 1, 100 rows" in " ".join(out.split())
        assert "vendors.ndjson" in out and "vendors.sync.json" in out
        assert copy_of(cli) == {r["id"]: r for r in client.find("vendors")}

        changes.write_text('{"id": "k000001", "name": "renamed", "qty": 1}\n{"id": "new"}\n')
        client.push("vendors", changes)
        client.push("vendors", [{"id": "k000002"}], "delete")
        out = run_block(cli, later).stdout
        assert "2 upserted, 1 deleted; version 3, 100 rows" in " ".join(out.split())
        assert copy_of(cli) == {r["id"]: r for r in client.find("vendors")}

        state = json.loads(run_block(cli, as_json).stdout)
        assert (state["version"], state["upserted"], state["full"]) == (3, 0, None)
        assert "downloaded whole (asked for)" in run_block(cli, over).stdout
        assert copy_of(cli) == {r["id"]: r for r in client.find("vendors")}
