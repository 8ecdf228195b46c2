"""The C# examples of Veracity's "Update Datasets" document, as the HTTP requests they send.

No .NET runtime is available here (no .NET SDK; Debian's Mono lacks System.Text.Json, and
NuGet, hence Azure.Storage.Files.DataLake, is unreachable), so the C# functions cannot run.
These tests are transcriptions of the requests those functions send, made with httpx: the same
methods, URLs, headers and bodies as .NET's HttpClient writes them (a form body from
`FormUrlEncodedContent`, Json.NET's compact JSON in a UTF-8 `StringContent`, a POST with null
content, default headers that accumulate on the shared `_httpClient`). The upload,
`new DataLakeDirectoryClient(sasUri).GetFileClient(name).UploadAsync(stream, true)`, is made
with the Python SDK's DataLakeDirectoryClient built from the same SAS URL: for a file this
size both SDKs send the same REST calls (create, one append at 0, flush at the length).
Answers are checked against what the document describes, effects through mdhub's own API.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, quote, urlparse

import httpx
from azure.storage.filedatalake import DataLakeDirectoryClient

from tests.acceptance.conftest import processes  # noqa: F401
from tests.acceptance.server import Server
from tests.compat.test_veracity import CLIENT_ID, DEADLINE_SECONDS, HERE, hub, rows  # noqa: F401

Hub = tuple[Server, httpx.Client, dict[str, Any]]
RESOURCE = "https://dnvglb2cprod.onmicrosoft.com/83054ebf-1d7b-43f5-82ad-b2bde84d7b75"


class DotNetHttpClient:
    """What a `System.Net.Http.HttpClient` puts on the wire: no User-Agent, Accept or
    Accept-Encoding of its own; `DefaultRequestHeaders.Add` adds one more value per call (sent
    on one line, joined by ", "); `Content-Length: 0` on a POST or PUT with null content."""

    def __init__(self) -> None:
        self.sent: list[httpx.Request] = []
        self.http = httpx.Client(timeout=30, event_hooks={"request": [self.sent.append]})
        self.http.headers.clear()
        self.default_headers: dict[str, list[str]] = {}
        self.authorization: str | None = None

    def __enter__(self) -> DotNetHttpClient:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self.http.close()

    def add_default_header(self, name: str, value: str) -> None:
        """`DefaultRequestHeaders.Add(name, value)`."""
        self.default_headers.setdefault(name, []).append(value)

    def send(
        self, method: str, url: str, content: bytes | None = None, content_type: str | None = None
    ) -> httpx.Response:
        headers = {name: ", ".join(values) for name, values in self.default_headers.items()}
        if self.authorization is not None:
            headers["Authorization"] = self.authorization
        if content_type is not None:
            headers["Content-Type"] = content_type
        return self.http.request(method, url, content=content, headers=headers)


def form_url_encoded(data: dict[str, str]) -> bytes:
    """`FormUrlEncodedContent`'s body: `Uri.EscapeDataString` of each name and value, with
    `%20` as `+`."""

    def escape(text: str) -> str:
        return quote(text, safe="").replace("%20", "+")

    return "&".join(f"{escape(k)}={escape(v)}" for k, v in data.items()).encode()


class DocumentExamples:
    """The document's C# functions, transcribed; they share one `_httpClient` as methods of
    one class do. Its URLs are mdhub's in place of Veracity's, as for the Python examples."""

    def __init__(self, server: Server) -> None:
        self.token_url = f"{server.url}/compat/veracity/oauth2/token"
        self.base_url = f"{server.url}/compat/veracity"
        self._http_client: DotNetHttpClient | None = None
        self.uploads: list[tuple[str, dict[str, list[str]], int]] = []

    def close(self) -> None:
        if self._http_client is not None:
            self._http_client.close()

    @property
    def sent(self) -> list[httpx.Request]:
        """What `_httpClient` has sent so far."""
        return self._http_client.sent if self._http_client is not None else []

    def _client(self) -> DotNetHttpClient:
        if self._http_client is None:
            self._http_client = DotNetHttpClient()
        return self._http_client

    def _authorize(self, veracity_token: str, subscription_key: str) -> DotNetHttpClient:
        http = self._client()
        http.add_default_header("Ocp-Apim-Subscription-Key", subscription_key)
        http.authorization = f"Bearer {veracity_token}"
        return http

    def get_token(self, client_id: str, client_secret: str) -> tuple[str, httpx.Request]:
        """GetToken: a POST of `FormUrlEncodedContent` on its own HttpClient; the token is
        the answer's `access_token` (the request is returned to check it)."""
        post_data = {
            "grant_type": "client_credentials",
            "client_id": client_id,
            "client_secret": client_secret,
            "resource": RESOURCE,
        }
        with DotNetHttpClient() as http:
            auth_response = http.send(
                "POST",
                self.token_url,
                form_url_encoded(post_data),
                "application/x-www-form-urlencoded",
            )
            return str(json.loads(auth_response.text)["access_token"]), http.sent[-1]

    def get_sas_uri_for_upsert_operation(
        self,
        dataset_id: str,
        target_file_name: str,
        workspace_id: str,
        veracity_token: str,
        subscription_key: str,
        *,
        operation: str = "Upsert",
    ) -> tuple[str, str]:
        """GetSASUriForUpsertOperation → (sasTokenUri, jobId), both empty on an error status.
        `operation` is the example's "Upsert", which its comment says to change for the
        others."""
        url = f"{self.base_url}/workspaces/{workspace_id}/ingest/dataset/{dataset_id}"
        payload = {
            "startAutomatically": False,
            "files": [{"fileName": target_file_name, "operation": operation}],
        }
        # JsonConvert.SerializeObject: no whitespace, non-ASCII characters as they are.
        json_string = json.dumps(payload, separators=(",", ":"), ensure_ascii=False)
        http = self._authorize(veracity_token, subscription_key)
        result = http.send(
            "PUT", url, json_string.encode("utf-8"), "application/json; charset=utf-8"
        )
        if not result.is_success:
            return "", ""
        root = json.loads(result.text)
        return str(root["sasToken"]).strip('"'), str(root["jobId"]).strip('"')

    def upload_file_to_dataset(
        self, sas_uri_token: str, local_filepath: Path, target_file_name: str
    ) -> int:
        """UploadFileToDataset → the status of the upload's last response (the flush)."""
        sas_uri = urlparse(sas_uri_token)
        # new DataLakeDirectoryClient(sasUri): the file system is the path's first segment,
        # the directory the rest, the credential the SAS query.
        segments = sas_uri.path.strip("/").split("/")

        def record(response: Any) -> None:
            request = response.http_request
            query = parse_qs(urlparse(request.url).query)
            self.uploads.append((request.method, query, response.http_response.status_code))

        with DataLakeDirectoryClient(
            account_url=f"{sas_uri.scheme}://{sas_uri.netloc}",
            file_system_name=segments[0],
            directory_name="/".join(segments[1:]),
            credential=sas_uri.query,
        ) as container_client:
            container_file_client = container_client.get_file_client(target_file_name)
            with local_filepath.open("rb") as fs_source:
                container_file_client.upload_data(
                    fs_source, overwrite=True, raw_response_hook=record
                )
        return self.uploads[-1][2]

    def start_processing_job(
        self, job_id: str, workspace_id: str, veracity_token: str, subscription_key: str
    ) -> str:
        """StartProcessingJob: a POST with null content → the answer's text."""
        url = f"{self.base_url}/workspaces/{workspace_id}/ingest/job/{job_id}/start"
        result = self._authorize(veracity_token, subscription_key).send("POST", url)
        if result.is_success:
            return result.text
        return f"Cannot start job {job_id}"

    def get_job_status(
        self, job_id: str, workspace_id: str, veracity_token: str, subscription_key: str
    ) -> str:
        """GetJobStatus: a GET → the answer's text."""
        url = f"{self.base_url}/workspaces/{workspace_id}/ingest/job/{job_id}/status"
        result = self._authorize(veracity_token, subscription_key).send("GET", url)
        if result.is_success:
            return result.text
        return f"Cannot retrieve status for job {job_id}"


