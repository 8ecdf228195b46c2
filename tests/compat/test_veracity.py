"""Veracity Data Workbench's "Update Datasets" document, replayed against a real mdhub: its
Python examples (tests/compat/veracity/document-snippets.md, verbatim) run with only the base
URLs, credentials and placeholders replaced — uploading with Microsoft's own
azure-storage-file-datalake client — and their effects are checked through mdhub's own API."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlparse

import httpx
import pytest
from azure.core.exceptions import ClientAuthenticationError
from azure.storage.filedatalake import DataLakeFileClient

from tests.acceptance.conftest import processes  # noqa: F401
from tests.acceptance.server import Processes, Server

HERE = Path(__file__).parent / "veracity"
DOC_TOKEN_URL = "https://login.microsoftonline.com/dnvglb2cprod.onmicrosoft.com/oauth2/token"
DOC_BASE_URL = "https://api.veracity.com/veracity/dw/gateway/api/v2"
CLIENT_ID = "veracity-sa"
SCHEMA = {
    "fields": [
        {"name": "id", "type": "string"},
        {"name": "name", "type": "string"},
        {"name": "city", "type": "string"},
        {"name": "employees", "type": "integer"},
    ],
    "primaryKey": ["id"],
}
DEADLINE_SECONDS = 30.0


def snippets() -> dict[str, str]:
    """The document's Python examples by step ("Step 1" … "Step 5")."""
    text = (HERE / "document-snippets.md").read_text()
    found = re.findall(r"^## (Step \d)[^\n]*\n\n```python\n(.*?)```", text, re.M | re.S)
    assert [step for step, _ in found] == [f"Step {i}" for i in range(1, 6)]
    return dict(found)


class Customer:
    """A customer script: the document's snippets run in one namespace, as one script would,
    against mdhub's URLs with an mdhub API key as the service account and subscription key."""

    def __init__(self, server: Server, key: dict[str, Any], dataset: str) -> None:
        base = f"{server.url}/compat/veracity"
        self.replacements = {
            DOC_TOKEN_URL: f"{base}/oauth2/token",
            DOC_BASE_URL: base,
            "<myServiceAccountId>": repr(CLIENT_ID),
            "<myServiceAccountSecret>": repr(key["key"]),
            "<api key>": key["key"],
            "<workspace id>": "default",
            "<dataset id>": dataset,
        }
        self.steps = snippets()
        self.ns: dict[str, Any] = {}

    def run(self, step: str, **edits: str) -> dict[str, Any]:
        code = self.steps[step]
        for old, new in {**self.replacements, **edits}.items():
            code = code.replace(old, new)
        exec(compile(code, f"<document {step}>", "exec"), self.ns)
        return self.ns

    def upload(self, local: Path) -> None:
        """Step 3 for one file: the file the job was told about in step 2, same name."""
        self.ns["targetFileName"] = local.name
        self.run("Step 3", **{'"<local path to file>"': repr(str(local))})
        # The document's script ends here; its interpreter would close the client on exit.
        self.ns["file_client"].close()

    def wait(self, job_id: str, *, final: str) -> dict[str, Any]:
        """Step 5, polled until the job reaches `final` (the document's "verify status")."""
        self.ns["job_id"] = job_id
        deadline = time.monotonic() + DEADLINE_SECONDS
        while True:
            result: dict[str, Any] = self.run("Step 5")["result"]
            if result["status"] in ("Completed", "Failed"):
                assert result["status"] == final, result
                return result
            assert result["status"] in ("Created", "Running"), result
            assert time.monotonic() < deadline, f"job {job_id} still {result['status']}"
            time.sleep(0.1)


@pytest.fixture
def hub(processes: Processes) -> Iterator[tuple[Server, httpx.Client, dict[str, Any]]]:  # noqa: F811
    """A server with the dataset `vendors`, an admin client of mdhub's own API, and a writer
    API key for the service account."""
    server = processes.serve()
    with server.client() as api:
        created = api.post(
            "/api/v1/datasets", json={"name": "vendors", "schema": SCHEMA, "keys": ["id"]}
        )
        assert created.status_code == 201, created.text
        key = api.post("/api/v1/api-keys", json={"name": CLIENT_ID, "role": "writer"})
        assert key.status_code == 201, key.text
        yield server, api, key.json()


def rows(api: httpx.Client, dataset: str) -> dict[str, dict[str, Any]]:
    answer = api.get(f"/api/v1/datasets/{dataset}/export", params={"format": "ndjson"})
    assert answer.status_code == 200, answer.text
    return {r["id"]: r for r in map(json.loads, answer.text.splitlines())}


