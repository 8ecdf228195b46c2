"""Qrvey's post-data API: the seed document's curl commands, changed only in base URL and key,
run with the machine's curl against a real server; their effects checked in mdhub's API."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx

from tests.acceptance.conftest import processes  # noqa: F401
from tests.acceptance.server import POLL_SECONDS, Processes, Server

HERE = Path(__file__).parent / "qrvey"
KEYS = ["TENANT_ID", "ID", "USER_ID", "ACCOUNT_ID", "STATUS", "ROLE_NAME"]
# The Users dataset of the example: text columns (its ids are text), one timestamp.
TEXT = [*KEYS, "ACCOUNT_NAME", "FIRST_NAME", "LAST_NAME", "EMAIL"]
USERS_SCHEMA = {
    "fields": [
        *({"name": name, "type": "string"} for name in TEXT),
        {"name": "LASTUPDATED", "type": "datetime"},
    ],
    "primaryKey": KEYS,
}
DEADLINE_SECONDS = 30.0


def api_key(http: httpx.Client, role: str, name: str) -> str:
    answer = http.post("/api/v1/api-keys", json={"name": name, "role": role})
    assert answer.status_code == 201, answer.text
    return str(answer.json()["key"])


def curl(command: str) -> Any:
    """Run a seed curl command with sh; its output as JSON."""
    done = subprocess.run(
        ["sh", "-c", f"{command.strip()} --silent --show-error"],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    return json.loads(done.stdout)


def postdata_command(server: Server, key: str) -> str:
    """The document's postdata example with this server's postdata URL and this key."""
    return (
        (HERE / "postdata.sh")
        .read_text()
        .replace(
            "https://your_qrvey_domain/Prod/dataload", f"{server.url}/compat/qrvey/Prod/dataload"
        )
        .replace("<API_KEY>", key)
        .replace("<DATASET_ID>", "Users")
    )


def status_command(server: Server, key: str, job_id: str) -> str:
    return (
        (HERE / "status.sh")
        .read_text()
        .replace("https://{postdataurl}", f"{server.url}/compat/qrvey/Prod/dataload")
        .replace("{datarouter-api-key}", key)
        .replace("{JobID}", job_id)
    )


def wait_status(server: Server, key: str, job_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + DEADLINE_SECONDS
    while True:
        answer: dict[str, Any] = curl(status_command(server, key, job_id))
        if answer["statusJob"]["status"] not in ("Queued", "Running"):
            return answer
        assert time.monotonic() < deadline, answer
        time.sleep(POLL_SECONDS)


def seed_records() -> list[dict[str, str]]:
    """The example's three records as the document posts them."""
    body = (HERE / "postdata.sh").read_text().split("--data-raw '", 1)[1].rsplit("'", 1)[0]
    records: list[dict[str, str]] = json.loads(body)["data"]
    return records


def test_seed_examples_post_and_report_status(processes: Processes) -> None:  # noqa: F811
    server = processes.serve()
    with server.client() as http:
        writer = api_key(http, "writer", "qrvey-router")
        created = http.post("/api/v1/datasets", json={"name": "Users", "schema": USERS_SCHEMA})
        assert created.status_code == 201, created.text
        # The users exist with older values: the document's post updates all three.
        older = [{**r, "EMAIL": "old@qrvey.com", "ACCOUNT_NAME": "Old"} for r in seed_records()]
        loaded = http.post(
            "/api/v1/datasets/Users/jobs", json={"operation": "upsert", "records": older}
        )
        assert loaded.status_code == 202, loaded.text

        posted = curl(postdata_command(server, writer))
        assert set(posted) == {"jobId"} and isinstance(posted["jobId"], str), posted
        status = wait_status(server, writer, posted["jobId"])

        assert status["statusJob"]["jobId"] == posted["jobId"]
        assert status["statusJob"]["status"] == "Complete", status
        assert status["statusJob"]["approximatePercentComplete"] == 100
        assert status["statusJob"]["runtime"].startswith("0h 0m ")
        stats = status["jobCompletionStatistics"]
        assert stats["dataSourcePumpStatistics"]["Users"] == {
            "failed": 0,
            "pumpTimeSeconds": stats["dataSourcePumpStatistics"]["Users"]["pumpTimeSeconds"],
            "read": 3,
            "successful": 3,
        }
        assert stats["fillingEsStatistics"] == {
            "added": 0,
            "deleted": 0,
            "failed": 0,
            "updated": 3,
            "unchanged": 0,
        }
        assert (stats["failed"], stats["successful"], stats["updated"]) == (0, 0, 3)

        job = http.get(f"/api/v1/jobs/{posted['jobId']}").json()
        assert job["status"] == "succeeded"
        assert job["parts"][0]["dataset"] == "Users"
        assert job["parts"][0]["operation"] == "upsert"
        assert job["statistics"]["updated"] == 3 and job["statistics"]["read"] == 3
        found = http.post("/api/v1/datasets/Users/find", json={"filter": {"ID": "1000101"}})
        assert found.status_code == 200, found.text
        found = found.json()["results"]
        assert len(found) == 1
        assert found[0]["EMAIL"] == "dilant.changed@qrvey.com"
        assert found[0]["ACCOUNT_NAME"] == "Qrvey - Name Added"
        assert found[0]["ROLE_NAME"] == "Portal User Role Changed "
        assert http.get("/api/v1/datasets/Users").json()["row_count"] == 3

        # The same post again changes nothing: mdhub's exact counts come through.
        again = wait_status(server, writer, curl(postdata_command(server, writer))["jobId"])
        assert again["jobCompletionStatistics"]["fillingEsStatistics"]["unchanged"] == 3
        assert again["jobCompletionStatistics"]["updated"] == 0

        listed = httpx.post(
            f"{server.url}/compat/qrvey/devapi/v4/user/owner-1/qollect/dataset/all",
            headers={"x-api-key": writer},
        )
        assert listed.status_code == 200, listed.text
        assert listed.json()["Count"] == 1
        (users,) = listed.json()["Items"]
        assert (users["datasetId"], users["rows"], users["uniqueIdColumns"]) == ("Users", 3, KEYS)


