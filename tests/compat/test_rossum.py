"""Rossum Master Data Hub's own examples against a real mdhub: the document's Node.js script
(download_collection.js, only its token, collection and base URL changed) and the differential
update flow (login, update with `id_keys`, poll the operation), checked with mdhub's API and
the database."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from mdhub.db.dialect import quote
from mdhub.db.engine import open_databases
from mdhub.services import datasets
from tests.acceptance.conftest import processes  # noqa: F401
from tests.acceptance.server import ADMIN_PASSWORD, Processes, Server

SEED = Path("/work/shared/seeds/rossum-mdh-using-api.md")
COMPAT = "/compat/rossum"
FINAL = ("finished", "failed")
ROWS = 3_000  # more than the script's page of 2,500
DEADLINE = 30.0


def _script() -> str:
    """The document's Node.js script, as printed in it."""
    found = re.search(r"```js\n(.*?)```", SEED.read_text(), re.DOTALL)
    assert found, "no ```js block in the seed document"
    return found.group(1)


def _login(server: Server) -> str:
    """Rossum's login with username and password: the token is `key`."""
    answer = httpx.post(
        f"{server.url}{COMPAT}/api/v1/auth/login",
        json={"username": "admin", "password": ADMIN_PASSWORD},
    )
    assert answer.status_code == 200, answer.text
    assert set(answer.json()) == {"key"}
    return str(answer.json()["key"])


def _wait_job(server: Server, job_id: int) -> dict[str, Any]:
    deadline = time.monotonic() + DEADLINE
    with server.client() as client:
        while True:
            job = client.get(f"/api/v1/jobs/{job_id}").json()
            if job["status"] in ("succeeded", "failed", "cancelled"):
                return dict(job)
            assert time.monotonic() < deadline, f"job {job_id} did not end: {job}"
            time.sleep(0.05)


def _load_vendors(server: Server, rows: int) -> None:
    lines = ["vendor_id,name,country,credit"]
    lines += [f"V{i:05d},Vendor {i},{('DE', 'CZ', 'US')[i % 3]},{i * 10}" for i in range(rows)]
    with server.client() as client:
        answer = client.post(
            "/api/v1/datasets/vendors/jobs",
            files={"file": ("vendors.csv", "\n".join(lines).encode())},
            data={"keys": "vendor_id", "operation": "upsert"},
        )
    assert answer.status_code == 202, answer.text
    assert _wait_job(server, answer.json()["id"])["status"] == "succeeded"