def wait(examples: DocumentExamples, job_id: str, token: str, key: str) -> dict[str, Any]:
    """GetJobStatus, called until the job is no longer Running → its last status."""
    deadline = time.monotonic() + DEADLINE_SECONDS
    while True:
        status: dict[str, Any] = json.loads(examples.get_job_status(job_id, "default", token, key))
        if status["status"] != "Running":
            return status
        assert time.monotonic() < deadline, f"job {job_id} still running"
        time.sleep(0.1)


class Program:
    """A C# program calling the document's functions in order, one file per job."""

    def __init__(self, examples: DocumentExamples, key: str) -> None:
        self.examples = examples
        self.key = key
        self.token, _ = examples.get_token(CLIENT_ID, key)

    def update(self, local: Path, operation: str) -> tuple[str, dict[str, Any]]:
        """Steps 2 to 5 → the job id and its final status (the document's JSON)."""
        examples, token, key = self.examples, self.token, self.key
        sas_uri, job_id = examples.get_sas_uri_for_upsert_operation(
            "vendors", local.name, "default", token, key, operation=operation
        )
        assert sas_uri and job_id
        created = json.loads(examples.get_job_status(job_id, "default", token, key))
        assert (created["jobId"], created["status"]) == (job_id, "Created")
        assert examples.upload_file_to_dataset(sas_uri, local, local.name) == 200
        started = examples.start_processing_job(job_id, "default", token, key)
        assert json.loads(started)["status"] in ("Running", "Completed"), started
        return job_id, wait(examples, job_id, token, key)