def test_methods_roles_and_workspaces(processes: Processes) -> None:  # noqa: F811
    server = processes.serve()
    base = f"{server.url}/compat/qrvey/Prod/dataload"
    with server.client() as http:
        writer = api_key(http, "writer", "qrvey-writer")
        reader = api_key(http, "reader", "qrvey-reader")
        assert http.post("/api/v1/datasets", json={"name": "Users", "keys": ["ID"]}).is_success
        assert http.post("/api/v1/workspaces", json={"name": "other"}).status_code == 201
    login = httpx.post(
        f"{server.url}/api/v1/auth/login",
        json={"username": "admin", "password": "acceptance-admin", "workspace": "other"},
    ).json()["token"]
    foreign = httpx.post(
        f"{server.url}/api/v1/api-keys",
        json={"name": "other-writer", "role": "writer"},
        headers={"Authorization": f"Bearer {login}"},
    ).json()["key"]

    def post(key: str, body: dict[str, Any]) -> httpx.Response:
        return httpx.post(f"{base}/postdata", json=body, headers={"x-api-key": key})

    records = [{"ID": "1", "NAME": "a"}, {"ID": "2", "NAME": "b"}]
    refused = post(writer, {"datasetId": "Users", "documentUpdateMethod": "merge", "data": []})
    assert refused.status_code == 400 and "documentUpdateMethod" in refused.text
    assert post(reader, {"datasetId": "Users", "data": records}).status_code == 403
    assert post(foreign, {"datasetId": "Users", "data": records}).status_code == 404
    assert (
        httpx.post(f"{base}/postdata", json={"datasetId": "Users", "data": []}).status_code == 401
    )

    inserted = post(
        writer, {"datasetId": "Users", "documentUpdateMethod": "insert", "data": records}
    )
    job_id = inserted.json()["jobId"]
    status = wait_status(server, writer, job_id)
    assert status["jobCompletionStatistics"]["fillingEsStatistics"]["added"] == 2
    deleted = post(
        writer, {"datasetId": "Users", "documentUpdateMethod": "delete", "data": records[:1]}
    )
    status = wait_status(server, reader, deleted.json()["jobId"])
    assert status["jobCompletionStatistics"]["fillingEsStatistics"]["deleted"] == 1
    # A record that fails is counted, the others applied (Qrvey's way).
    bad = post(writer, {"datasetId": "Users", "data": [{"ID": "3"}, {"NAME": "no key"}]})
    status = wait_status(server, writer, bad.json()["jobId"])
    assert status["statusJob"]["status"] == "Complete"
    assert status["jobCompletionStatistics"]["failed"] == 1
    assert status["jobCompletionStatistics"]["successful"] == 1

    other = httpx.get(f"{base}/{job_id}/status", headers={"x-api-key": foreign})
    assert other.status_code == 404
    listed = httpx.get(
        f"{server.url}/compat/qrvey/devapi/v4/user/x/qollect/dataset/all",
        headers={"x-api-key": foreign},
    ).json()
    assert listed == {"Items": [], "Count": 0}
