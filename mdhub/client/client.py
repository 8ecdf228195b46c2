"""`Client`: mdhub's HTTP API from Python, with the care a nightly job needs built in.

Every request that fails on the way (connection refused or cut, 429, 5xx) is tried again with
backoff and jitter; a push carries one `Idempotency-Key` across its retries, so the server applies
it once however often it was sent. Once the upload is accepted the client only polls the job,
through restarts of the server, until the job ends or the wait runs out.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import quote

import httpx

from mdhub import __version__
from mdhub.client.errors import (
    JobFailed,
    NetworkError,
    ServerError,
    UnavailableError,
    WaitTimeout,
)
from mdhub.client.retry import RetryPolicy, send_with_retries
from mdhub.client.sync import SyncResult, sync_copy

API = "/api/v1"
FINAL = frozenset({"succeeded", "failed", "cancelled"})
CHUNK_BYTES = 1 << 20
POLL_CAP = 5.0
VERSION_HEADER = "X-Mdhub-Version"
Progress = Callable[[int], None]
JobWatcher = Callable[[dict[str, Any]], None]


class Client:
    """A connection to one mdhub server, with an API key (or a login token) or as a user
    (`username`, `password`, optionally `workspace`)."""

    def __init__(
        self,
        url: str,
        *,
        api_key: str | None = None,
        username: str | None = None,
        password: str | None = None,
        workspace: str | None = None,
        timeout: float = 60.0,
        retry: RetryPolicy | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        if api_key is None and (username is None or password is None):
            raise ValueError("give an api_key, or a username and a password")
        self.url = url.rstrip("/")
        self.retry = retry or RetryPolicy()
        self._api_key = api_key
        self._login = (username, password, workspace)
        self._token: str | None = None
        self._http = httpx.Client(
            base_url=self.url + API,
            timeout=httpx.Timeout(timeout, connect=10.0),
            headers={"User-Agent": f"mdhub-client/{__version__}"},
            transport=transport,
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # Credentials -------------------------------------------------------------------------------

    def log_in(self) -> dict[str, Any]:
        """Log in with the user name and password: `{token, expires_at, workspace, role}`. The
        client then acts with that token (it logs in by itself when first needed)."""
        username, password, workspace = self._login
        if username is None or password is None:
            raise ValueError("logging in needs a username and a password")
        body = {"username": username, "password": password}
        if workspace:
            body["workspace"] = workspace
        response = send_with_retries(lambda: self._http.post("/auth/login", json=body), self.retry)
        answer: dict[str, Any] = self._check(response).json()
        self._token = str(answer["token"])
        return answer

    def log_out(self) -> None:
        """End the login token this client acts with (an API key stays valid)."""
        self._request("POST", "/auth/logout")

    def me(self) -> dict[str, Any]:
        """What the credential acts as: `{workspace, role, username, key_id, instance_admin}`."""
        return self._json("GET", "/auth/me")

    # Datasets ----------------------------------------------------------------------------------

    def datasets(self) -> Iterator[dict[str, Any]]:
        return self._pages("/datasets")

    def dataset(self, name: str) -> dict[str, Any]:
        return self._json("GET", f"/datasets/{_segment(name)}")

    def create_dataset(
        self,
        name: str,
        *,
        schema: dict[str, Any] | None = None,
        keys: list[str] | None = None,
        schema_policy: str | None = None,
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"name": name}
        for field, value in (("schema", schema), ("keys", keys), ("schema_policy", schema_policy)):
            if value is not None:
                body[field] = value
        return self._json("POST", "/datasets", json=body, idempotent=True)

    def delete_dataset(self, name: str) -> None:
        self._request("DELETE", f"/datasets/{_segment(name)}")

    # Pushing data ------------------------------------------------------------------------------

    def push(
        self,
        dataset: str,
        data: str | os.PathLike[str] | Iterable[dict[str, Any]],
        operation: str = "upsert",
        *,
        keys: list[str] | None = None,
        dry_run: bool = False,
        format: str | None = None,
        max_errors: int | None = None,
        skip_invalid: bool = False,
        encoding: str | None = None,
        delimiter: str | None = None,
        wait: bool = True,
        timeout: float = 3600.0,
        idempotency_key: str | None = None,
        on_upload: Progress | None = None,
        on_job: JobWatcher | None = None,
    ) -> dict[str, Any]:
        """Apply a file (a path) or records (dicts) to a dataset; with `wait`, the finished job.

        `max_errors` row errors (any with `skip_invalid`) still apply the valid rows; `encoding`
        and `delimiter` describe a CSV file. Raises JobFailed when the job fails, WaitTimeout
        when it is still running after `timeout` seconds (it goes on on the server:
        `wait(job["id"])` picks it up again).
        """
        headers = {"Idempotency-Key": idempotency_key or uuid.uuid4().hex}
        path = f"/datasets/{_segment(dataset)}/jobs"
        if isinstance(data, str | os.PathLike):
            file = Path(data)
            size = file.stat().st_size
            params: dict[str, Any] = {"operation": operation, "filename": file.name}
            if format:
                params["format"] = format
            if dry_run:
                params["dry_run"] = "true"
            if keys:
                params["keys"] = ",".join(keys)
            if max_errors is not None:
                params["max_errors"] = max_errors
            if skip_invalid:
                params["skip_invalid"] = "true"
            for name, value in (("encoding", encoding), ("delimiter", delimiter)):
                if value:
                    params[name] = value
            headers |= {"Content-Type": "application/octet-stream", "Content-Length": str(size)}
            job = self._json(
                "POST",
                path,
                params=params,
                headers=headers,
                body=lambda: _chunks(file, on_upload),
            )
        else:
            payload: dict[str, Any] = {"operation": operation, "records": list(data)}
            if dry_run:
                payload["dry_run"] = True
            if keys:
                payload["keys"] = keys
            if max_errors is not None:
                payload["max_errors"] = max_errors
            if skip_invalid:
                payload["skip_invalid"] = True
            job = self._json("POST", path, json=payload, headers=headers)
        if not wait:
            return job
        return self.wait(int(job["id"]), timeout=timeout, on_job=on_job)

    # Jobs --------------------------------------------------------------------------------------

    def job(self, job_id: int) -> dict[str, Any]:
        return self._json("GET", f"/jobs/{job_id}")

    def jobs(
        self, *, dataset: str | None = None, status: str | None = None
    ) -> Iterator[dict[str, Any]]:
        params = {k: v for k, v in (("dataset", dataset), ("status", status)) if v is not None}
        return self._pages("/jobs", params)

    def job_errors(self, job_id: int) -> Iterator[dict[str, Any]]:
        return self._pages(f"/jobs/{job_id}/errors")

    def job_log(self, job_id: int) -> Iterator[dict[str, Any]]:
        return self._pages(f"/jobs/{job_id}/log")

    def cancel(self, job_id: int) -> dict[str, Any]:
        return self._json("POST", f"/jobs/{job_id}/cancel")

    def wait(
        self,
        job_id: int,
        *,
        timeout: float = 3600.0,
        check: bool = True,
        on_job: JobWatcher | None = None,
    ) -> dict[str, Any]:
        """Poll the job until it ends; the server may restart meanwhile. With `check`, a job
        that did not succeed raises JobFailed."""
        deadline = time.monotonic() + timeout
        interval = 0.1
        job: dict[str, Any] = {"id": job_id, "status": "unknown"}
        while True:
            # Retried at most every POLL_CAP seconds and not past the deadline: a server that
            # restarts is noticed within seconds, and the wait ends on time.
            remaining = max(0.0, deadline - time.monotonic())
            poll = replace(self.retry, cap=min(self.retry.cap, POLL_CAP), deadline=remaining)
            try:
                job = self._json("GET", f"/jobs/{job_id}", retry=poll)
            except (NetworkError, UnavailableError):
                if time.monotonic() >= deadline:
                    raise
            else:
                if on_job is not None:
                    on_job(job)
                if job["status"] in FINAL:
                    if check and job["status"] != "succeeded":
                        raise JobFailed(job)
                    return job
            if time.monotonic() >= deadline:
                raise WaitTimeout(job, timeout)
            time.sleep(min(interval, max(0.0, deadline - time.monotonic())))
            interval = min(interval * 1.5, POLL_CAP)

    # Reading data ------------------------------------------------------------------------------

    def record(self, dataset: str, *key: Any) -> dict[str, Any]:
        """One record by its key (a composite key's values in the dataset's key order)."""
        joined = ",".join(str(part) for part in key)
        return self._json("GET", f"/datasets/{_segment(dataset)}/records/{_segment(joined)}")

    def find(
        self,
        dataset: str,
        filter: dict[str, Any] | None = None,
        *,
        projection: dict[str, int] | None = None,
        sort: dict[str, int] | None = None,
        page_size: int = 1000,
    ) -> Iterator[dict[str, Any]]:
        """Every record that matches, page after page (by cursor: none twice)."""
        body: dict[str, Any] = {"filter": filter or {}, "limit": page_size}
        if projection:
            body["projection"] = projection
        if sort:
            body["sort"] = sort
        cursor = None
        while True:
            page = self._json(
                "POST", f"/datasets/{_segment(dataset)}/find", json={**body, "cursor": cursor}
            )
            yield from page["results"]
            cursor = page["next"]
            if cursor is None:
                return

    def export(
        self,
        dataset: str,
        path: str | os.PathLike[str],
        format: str = "csv",
        *,
        gzip: bool = False,
        on_download: Progress | None = None,
    ) -> int:
        """Download the whole dataset (one snapshot) into `path`; the file appears complete or
        not at all. A download cut on the way starts again. Returns the dataset's version the
        file shows: the `since` to follow its changes from."""
        target = Path(path)
        partial = target.with_name(target.name + ".part")
        params = {"format": format, **({"compression": "gzip"} if gzip else {})}
        url = f"/datasets/{_segment(dataset)}/export"

        def download() -> httpx.Response:
            with (
                self._http.stream("GET", url, params=params, headers=self._auth()) as response,
                partial.open("wb") as out,
            ):
                if response.is_success:
                    received = 0
                    # Decoded: the server compresses the transfer when asked (Accept-Encoding).
                    for chunk in response.iter_bytes(CHUNK_BYTES):
                        out.write(chunk)
                        received += len(chunk)
                        if on_download is not None:
                            on_download(received)
                else:
                    response.read()
                return response

        try:
            response = self._send(download)
            version = int(response.headers[VERSION_HEADER])
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
        partial.replace(target)
        return version

    @contextmanager
    def changes(self, dataset: str, since: int) -> Iterator[Iterator[dict[str, Any]]]:
        """The changes after version `since`, as the API streams them (docs/sync.md): for each
        changed key `{"op": "upsert" | "delete", "version", "key", "record"}`, then
        `{"op": "end", "version", "count"}`, whose version is the next `since`.

        Raises GoneError when those changes are no longer known (download the dataset again),
        and NetworkError, while iterating, when the stream is cut short.
        """
        path = f"/datasets/{_segment(dataset)}/changes"

        def open_stream() -> httpx.Response:
            request = self._http.build_request(
                "GET", path, params={"since": since}, headers=self._auth()
            )
            response = self._http.send(request, stream=True)
            if response.is_error:
                response.read()
                response.close()
            return response

        response = self._send(open_stream)
        try:
            yield _change_lines(response)
        finally:
            response.close()

    def sync(
        self, dataset: str, directory: str | os.PathLike[str], *, full: bool = False
    ) -> SyncResult:
        """Bring the local copy of `dataset` in `directory` up to date: a full download the
        first time (or with `full`), then only the changes (see `mdhub.client.sync`)."""
        return sync_copy(self, dataset, Path(directory), full=full)

    # Plumbing ----------------------------------------------------------------------------------

    def _auth(self) -> dict[str, str]:
        if self._api_key is not None:
            return {"Authorization": f"Bearer {self._api_key}"}
        if self._token is None:
            self.log_in()
        return {"Authorization": f"Bearer {self._token}"}

    def _request(
        self,
        method: str,
        path: str,
        *,
        headers: dict[str, str] | None = None,
        body: Callable[[], Iterator[bytes]] | None = None,
        idempotent: bool = False,
        retry: RetryPolicy | None = None,
        **options: Any,
    ) -> httpx.Response:
        headers = dict(headers or {})
        if idempotent and "Idempotency-Key" not in headers:
            headers["Idempotency-Key"] = uuid.uuid4().hex

        def send() -> httpx.Response:
            content = body() if body is not None else None
            return self._http.request(
                method, path, headers={**headers, **self._auth()}, content=content, **options
            )

        return self._send(send, retry)

    def _send(
        self, send: Callable[[], httpx.Response], retry: RetryPolicy | None = None
    ) -> httpx.Response:
        """`send()` with retries; a user's login that expired meanwhile is renewed once."""
        policy = retry or self.retry
        response = send_with_retries(send, policy)
        if response.status_code == 401 and self._api_key is None and self._token is not None:
            self._token = None  # expired or revoked: log in again, once
            response = send_with_retries(send, policy)
        return self._check(response)

    def _json(self, method: str, path: str, **options: Any) -> Any:
        return self._request(method, path, **options).json()

    def _pages(self, path: str, params: dict[str, Any] | None = None) -> Iterator[dict[str, Any]]:
        cursor: Any = None
        while True:
            query = {**(params or {}), **({"cursor": cursor} if cursor is not None else {})}
            page = self._json("GET", path, params=query)
            yield from page["results"]
            cursor = page.get("next")
            if cursor is None:
                return

    @staticmethod
    def _check(response: httpx.Response) -> httpx.Response:
        if response.is_error:
            raise ServerError.from_response(response)
        return response


def _segment(value: str) -> str:
    return quote(value, safe="")


def _change_lines(response: httpx.Response) -> Iterator[dict[str, Any]]:
    try:
        for line in response.iter_lines():
            if not line:
                continue
            change: dict[str, Any] = json.loads(line)
            yield change
            if change["op"] == "end":
                return
    except httpx.TransportError as exc:
        raise NetworkError(f"the changes stream was cut short: {exc}") from exc
    raise NetworkError("the changes stream was cut short (no end line): ask again")


def _chunks(file: Path, on_upload: Progress | None) -> Iterator[bytes]:
    """The file's bytes in chunks, reporting the bytes sent so far (from 0 on each retry)."""
    sent = 0
    stream: BinaryIO
    with file.open("rb") as stream:
        while chunk := stream.read(CHUNK_BYTES):
            sent += len(chunk)
            if on_upload is not None:
                on_upload(sent)
            yield chunk
