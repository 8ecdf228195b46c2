"""Sending webhook deliveries (see mdhub.services.webhooks): a thread of each worker pool
claims the next due delivery, POSTs it, and records the outcome; a failed attempt is tried
again after a delay that doubles each time, up to an hour."""

from __future__ import annotations

import json
import logging
import threading
from datetime import timedelta

import httpx

from mdhub.db.engine import Databases
from mdhub.services import job_views, webhooks

log = logging.getLogger("mdhub.webhooks")

TIMEOUT_SECONDS = 10.0
POLL_SECONDS = 1.0
FIRST_RETRY_SECONDS = 10.0
LONGEST_RETRY = timedelta(hours=1)
# How long a claimed delivery is this sender's: past it (the sender died), another sends it.
CLAIM_HOLD = timedelta(seconds=2 * TIMEOUT_SECONDS)


class WebhookSender:
    """Sends due deliveries one at a time until stopped."""

    def __init__(
        self,
        dbs: Databases,
        *,
        poll_seconds: float = POLL_SECONDS,
        first_retry_seconds: float = FIRST_RETRY_SECONDS,
    ) -> None:
        self.dbs = dbs
        self.poll_seconds = poll_seconds
        self.first_retry_seconds = first_retry_seconds
        self._http = httpx.Client(timeout=TIMEOUT_SECONDS, follow_redirects=False)

    def run(self, stop: threading.Event) -> None:
        try:
            while not stop.is_set():
                try:
                    sent = self.send_next()
                except Exception:
                    log.exception("sending a webhook delivery failed")
                    sent = False
                if not sent:
                    stop.wait(self.poll_seconds)
        finally:
            self._http.close()

    def send_next(self) -> bool:
        """Send the next due delivery; False when none was due."""
        delivery = webhooks.claim_due(self.dbs, CLAIM_HOLD)
        if delivery is None:
            return False
        body = self._payload(delivery)
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "mdhub-webhooks",
            "X-Mdhub-Event": delivery.event,
            "X-Mdhub-Delivery": str(delivery.id),
            webhooks.SIGNATURE_HEADER: webhooks.signature(delivery.secret, body),
        }
        try:
            answer = self._http.post(delivery.url, content=body, headers=headers)
            error = None if answer.is_success else f"answered {answer.status_code}"
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"
        if error is None:
            webhooks.delivered(self.dbs, delivery)
        else:
            delay = timedelta(seconds=self.first_retry_seconds * 2 ** (delivery.attempt - 1))
            webhooks.not_delivered(self.dbs, delivery, error, min(delay, LONGEST_RETRY))
            log.warning(
                "webhook %s, delivery %s (attempt %s): %s",
                delivery.webhook_id,
                delivery.id,
                delivery.attempt,
                error,
            )
        return True

    def _payload(self, delivery: webhooks.Delivery) -> bytes:
        """The event, the delivery's id and the job as `GET /jobs/{id}` shows it."""
        job = job_views.get_job(self.dbs, delivery.job_id, workspace=delivery.workspace)
        body = {"event": delivery.event, "delivery": delivery.id, "job": job}
        return json.dumps(body, default=str, separators=(",", ":")).encode()