def test_csharp_examples_requests_upsert_a_file(hub: Hub) -> None:  # noqa: F811
    server, api, key = hub
    examples = DocumentExamples(server)
    try:
        token, token_request = examples.get_token(CLIENT_ID, key["key"])
        # GetToken: the form, as FormUrlEncodedContent writes it.
        assert token_request.headers["Content-Type"] == "application/x-www-form-urlencoded"
        assert "user-agent" not in token_request.headers
        assert parse_qs(token_request.content.decode()) == {
            "grant_type": ["client_credentials"],
            "client_id": [CLIENT_ID],
            "client_secret": [key["key"]],
            "resource": [RESOURCE],
        }
        assert token == key["key"]

        # GetSASUriForUpsertOperation: Json.NET's JSON, the key and the bearer token.
        sas_uri, job_id = examples.get_sas_uri_for_upsert_operation(
            "vendors", "ImportData.csv", "default", token, key["key"]
        )
        put = examples.sent[-1]
        assert (put.method, put.headers["Content-Type"]) == (
            "PUT",
            "application/json; charset=utf-8",
        )
        assert put.content == (
            b'{"startAutomatically":false,"files":'
            b'[{"fileName":"ImportData.csv","operation":"Upsert"}]}'
        )
        assert put.headers["Ocp-Apim-Subscription-Key"] == key["key"]
        assert put.headers["Authorization"] == f"Bearer {token}"
        assert urlparse(sas_uri).path == f"/compat/veracity/dfs/{job_id}"
        assert api.get(f"/api/v1/jobs/{job_id}").json()["status"] == "created"

        # UploadFileToDataset: create, one append, the flush; its answer's status is 200.
        local = HERE / "ImportData.csv"
        assert examples.upload_file_to_dataset(sas_uri, local, "ImportData.csv") == 200
        size = str(local.stat().st_size)
        calls = [
            (method, query.get("resource") or query.get("action"), query.get("position"), status)
            for method, query, status in examples.uploads
        ]
        assert calls == [
            ("PUT", ["file"], None, 201),
            ("PATCH", ["append"], ["0"], 202),
            ("PATCH", ["flush"], [size], 200),
        ]
        assert api.get(f"/api/v1/jobs/{job_id}").json()["parts"][0]["uploaded"] is True

        # StartProcessingJob: a POST with no body; the shared client now sends the key twice.
        started = json.loads(examples.start_processing_job(job_id, "default", token, key["key"]))
        post = examples.sent[-1]
        assert (post.method, post.headers["Content-Length"], post.content) == ("POST", "0", b"")
        assert "content-type" not in post.headers
        assert post.headers["Ocp-Apim-Subscription-Key"] == f"{key['key']}, {key['key']}"
        assert started["jobId"] == job_id
        assert started["status"] in ("Running", "Completed")

        # GetJobStatus, until the job is done: the document's fields after completion.
        status = wait(examples, job_id, token, key["key"])
        assert examples.sent[-1].method == "GET"
        assert status == {
            "jobId": job_id,
            "status": "Completed",
            "operations": ["Upsert"],
            "notebookErrorMessage": "",
            "dataSetName": "vendors",
            "datasetId": "vendors",
            "validationError": [],
        }
        assert sorted(rows(api, "vendors")) == ["v1", "v2", "v3", "v4"]
        # A job that is not there gets the function's own message.
        assert (
            examples.get_job_status("999999", "default", token, key["key"])
            == "Cannot retrieve status for job 999999"
        )
    finally:
        examples.close()


def test_csharp_examples_requests_delete_and_overwrite(hub: Hub) -> None:  # noqa: F811
    server, api, key = hub
    examples = DocumentExamples(server)
    try:
        program = Program(examples, key["key"])
        _, upserted = program.update(HERE / "ImportData.csv", "Upsert")
        assert upserted["status"] == "Completed", upserted

        # "Delete data": the rows whose keys the file lists.
        job_id, deleted = program.update(HERE / "FileWithRowsToDelete.csv", "Delete")
        assert (deleted["status"], deleted["operations"]) == ("Completed", ["Delete"])
        assert sorted(rows(api, "vendors")) == ["v3", "v4"]
        assert api.get(f"/api/v1/jobs/{job_id}").json()["statistics"]["deleted"] == 2

        # Overwrite: the dataset becomes the file.
        _, overwritten = program.update(HERE / "FileWithRowsToInsert.csv", "Overwrite")
        assert (overwritten["status"], overwritten["operations"]) == ("Completed", ["Overwrite"])
        final = rows(api, "vendors")
        assert sorted(final) == ["v3", "v5"]
        assert (final["v3"]["name"], final["v3"]["employees"]) == ("Cobalt AS", 9)
    finally:
        examples.close()
