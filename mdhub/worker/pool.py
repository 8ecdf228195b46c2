"""Worker threads: claim a job, keep its lease alive while it runs, repeat.

The server starts `MDHUB_WORKERS` of them in-process (the embedded default); `mdhub worker`
runs them in their own process, any number of them against one PostgreSQL. The first worker of
a pool also prunes change history past its retention and sweeps expired records
(services.housekeeping), at most every `maintenance_seconds`; a thread of the pool sends webhook
deliveries (worker.webhook_sender).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta

from mdhub.config import DEFAULT_CHANGE_RETENTION_DAYS, Settings
from mdhub.db.engine import Databases
from mdhub.ingest.job import Reporter
from mdhub.observability.logging import job_context
from mdhub.services import housekeeping, retention
from mdhub.storage import Storage
from mdhub.worker import queue
from mdhub.worker.runner import run_claimed
from mdhub.worker.webhook_sender import WebhookSender

log = logging.getLogger("mdhub.worker")

# Called after each job with its id, final status and run time in seconds.
OnFinished = Callable[[int, str, float], None]


@dataclass(frozen=True)
class WorkerOptions:
    lease_seconds: float = queue.LEASE_SECONDS
    poll_seconds: float = 0.25
    # Change history older than this is pruned (None: kept forever); Settings.change_retention.
    change_retention: timedelta | None = timedelta(days=DEFAULT_CHANGE_RETENTION_DAYS)
    maintenance_seconds: float = 600.0

    @classmethod
    def from_settings(cls, settings: Settings) -> WorkerOptions:
        return cls(lease_seconds=settings.lease_seconds, change_retention=settings.change_retention)


def worker_name(index: int = 0) -> str:
    """A name unique to this thread of this process on this machine (the lease owner)."""
    return f"{socket.gethostname()}:{os.getpid()}:{index}:{uuid.uuid4().hex[:6]}"[:64]


@contextmanager
def heartbeat(dbs: Databases, held: queue.Claim, lease_seconds: float) -> Iterator[None]:
    """Renew the claim's lease every third of its length until the block ends."""
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(lease_seconds / 3):
            try:
                if not queue.renew(dbs, held, lease_seconds=lease_seconds):
                    return  # taken over or ended: the runner finds out at its next check
            except Exception:  # a database hiccup: try again at the next beat
                log.exception("job %s: lease renewal failed", held.job_id)

    thread = threading.Thread(target=beat, name=f"heartbeat-{held.job_id}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


class Worker:
    """One worker: claims jobs one at a time and runs them."""

    def __init__(
        self,
        dbs: Databases,
        storage: Storage,
        *,
        name: str | None = None,
        options: WorkerOptions = WorkerOptions(),
        on_finished: OnFinished | None = None,
        maintains: bool = False,
    ) -> None:
        self.dbs = dbs
        self.storage = storage
        self.name = name or worker_name()
        self.options = options
        self.on_finished = on_finished
        self.maintains = maintains

    def run_once(self, *, job_id: int | None = None, viewer: Reporter | None = None) -> bool:
        """Claim and run one job (only `job_id` when given); False when none could be taken."""
        held = queue.claim(
            self.dbs, self.name, lease_seconds=self.options.lease_seconds, only=job_id
        )
        if held is None:
            return False
        started = time.monotonic()
        with job_context(held.job_id), heartbeat(self.dbs, held, self.options.lease_seconds):
            log.info("job %s claimed (attempt %s)", held.job_id, held.attempt)
            status = run_claimed(self.dbs, self.storage, held, viewer=viewer)
        if self.on_finished and status != "lost":
            self.on_finished(held.job_id, status, time.monotonic() - started)
        return True

    def maintain(self) -> None:
        """Prune change history past its retention and sweep expired records; a failure is
        logged and tried next time."""
        tasks: tuple[tuple[str, Callable[[], object]], ...] = (
            ("pruning change history", self._prune_changes),
            ("sweeping expired records", lambda: housekeeping.sweep_expired(self.dbs)),
        )
        for what, task in tasks:
            try:
                task()
            except Exception:
                log.exception("worker %s: %s failed", self.name, what)

    def _prune_changes(self) -> None:
        if self.options.change_retention is not None:
            retention.prune_changes(self.dbs, self.options.change_retention)

    def run(self, stop: threading.Event, wake: threading.Event | None = None) -> None:
        """Work until `stop` is set; errors of one round are logged, never fatal.

        Idle, the worker looks for jobs every `poll_seconds`, or at once when `wake` is set
        (by the server that just queued a job in this process).
        """
        wake = wake or stop
        next_maintenance = time.monotonic()
        while not stop.is_set():
            if self.maintains and time.monotonic() >= next_maintenance:
                next_maintenance = time.monotonic() + self.options.maintenance_seconds
                self.maintain()
            try:
                worked = self.run_once()
            except Exception:
                log.exception("worker %s: claiming or running a job failed", self.name)
                worked = False
            if not worked:
                wake.wait(self.options.poll_seconds)
                if wake is not stop:
                    wake.clear()


class WorkerPool:
    """`count` worker threads sharing one stop signal."""

    def __init__(
        self,
        dbs: Databases,
        storage: Storage,
        count: int,
        *,
        options: WorkerOptions = WorkerOptions(),
        on_finished: OnFinished | None = None,
    ) -> None:
        self._stop = threading.Event()
        self._wake = threading.Event()
        self.workers = [
            Worker(
                dbs,
                storage,
                name=worker_name(i),
                options=options,
                on_finished=on_finished,
                maintains=i == 0,
            )
            for i in range(count)
        ]
        # A pool with workers also sends the webhook deliveries of the jobs they finish.
        self.sender = WebhookSender(dbs) if count else None
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        for worker in self.workers:
            self._start(f"worker-{worker.name}", worker.run, self._stop, self._wake)
        if self.sender is not None:
            self._start("webhook-sender", self.sender.run, self._stop)

    def _start(self, name: str, target: Callable[..., None], *args: object) -> None:
        thread = threading.Thread(target=target, args=args, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    def wake(self) -> None:
        """Have idle workers look for a job now (one was just queued)."""
        self._wake.set()

    def stop(self, timeout: float | None = None) -> None:
        """Ask the workers to stop after their current job and wait for them."""
        self._stop.set()
        self._wake.set()
        for thread in self._threads:
            thread.join(timeout)
        self._threads.clear()

    def wait(self) -> None:
        """Block until stopped (for `mdhub worker`)."""
        try:
            while any(t.is_alive() for t in self._threads):
                for thread in self._threads:
                    thread.join(0.5)
        finally:
            self.stop()