def test_document_flow_upserts_then_deletes_and_upserts_in_one_job(
    hub: tuple[Server, httpx.Client, dict[str, Any]],
) -> None:
    server, api, key = hub
    customer = Customer(server, key, "vendors")

    # Step 1: the token is an OAuth2 client-credentials answer.
    ns = customer.run("Step 1")
    assert ns["response"].status_code == 200
    assert set(ns["response"].json()) >= {"access_token", "expires_in", "token_type"}

    # Step 2 → 3 → 4 → 5, as written: one Upsert file, started by hand.
    ns = customer.run("Step 2")
    assert ns["response"].status_code == 200, ns["response"].text
    upsert_job = ns["update_job_id"]
    assert api.get(f"/api/v1/jobs/{upsert_job}").json()["status"] == "created"
    customer.upload(HERE / "ImportData.csv")
    assert api.get(f"/api/v1/jobs/{upsert_job}").json()["parts"][0]["uploaded"] is True
    ns["job_id"] = upsert_job
    ns = customer.run("Step 4")
    assert ns["response"].status_code == 200, ns["response"].text
    done = customer.wait(upsert_job, final="Completed")
    assert done["operations"] == ["Upsert"]
    assert (done["notebookErrorMessage"], done["validationError"]) == ("", [])
    assert (done["dataSetName"], done["datasetId"]) == ("vendors", "vendors")
    job = api.get(f"/api/v1/jobs/{upsert_job}").json()
    assert (job["status"], job["statistics"]["inserted"]) == ("succeeded", 4)
    assert sorted(rows(api, "vendors")) == ["v1", "v2", "v3", "v4"]

    # The document's "Multi operations" payload, started automatically by the last flush.
    files = """[
    {
      "fileName": targetFileName,
      "operation": "Upsert"
    }
]"""
    multi = """[
    {
      "fileName": "FileWithRowsToDelete.csv",
      "operation": "Delete"
    },
     {
      "fileName": "FileWithRowsToInsert.csv",
      "operation": "Upsert"
    }
]"""
    assert files in customer.steps["Step 2"]
    ns = customer.run(
        "Step 2", **{files: multi, '"startAutomatically": False': '"startAutomatically": True'}
    )
    multi_job = ns["update_job_id"]
    customer.upload(HERE / "FileWithRowsToDelete.csv")
    assert api.get(f"/api/v1/jobs/{multi_job}").json()["status"] == "created"
    customer.upload(HERE / "FileWithRowsToInsert.csv")
    done = customer.wait(multi_job, final="Completed")
    assert done["operations"] == ["Delete", "Upsert"]
    job = api.get(f"/api/v1/jobs/{multi_job}").json()
    assert [(p["name"], p["operation"]) for p in job["parts"]] == [
        ("FileWithRowsToDelete.csv", "delete"),
        ("FileWithRowsToInsert.csv", "upsert"),
    ]
    stats = job["statistics"]
    assert (stats["deleted"], stats["updated"], stats["inserted"]) == (2, 1, 1)
    final = rows(api, "vendors")
    assert sorted(final) == ["v3", "v4", "v5"]
    assert (final["v3"]["name"], final["v3"]["employees"]) == ("Cobalt AS", 9)
    assert api.get("/api/v1/datasets/vendors").json()["version"] == job["version"]


def signed(sas_uri: str, *, key: str, job_id: str | None = None, **fields: str) -> str:
    """The upload URL with query fields replaced and signed as mdhub signs (HMAC-SHA256 keyed
    by the digest of the credential), for another job or expiry than the one issued."""
    url = urlparse(sas_uri)
    query = {k: v[0] for k, v in parse_qs(url.query).items()} | fields
    job = job_id or url.path.rstrip("/").rsplit("/", 1)[1]
    message = f"{job}\n{query['se']}\n{query['skoid']}\n{query['sp']}".encode()
    mac = hmac.new(hashlib.sha256(key.encode()).hexdigest().encode(), message, hashlib.sha256)
    query["sig"] = base64.urlsafe_b64encode(mac.digest()).decode().rstrip("=")
    path = url.path.rsplit("/", 1)[0] + f"/{job}"
    return url._replace(path=path, query=urlencode(query)).geturl()


def create_file(url: str, name: str) -> httpx.Response:
    base, _, query = url.partition("?")
    return httpx.put(f"{base}/{name}?resource=file&{query}", timeout=10)


