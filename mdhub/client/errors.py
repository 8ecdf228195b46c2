"""What the client raises: the server's own error, or why it gave up.

ClientError
├── ServerError          an answer in the server's error shape (status, code, message)
│   ├── AuthError        401 or 403: no valid credential, or a role that does not allow it
│   ├── NotFoundError    404
│   ├── RejectedError    400, 409, 413, 422: the request or its file was refused
│   ├── GoneError        410: changes no longer known; download the dataset again
│   └── UnavailableError 429 or 5xx still answered after the last retry
├── JobFailed            the job ended `failed` or `cancelled` (carries the job)
├── WaitTimeout          the job was still running when the wait ran out
└── NetworkError         the server could not be reached, after the last retry
"""

from __future__ import annotations

from typing import Any

import httpx


class ClientError(Exception):
    """Base of everything the client raises."""


class ServerError(ClientError):
    """The server answered with an error."""

    def __init__(self, status: int, code: str, message: str, details: dict[str, Any]) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.details = details

    @classmethod
    def from_response(cls, response: httpx.Response) -> ServerError:
        """The error an answer carries, as the subclass its status calls for."""
        try:
            error = response.json()["error"]
            code, message = str(error["code"]), str(error["message"])
            details = error.get("details") or {}
        except (ValueError, KeyError, TypeError):
            code, message, details = "http_error", response.text[:500] or response.reason_phrase, {}
        status = response.status_code
        if status in (401, 403):
            kind: type[ServerError] = AuthError
        elif status == 404:
            kind = NotFoundError
        elif status == 429 or status >= 500:
            kind = UnavailableError
        elif status in (400, 409, 413, 422):
            kind = RejectedError
        elif status == 410:
            kind = GoneError
        else:
            kind = ServerError
        return kind(status, code, message, details)


class AuthError(ServerError):
    pass


class NotFoundError(ServerError):
    pass


class RejectedError(ServerError):
    pass


class GoneError(ServerError):
    pass


class UnavailableError(ServerError):
    pass


class JobFailed(ClientError):
    def __init__(self, job: dict[str, Any]) -> None:
        error = job.get("error") or {}
        reason = error.get("message") or job.get("status")
        super().__init__(f"job {job.get('id')} {job.get('status')}: {reason}")
        self.job = job


class WaitTimeout(ClientError):
    def __init__(self, job: dict[str, Any], seconds: float) -> None:
        super().__init__(
            f"job {job.get('id')} still {job.get('status')} after {seconds:.0f} s; "
            "it goes on on the server"
        )
        self.job = job


class NetworkError(ClientError):
    pass
