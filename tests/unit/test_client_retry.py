"""The client's retry loop: what is retried, how long it waits, when it gives up."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from mdhub.client.errors import NetworkError, RejectedError, ServerError, UnavailableError
from mdhub.client.retry import RetryPolicy, send_with_retries

REQUEST = httpx.Request("GET", "http://mdhub.test/api/v1/datasets")


def answers(
    *items: int | Exception, retry_after: str | None = None, code: str | None = None
) -> tuple[Callable[[], httpx.Response], list[int]]:
    """A `send` that answers (or raises) the items in turn, and the list of calls made."""
    queue = list(items)
    sent: list[int] = []

    def send() -> httpx.Response:
        sent.append(1)
        item = queue.pop(0)
        if isinstance(item, Exception):
            raise item
        headers = {"Retry-After": retry_after} if retry_after and item == 429 else {}
        body = {"error": {"code": code or f"e{item}", "message": "m", "details": {}}}
        return httpx.Response(item, json=body, headers=headers, request=REQUEST)

    return send, sent


def test_retries_connection_errors_429_and_5xx_then_answers() -> None:
    waits: list[float] = []
    send, sent = answers(httpx.ConnectError("refused"), 503, 429, 502, 200, retry_after="7")
    response = send_with_retries(send, RetryPolicy(base=1, cap=4), sleep=waits.append)
    assert response.status_code == 200 and len(sent) == 5
    assert waits[2] == 7.0  # Retry-After wins
    assert 0 <= waits[0] <= 1 and 0 <= waits[1] <= 2 and 0 <= waits[3] <= 4


def test_other_answers_are_not_retried() -> None:
    send, sent = answers(422, 200)
    assert send_with_retries(send, RetryPolicy(), sleep=lambda s: None).status_code == 422
    assert len(sent) == 1


def test_an_idempotency_key_still_in_flight_is_retried_other_conflicts_are_not() -> None:
    send, sent = answers(409, 409, 202, code="idempotency_in_flight")
    assert send_with_retries(send, RetryPolicy(), sleep=lambda s: None).status_code == 202
    assert len(sent) == 3
    send, sent = answers(409, 202, code="conflict")
    assert send_with_retries(send, RetryPolicy(), sleep=lambda s: None).status_code == 409
    assert len(sent) == 1


def test_gives_up_with_the_last_server_error() -> None:
    send, sent = answers(503, 503, 503)
    with pytest.raises(UnavailableError) as raised:
        send_with_retries(send, RetryPolicy(attempts=3), sleep=lambda s: None)
    assert raised.value.status == 503 and raised.value.code == "e503" and len(sent) == 3


def test_gives_up_on_the_network_within_the_deadline() -> None:
    send, sent = answers(*[httpx.ReadTimeout("slow")] * 10)
    with pytest.raises(NetworkError, match="gave up after 1 attempts"):
        send_with_retries(send, RetryPolicy(base=100, deadline=0), sleep=lambda s: None)
    assert len(sent) == 1


def test_error_classes_follow_the_status() -> None:
    def error(status: int) -> ServerError:
        return ServerError.from_response(httpx.Response(status, text="plain", request=REQUEST))

    assert isinstance(error(409), RejectedError)
    assert isinstance(error(500), UnavailableError)
    assert error(418).message == "plain" and error(418).code == "http_error"