def test_upload_urls_are_refused_unless_signed_and_failures_show_the_documents_fields(
    hub: tuple[Server, httpx.Client, dict[str, Any]],
) -> None:
    server, api, key = hub
    customer = Customer(server, key, "vendors")
    customer.run("Step 1")
    other_job = customer.run("Step 2")["update_job_id"]
    ns = customer.run("Step 2", **{'"ImportData.csv"': '"BrokenRows.csv"'})
    sas_uri, job_id = ns["sas_uri"], ns["update_job_id"]
    sig = parse_qs(urlparse(sas_uri).query)["sig"][0]
    other_sig = ("B" if sig[0] == "A" else "A") + sig[1:]

    # What the signature refuses, in Azure's error shape: 403 AuthenticationFailed.
    past = (datetime.now(UTC) - timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    refused = {
        "tampered": sas_uri.replace(sig, other_sig),
        "unsigned": sas_uri.partition("?")[0],
        "expired": signed(sas_uri, key=key["key"], se=past),
        "another job": sas_uri.replace(f"/dfs/{job_id}?", f"/dfs/{other_job}?"),
        "another key": signed(sas_uri, key="mdk_not-the-key"),
    }
    for why, url in refused.items():
        answer = create_file(url, "BrokenRows.csv")
        assert answer.status_code == 403, (why, answer.text)
        assert answer.headers["x-ms-error-code"] == "AuthenticationFailed", why
        assert answer.json()["error"]["code"] == "AuthenticationFailed", why
    # The signing is real: re-signed for another job, the URL works there.
    assert (
        create_file(signed(sas_uri, key=key["key"], job_id=other_job), "ImportData.csv").status_code
        == 201
    )
    # Microsoft's client sees the refusal as Azure's own.
    tampered = urlparse(refused["tampered"])
    client = DataLakeFileClient(
        account_url=f"{tampered.scheme}://{tampered.netloc}",
        file_system_name="compat",
        file_path=f"veracity/dfs/{job_id}/BrokenRows.csv",
        credential=tampered.query,
    )
    with client, pytest.raises(ClientAuthenticationError):
        client.create_file()
    # A file the job was not told about is no part of it.
    assert create_file(sas_uri, "Other.csv").headers["x-ms-error-code"] == "PathNotFound"

    # A file with a bad row: the job fails, and the status shows the document's error fields.
    customer.upload(HERE / "BrokenRows.csv")
    ns["job_id"] = job_id
    customer.run("Step 4")
    failed = customer.wait(job_id, final="Failed")
    assert (
        failed["notebookErrorMessage"]
        == api.get(f"/api/v1/jobs/{job_id}").json()["error"]["message"]
    )
    assert failed["notebookErrorMessage"]
    [error] = failed["validationError"]
    assert (error["fileName"], error["line"], error["column"], error["value"]) == (
        "BrokenRows.csv",
        3,
        "employees",
        "many",
    )
    assert rows(api, "vendors") == {}
    # Once started, the job takes no more uploads.
    assert create_file(sas_uri, "BrokenRows.csv").status_code == 409

    # Revoking the API key revokes its token and its upload URLs.
    assert api.delete(f"/api/v1/api-keys/{key['id']}").status_code == 204
    assert (
        create_file(signed(sas_uri, key=key["key"], job_id=other_job), "ImportData.csv").status_code
        == 403
    )
    assert customer.run("Step 1")["response"].status_code == 401


def test_token_endpoint_checks_the_client_credentials(
    hub: tuple[Server, httpx.Client, dict[str, Any]],
) -> None:
    server, _, key = hub
    url = f"{server.url}/compat/veracity/oauth2/token"
    form = {"grant_type": "client_credentials", "client_id": CLIENT_ID, "client_secret": key["key"]}
    for client_id in (CLIENT_ID, key["prefix"], str(key["id"])):
        answer = httpx.post(url, data=form | {"client_id": client_id})
        assert answer.status_code == 200, answer.text
        token = answer.json()
        assert (token["token_type"], token["expires_in"]) == ("Bearer", 3600)
    assert (
        httpx.post(url, data=form | {"client_id": "someone-else"}).json()["error"]
        == "invalid_client"
    )
    assert httpx.post(url, data=form | {"client_secret": "mdk_wrong"}).status_code == 401
    assert (
        httpx.post(url, data=form | {"grant_type": "password"}).json()["error"]
        == "unsupported_grant_type"
    )
    # The token works on its own, and only in its workspace.
    headers = {"Authorization": f"Bearer {token['access_token']}"}
    base = f"{server.url}/compat/veracity/workspaces"
    body = {"files": [{"fileName": "a.csv", "operation": "Upsert"}]}
    assert (
        httpx.put(f"{base}/default/ingest/dataset/vendors", json=body, headers=headers).status_code
        == 200
    )
    assert (
        httpx.put(f"{base}/other/ingest/dataset/vendors", json=body, headers=headers).status_code
        == 404
    )
    bad = {"files": [{"fileName": "a.csv", "operation": "Merge"}]}
    assert (
        httpx.put(f"{base}/default/ingest/dataset/vendors", json=bad, headers=headers).status_code
        == 400
    )
