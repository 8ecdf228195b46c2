"""Exit codes: every error the client raises and every way a job ends has its code."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from mdhub.cli import exits
from mdhub.cli.credentials import NotLoggedIn
from mdhub.client.errors import ClientError, JobFailed, NetworkError, ServerError, WaitTimeout


def job(status: str, code: str | None = None) -> dict[str, Any]:
    error = {"code": code, "message": "m", "details": {}} if code else None
    return {"id": 1, "status": status, "error": error}


def answer(status: int) -> ServerError:
    request = httpx.Request("GET", "http://mdhub.test/api/v1/x")
    body = {"error": {"code": "c", "message": "m", "details": {}}}
    return ServerError.from_response(httpx.Response(status, json=body, request=request))


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (JobFailed(job("failed", "row_errors")), exits.REJECTED),
        (JobFailed(job("failed", "invalid_input")), exits.REJECTED),
        (JobFailed(job("failed", "internal_error")), exits.JOB_FAILED),
        (JobFailed(job("cancelled", "cancelled")), exits.JOB_FAILED),
        (WaitTimeout(job("running"), 5), exits.TIMEOUT),
        (answer(401), exits.AUTH),
        (answer(403), exits.AUTH),
        (NotLoggedIn("no credential"), exits.AUTH),
        (NetworkError("refused"), exits.NETWORK),
        (answer(503), exits.NETWORK),
        (answer(429), exits.NETWORK),
        (answer(400), exits.REJECTED),
        (answer(413), exits.REJECTED),
        (answer(422), exits.REJECTED),
        (answer(404), exits.ERROR),
        (answer(410), exits.ERROR),
    ],
)
def test_each_error_has_its_exit_code(error: ClientError, code: int) -> None:
    assert exits.for_error(error) == code


def test_a_job_as_a_wait_left_it() -> None:
    assert exits.for_job(job("succeeded")) == exits.OK
    assert exits.for_job(job("queued")) == exits.TIMEOUT
    assert exits.for_job(job("failed", "unsupported_operation")) == exits.REJECTED


def test_the_codes_are_distinct_and_all_documented() -> None:
    codes = [code for code, _ in exits.MEANINGS]
    assert codes == list(range(8))
    for code, meaning in exits.MEANINGS:
        assert f"{code}  {meaning}" in exits.EPILOG