@pytest.mark.skipif(shutil.which("node") is None, reason="needs node (v18+, with fetch)")
def test_download_collection_script_pages_the_whole_collection(
    processes: Processes,  # noqa: F811
    tmp_path: Path,
) -> None:
    server = processes.serve()
    _load_vendors(server, ROWS)
    token = _login(server)
    script = _script()
    for name, value in (
        ("ROSSUM_TOKEN", token),
        ("COLLECTION_NAME", "vendors"),
        ("BASE_URL", f"{server.url}{COMPAT}/svc/data-storage/api/v1"),
    ):
        script, changed = re.subn(rf"const {name} = '[^']*';", f"const {name} = '{value}';", script)
        assert changed == 1, name
    (tmp_path / "download_collection.js").write_text(script)

    run = subprocess.run(
        ["node", "download_collection.js"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert run.returncode == 0, run.stderr
    assert "failed" not in run.stderr, run.stderr
    downloaded = json.loads((tmp_path / "vendors.json").read_text())
    with server.client() as client:
        export = client.get("/api/v1/datasets/vendors/export", params={"format": "ndjson"})
    exported = [json.loads(line) for line in export.text.splitlines()]
    assert len(downloaded) == len(exported) == ROWS
    # sort: {_id: -1} is the key, descending; projection: {_id: 0} leaves the record as stored.
    assert downloaded == sorted(exported, key=lambda r: r["vendor_id"], reverse=True)
    # Pages of 2,500, then one past the end: three requests.
    assert run.stdout.count('"skip":') == 3


def test_find_maps_id_onto_the_key(processes: Processes) -> None:  # noqa: F811
    server = processes.serve()
    _load_vendors(server, 5)
    token = _login(server)
    url = f"{server.url}{COMPAT}/svc/data-storage/api/v1/data/find"

    def find(body: dict[str, Any], scheme: str = "Bearer") -> httpx.Response:
        return httpx.post(url, json=body, headers={"Authorization": f"{scheme} {token}"})

    answer = find({"collectionName": "vendors", "query": {"_id": "V00003"}}, scheme="token")
    assert answer.status_code == 200, answer.text
    assert answer.json() == {
        "result": [
            {
                "_id": "V00003",
                "vendor_id": "V00003",
                "name": "Vendor 3",
                "country": "DE",
                "credit": 30,
            }
        ]
    }
    answer = find(
        {
            "collectionName": "vendors",
            "query": {"country": {"$in": ["DE", "CZ"]}},
            "projection": {"name": 1},
            "sort": {"_id": 1},
            "skip": 1,
            "limit": 2,
        }
    )
    assert answer.json() == {
        "result": [{"_id": "V00001", "name": "Vendor 1"}, {"_id": "V00003", "name": "Vendor 3"}]
    }
    assert find({"collectionName": "nope", "query": {}}).status_code == 404
    assert httpx.post(url, json={"collectionName": "vendors"}).status_code == 401
    wrong = httpx.post(
        f"{server.url}{COMPAT}/api/v1/auth/login", json={"username": "admin", "password": "x"}
    )
    assert wrong.status_code == 401


def _operation_id(answer: httpx.Response) -> str:
    """As Rossum's clients read it: the last segment of `Location`."""
    assert answer.status_code == 202, answer.text
    found = re.search(r"/operation/([^/?#\s]+)", answer.headers["location"])
    assert found, answer.headers
    return found.group(1)


def _poll(server: Server, token: str, operation_id: str) -> dict[str, Any]:
    """Get Operation, again and again, until its state is final."""
    deadline = time.monotonic() + DEADLINE
    seen = set()
    while True:
        answer = httpx.get(
            f"{server.url}{COMPAT}/svc/data-matching/api/v1/operation/{operation_id}",
            headers={"Authorization": f"Bearer {token}"},
        )
        assert answer.status_code == 200, answer.text
        operation = answer.json()
        seen.add(operation["status"])
        assert seen <= {"new", "queued", "processing", *FINAL}, seen
        if operation["status"] in FINAL:
            return dict(operation)
        assert time.monotonic() < deadline, operation
        time.sleep(0.1)


def test_differential_update_with_id_keys(processes: Processes, database_url: str) -> None:  # noqa: F811
    server = processes.serve()
    with server.client() as client:
        created = client.post("/api/v1/datasets", json={"name": "vendors", "keys": ["vendor_id"]})
        assert created.status_code == 201, created.text
    token = _login(server)
    update_url = f"{server.url}{COMPAT}/svc/data-matching/api/v1/dataset/vendors"
    auth = {"Authorization": f"Bearer {token}"}

    def update(csv: str) -> httpx.Response:
        return httpx.patch(
            update_url,
            headers=auth,
            files={"file": ("vendors.csv", csv.encode(), "text/csv")},
            data={"id_keys": ["vendor_id"], "update_or_new": "true", "encoding": "utf-8"},
        )

    first = _poll(server, token, _operation_id(update("vendor_id,name\nV1,Acme\nV2,Beta\n")))
    assert first["status"] == "finished", first
    assert first["dataset_name"] == "vendors"
    assert first["statistics"]["inserted"] == 2

    second_id = _operation_id(update("vendor_id,name\nV1,Acme\nV2,Beta 2\nV3,Gamma\n"))
    second = _poll(server, token, second_id)
    assert second["status"] == "finished", second
    with server.client() as client:
        job = client.get(f"/api/v1/jobs/{second_id}").json()
        dataset = client.get("/api/v1/datasets/vendors").json()
        v2 = client.get("/api/v1/datasets/vendors/records/V2").json()
    assert job["status"] == "succeeded"
    assert second["statistics"] == job["statistics"]
    assert {k: job["statistics"][k] for k in ("read", "inserted", "updated", "unchanged")} == {
        "read": 3,
        "inserted": 1,
        "updated": 1,
        "unchanged": 1,
    }
    assert dataset["row_count"] == 3
    assert v2["name"] == "Beta 2"

    # A bad file: the key column is missing. The operation fails and says why; nothing changes.
    failed = _poll(server, token, _operation_id(update("id,name\nV9,Nine\n")))
    assert failed["status"] == "failed", failed
    assert failed["error"]
    with server.client() as client:
        assert client.get(f"/api/v1/jobs/{failed['operation_id']}").json()["status"] == "failed"

    # id_keys that are not the dataset's key are refused at once.
    wrong = httpx.patch(
        update_url,
        headers=auth,
        files={"file": ("vendors.csv", b"name\nAcme\n")},
        data={"id_keys": ["name"]},
    )
    assert wrong.status_code == 400, wrong.text

    dbs = open_databases(database_url)
    try:
        table = datasets.get_dataset(dbs, "default", "vendors").table_name
        with dbs.data.connect() as conn:
            rows = conn.execute(
                text(f"SELECT vendor_id, name FROM {quote(table)} ORDER BY vendor_id")
            ).all()
    finally:
        dbs.dispose()
    assert [tuple(r) for r in rows] == [("V1", "Acme"), ("V2", "Beta 2"), ("V3", "Gamma")]


def test_replace_and_delete_a_dataset(processes: Processes) -> None:  # noqa: F811
    server = processes.serve()
    token = _login(server)
    url = f"{server.url}{COMPAT}/svc/data-matching/api/v1/dataset/items"
    auth = {"Authorization": f"Bearer {token}"}
    records = [{"sku": "A", "qty": 1}, {"sku": "B", "qty": 2}]

    created = httpx.post(
        url,
        headers=auth,
        files={"file": ("data.json", json.dumps(records).encode(), "application/json")},
        data={"encoding": "utf-8", "id_keys": ["sku"]},
    )
    assert _poll(server, token, _operation_id(created))["status"] == "finished"
    again = httpx.post(url, headers=auth, files={"file": ("data.json", b"[]")})
    assert again.status_code == 400, again.text

    replaced = httpx.put(
        url,
        headers=auth,
        files={"file": ("data.json", json.dumps(records[1:]).encode(), "application/json")},
        data={"encoding": "utf-8"},
    )
    operation = _poll(server, token, _operation_id(replaced))
    assert operation["status"] == "finished", operation
    assert operation["operation_type"] == "replace"
    with server.client() as client:
        found = client.post("/api/v1/datasets/items/find", json={"filter": {}}).json()
    assert found["results"] == [{"sku": "B", "qty": 2}]

    assert httpx.delete(url, headers=auth).status_code == 204
    with server.client() as client:
        assert client.get("/api/v1/datasets/items").status_code == 404
