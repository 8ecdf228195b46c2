"""Webhooks on both databases, against a real HTTP receiver: a job's end is POSTed, signed with
the webhook's secret, by the workers' sender; a delivery that fails is tried again until it
succeeds or its attempts run out; only the events asked for are sent; the API refuses what is
wrong."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from mdhub.config import Settings
from mdhub.core import times
from mdhub.services import housekeeping, jobs, webhooks
from mdhub.services.hub import Hub
from mdhub.worker.webhook_sender import WebhookSender
from tests.helpers import VENDORS_SCHEMA, vendor, write_csv
from tests.integration.test_api import (
    API,
    INITIAL,
    assert_error,
    create_vendors,
    csv_bytes,
    push,
    serve,
)

DEADLINE_SECONDS = 30.0
POLL_SECONDS = 0.02


class Receiver:
    """An HTTP server that records each POST and answers the next status of `statuses` (then
    200)."""

    def __init__(self) -> None:
        self.received: list[tuple[dict[str, str], bytes]] = []
        self.statuses: list[int] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.received.append((dict(self.headers.items()), body))
                self.send_response(receiver.statuses.pop(0) if receiver.statuses else 200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def bodies(self) -> list[dict[str, Any]]:
        return [json.loads(body) for _, body in self.received]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    started = Receiver()
    started.thread.start()
    yield started
    started.server.shutdown()
    started.server.server_close()


def until(condition: Any, what: str) -> None:
    deadline = time.monotonic() + DEADLINE_SECONDS
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not within {DEADLINE_SECONDS} s")
        time.sleep(POLL_SECONDS)


def signed(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def test_a_jobs_end_is_posted_signed_by_the_workers(settings: Settings, receiver: Receiver) -> None:
    async def body(client: httpx.AsyncClient) -> None:
        created = await client.post(f"{API}/webhooks", json={"url": receiver.url})
        assert created.status_code == 201, created.text
        webhook = created.json()
        assert webhook["events"] == list(webhooks.EVENTS) and len(webhook["secret"]) == 64
        await create_vendors(client)
        job = await push(client, "vendors", csv_bytes(INITIAL), "v.csv")
        assert job["status"] == "succeeded"

        await asyncio.to_thread(until, lambda: receiver.received, "a delivery")
        headers, sent = receiver.received[0]
        assert headers["X-Mdhub-Event"] == "job.succeeded"
        assert headers["X-Mdhub-Signature"] == signed(webhook["secret"], sent)
        event = json.loads(sent)
        assert event["event"] == "job.succeeded"
        assert event["job"]["id"] == job["id"] and event["job"]["statistics"]["inserted"] == 5
        url = f"{API}/webhooks/{webhook['id']}/deliveries"

        async def delivered() -> list[dict[str, Any]]:
            deadline = time.monotonic() + DEADLINE_SECONDS
            while time.monotonic() < deadline:
                results: list[dict[str, Any]] = (await client.get(url)).json()["results"]
                if results and results[0]["status"] == "delivered":
                    return results
                await asyncio.sleep(POLL_SECONDS)
            pytest.fail("the delivery was not marked delivered")

        [delivery] = await delivered()
        assert delivery["id"] == event["delivery"] and delivery["attempts"] == 1
        assert (delivery["job"], delivery["event"]) == (job["id"], "job.succeeded")
        listed = (await client.get(f"{API}/webhooks")).json()
        assert [w["id"] for w in listed["results"]] == [webhook["id"]]
        assert "secret" not in listed["results"][0]

    serve(settings, body)


def apply(hub: Hub, tmp_path: Path, rows: list[list[Any]]) -> int:
    job = hub.apply("vendors", write_csv(tmp_path / "v.csv", rows))
    return int(job["id"])


def deliveries(hub: Hub, webhook_id: int) -> list[dict[str, Any]]:
    return webhooks.list_deliveries(hub.dbs, "default", webhook_id)


def test_a_failed_delivery_is_tried_again_until_it_is_answered(
    hub: Hub, tmp_path: Path, receiver: Receiver
) -> None:
    hub.create_dataset("vendors", schema=VENDORS_SCHEMA)
    webhook = webhooks.create_webhook(hub.dbs, "default", receiver.url)
    job_id = apply(hub, tmp_path, [vendor(1)])
    sender = WebhookSender(hub.dbs, first_retry_seconds=0.05)
    receiver.statuses = [500, 503]
    sent = 0
    deadline = time.monotonic() + DEADLINE_SECONDS
    while deliveries(hub, webhook["id"])[0]["status"] == "pending":
        assert time.monotonic() < deadline, deliveries(hub, webhook["id"])
        sent += sender.send_next()
        time.sleep(POLL_SECONDS)
    [delivery] = deliveries(hub, webhook["id"])
    assert (delivery["status"], delivery["attempts"], delivery["job"]) == ("delivered", 3, job_id)
    assert delivery["last_error"] is None and sent == 3
    # The same delivery each time: one event, three attempts.
    assert [b["delivery"] for b in receiver.bodies()] == [delivery["id"]] * 3
    assert not sender.send_next()  # nothing more is due


def test_a_delivery_gives_up_after_its_last_attempt(
    hub: Hub, tmp_path: Path, receiver: Receiver
) -> None:
    hub.create_dataset("vendors", schema=VENDORS_SCHEMA)
    webhook = webhooks.create_webhook(hub.dbs, "default", receiver.url)
    apply(hub, tmp_path, [vendor(1)])
    receiver.statuses = [500] * webhooks.MAX_ATTEMPTS
    sender = WebhookSender(hub.dbs, first_retry_seconds=0.001)
    deadline = time.monotonic() + DEADLINE_SECONDS
    while deliveries(hub, webhook["id"])[0]["status"] == "pending":
        assert time.monotonic() < deadline
        sender.send_next()
    [delivery] = deliveries(hub, webhook["id"])
    assert (delivery["status"], delivery["attempts"]) == ("failed", webhooks.MAX_ATTEMPTS)
    assert delivery["last_error"] == "answered 500"
    assert len(receiver.received) == webhooks.MAX_ATTEMPTS


def test_only_the_events_asked_for_are_sent(hub: Hub, tmp_path: Path, receiver: Receiver) -> None:
    hub.create_dataset("vendors", schema=VENDORS_SCHEMA)
    failures = webhooks.create_webhook(hub.dbs, "default", receiver.url, ["job.failed"])
    ends = webhooks.create_webhook(hub.dbs, "default", receiver.url, ["job.cancelled"])
    apply(hub, tmp_path, [vendor(1)])  # succeeds: neither wants it
    bad = write_csv(tmp_path / "bad.csv", [["V1", "x", "not a number", 1, "true", "2024-01-15"]])
    failed = hub.apply("vendors", bad)
    assert failed["status"] == "failed"
    queued = hub.submit("vendors", write_csv(tmp_path / "later.csv", [vendor(2)]))
    jobs.cancel_job(hub.dbs, "default", queued)
    assert [(d["job"], d["event"]) for d in deliveries(hub, failures["id"])] == [
        (failed["id"], "job.failed")
    ]
    assert [(d["job"], d["event"]) for d in deliveries(hub, ends["id"])] == [
        (queued, "job.cancelled")
    ]
    sender = WebhookSender(hub.dbs)
    while sender.send_next():
        pass
    assert sorted(b["event"] for b in receiver.bodies()) == ["job.cancelled", "job.failed"]
    webhooks.delete_webhook(hub.dbs, "default", failures["id"])
    with pytest.raises(Exception, match="not found"):
        deliveries(hub, failures["id"])


def test_webhook_requests_that_are_wrong_are_refused(settings: Settings) -> None:
    async def body(client: httpx.AsyncClient) -> None:
        for wrong in (
            {"url": "ftp://example.com/x"},
            {"url": "https://"},
            {"url": "https://example.com/x", "events": ["job.started"]},
            {"url": "https://example.com/x", "events": []},
            {"url": "https://example.com/x", "secret": "mine"},
        ):
            assert_error(await client.post(f"{API}/webhooks", json=wrong), 400, "invalid_request")
        assert_error(await client.delete(f"{API}/webhooks/99"), 404, "not_found")
        assert_error(await client.get(f"{API}/webhooks/99/deliveries"), 404, "not_found")
        for i in range(3):
            hook = {"url": f"https://example.com/{i}"}
            assert (await client.post(f"{API}/webhooks", json=hook)).status_code == 201
        first = (await client.get(f"{API}/webhooks", params={"limit": 2})).json()
        rest = await client.get(f"{API}/webhooks", params={"limit": 2, "cursor": first["next"]})
        urls = [w["url"] for w in first["results"] + rest.json()["results"]]
        assert urls == [f"https://example.com/{i}" for i in range(3)]
        assert rest.json()["next"] is None

    serve(settings, body)


def test_done_deliveries_are_swept_after_a_month(
    hub: Hub, tmp_path: Path, receiver: Receiver
) -> None:
    hub.create_dataset("vendors", schema=VENDORS_SCHEMA)
    webhook = webhooks.create_webhook(hub.dbs, "default", receiver.url)
    apply(hub, tmp_path, [vendor(1)])
    later = times.now() + housekeeping.DONE_DELIVERIES_KEPT + timedelta(days=1)
    housekeeping.sweep_expired(hub.dbs, now=later)
    assert [d["status"] for d in deliveries(hub, webhook["id"])] == ["pending"]
    assert WebhookSender(hub.dbs).send_next()
    housekeeping.sweep_expired(hub.dbs)
    assert [d["status"] for d in deliveries(hub, webhook["id"])] == ["delivered"]
    housekeeping.sweep_expired(hub.dbs, now=later)
    assert deliveries(hub, webhook["id"]) == []
