"""When to try a request again, and how long to wait: exponential backoff with full jitter,
`Retry-After` honoured, bounded in attempts and in time.

Retried: connection errors, 429, 5xx, and 409 `idempotency_in_flight` (the server is still
answering the first request with the same Idempotency-Key).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx

from mdhub.client.errors import NetworkError, ServerError

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
IN_FLIGHT = "idempotency_in_flight"


@dataclass(frozen=True)
class RetryPolicy:
    """Up to `attempts` tries within `deadline` seconds; waits grow from `base` to `cap`."""

    attempts: int = 12
    base: float = 0.5
    cap: float = 30.0
    deadline: float = 300.0

    def backoff(self, attempt: int) -> float:
        """Full jitter: a random wait up to the exponential bound (attempt 0 is the first)."""
        return random.uniform(0, min(self.cap, self.base * 2**attempt))


def retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After", "")
    return float(value) if value.isdigit() else None


def _retryable(response: httpx.Response) -> bool:
    if response.status_code == 409:
        return ServerError.from_response(response).code == IN_FLIGHT
    return response.status_code in RETRY_STATUSES


def send_with_retries(
    send: Callable[[], httpx.Response],
    policy: RetryPolicy,
    *,
    sleep: Callable[[float], None] = time.sleep,
) -> httpx.Response:
    """`send()` until it answers something not worth retrying; a connection error, 429 or 5xx
    is tried again. Raises NetworkError or the server's error when the bound is reached."""
    started = time.monotonic()
    attempt = 0
    while True:
        try:
            response = send()
        except httpx.TransportError as exc:
            failure: Exception = exc
            wait = policy.backoff(attempt)
        else:
            if not _retryable(response):
                return response
            failure = ServerError.from_response(response)
            asked = retry_after(response)
            wait = asked if asked is not None else policy.backoff(attempt)
        attempt += 1
        spent = time.monotonic() - started
        if attempt >= policy.attempts or spent + wait > policy.deadline:
            if isinstance(failure, ServerError):
                raise failure
            raise NetworkError(
                f"gave up after {attempt} attempts in {spent:.0f} s: {failure}"
            ) from failure
        sleep(wait)
