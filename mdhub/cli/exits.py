"""The exit codes of every command, and the one place where errors and jobs become them."""

from __future__ import annotations

from typing import Any

from mdhub.cli.credentials import NotLoggedIn
from mdhub.client.errors import (
    AuthError,
    ClientError,
    JobFailed,
    NetworkError,
    RejectedError,
    UnavailableError,
    WaitTimeout,
)

OK = 0
JOB_FAILED = 1
USAGE = 2
REJECTED = 3
ERROR = 4
TIMEOUT = 5
AUTH = 6
NETWORK = 7

MEANINGS = (
    (OK, "succeeded"),
    (JOB_FAILED, "the job failed or was cancelled (nothing was applied)"),
    (USAGE, "wrong command line: unknown option, missing argument, no such FILE"),
    (REJECTED, "the input was rejected: row errors, an unreadable file, a refused request"),
    (ERROR, "any other error: no such dataset or job, a local file that cannot be read"),
    (TIMEOUT, "the job was still running when --timeout ran out (it goes on on the server)"),
    (AUTH, "not logged in, a credential refused, or a role that does not allow it"),
    (NETWORK, "the server could not be reached or stayed unavailable (429, 5xx)"),
)
EPILOG = "Exit codes:\n" + "\n".join(f"{code}  {meaning}" for code, meaning in MEANINGS)

# A job that failed on these errors was refused because of its input, not by an accident.
INPUT_ERRORS = frozenset(
    {"row_errors", "invalid_input", "invalid_request", "invalid_schema", "unsupported_operation"}
)


def for_job(job: dict[str, Any]) -> int:
    """The exit code of a job as a wait left it (one not finished: the wait timed out)."""
    if job["status"] == "succeeded":
        return OK
    if job["status"] not in ("failed", "cancelled"):
        return TIMEOUT
    error = job.get("error") or {}
    return REJECTED if error.get("code") in INPUT_ERRORS else JOB_FAILED


def for_error(exc: ClientError) -> int:
    """The exit code of what the client raised."""
    if isinstance(exc, JobFailed):
        return for_job(exc.job)
    if isinstance(exc, WaitTimeout):
        return TIMEOUT
    if isinstance(exc, AuthError | NotLoggedIn):
        return AUTH
    if isinstance(exc, NetworkError | UnavailableError):
        return NETWORK
    if isinstance(exc, RejectedError):
        return REJECTED
    return ERROR
