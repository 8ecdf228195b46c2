"""Prometheus metrics: HTTP requests, finished jobs, and job gauges read from the metadata store."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterable

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.multiprocess import MultiProcessCollector
from sqlalchemy import Engine, func, select
from starlette.routing import Mount
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mdhub.db.engine import Databases
from mdhub.db.tables import jobs

logger = logging.getLogger(__name__)

# Set (to a directory) before prometheus_client is imported, it makes every process write its
# metric values there: the variable prometheus_client itself reads.
MULTIPROCESS_DIR_ENV = "PROMETHEUS_MULTIPROC_DIR"
JOB_STATUSES = ("created", "queued", "running", "succeeded", "failed", "cancelled")
UNMATCHED = "unmatched"
# Label values come from the request; anything else would let a client create new series.
HTTP_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
JOB_DURATION_BUCKETS = (0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1200, 1800, 3600)


class Metrics:
    """One process's metrics, on a registry of its own (an app or a worker builds one).

    The job gauges are read from the metadata store at each scrape, so every process reports
    the same numbers; without databases (`dbs=None`) they are left out.
    """

    def __init__(self, dbs: Databases | None = None) -> None:
        self.registry = CollectorRegistry()
        self.http_requests = Counter(
            "mdhub_http_requests_total",
            "HTTP requests answered, by method, route template and status.",
            ("method", "route", "status"),
            registry=self.registry,
        )
        self.http_duration = Histogram(
            "mdhub_http_request_duration_seconds",
            "Time from receiving an HTTP request to the end of its response.",
            ("method", "route"),
            registry=self.registry,
        )
        self.jobs_finished = Counter(
            "mdhub_jobs_finished_total",
            "Jobs that reached a final status in this process.",
            ("status",),
            registry=self.registry,
        )
        self.job_duration = Histogram(
            "mdhub_job_duration_seconds",
            "Time a job ran in a worker, until its final status.",
            buckets=JOB_DURATION_BUCKETS,
            registry=self.registry,
        )
        self.rows_applied = Counter(
            "mdhub_rows_applied_total",
            "Dataset rows inserted, updated or deleted by jobs in this process.",
            registry=self.registry,
        )
        self._jobs = JobsCollector(dbs)
        self.registry.register(self._jobs)

    def use_databases(self, dbs: Databases | None) -> None:
        """Read the job gauges from `dbs` from now on (None: leave them out)."""
        self._jobs.dbs = dbs

    def http_request(self, method: str, route: str, status: int, duration_seconds: float) -> None:
        method = method if method in HTTP_METHODS else "other"
        self.http_requests.labels(method, route, str(status)).inc()
        self.http_duration.labels(method, route).observe(duration_seconds)

    def job_finished(self, status: str, duration_seconds: float, rows_applied: int) -> None:
        self.jobs_finished.labels(status).inc()
        self.job_duration.observe(duration_seconds)
        self.rows_applied.inc(rows_applied)

    def render(self) -> tuple[bytes, str]:
        """The exposition text and its content type, for a `/metrics` response.

        Where several server processes share the metrics directory (mdhub.serving), the
        counters and histograms are those of all of them, summed."""
        registry = self.registry
        shared_dir = os.environ.get(MULTIPROCESS_DIR_ENV)
        if shared_dir:
            registry = CollectorRegistry()
            MultiProcessCollector(registry, path=shared_dir)
            registry.register(self._jobs)
        return generate_latest(registry), CONTENT_TYPE_LATEST


class JobsCollector:
    """`mdhub_jobs{status}` and `mdhub_queue_depth`, counted in the metadata store per scrape."""

    def __init__(self, dbs: Databases | None) -> None:
        self.dbs = dbs

    def describe(self) -> Iterable[Metric]:
        # Lets the registry learn the names without running the query at registration.
        return _job_families()

    def collect(self) -> Iterable[Metric]:
        if self.dbs is None:
            return []
        try:
            counts = count_jobs_by_status(self.dbs.meta)
        except Exception as exc:  # a scrape must answer even when the database does not
            logger.warning("job gauges left out of this scrape: %s", exc)
            return []
        by_status, queue_depth = _job_families()
        extra = sorted(set(counts) - set(JOB_STATUSES))
        for status in (*JOB_STATUSES, *extra):
            by_status.add_metric([status], counts.get(status, 0))
        queue_depth.add_metric([], counts.get("queued", 0))
        return [by_status, queue_depth]


def count_jobs_by_status(engine: Engine) -> dict[str, int]:
    query = select(jobs.c.status, func.count()).group_by(jobs.c.status)
    with engine.connect() as conn:
        return {status: int(count) for status, count in conn.execute(query)}


def _job_families() -> tuple[GaugeMetricFamily, GaugeMetricFamily]:
    return (
        GaugeMetricFamily(
            "mdhub_jobs", "Jobs in the metadata store, by status.", labels=["status"]
        ),
        GaugeMetricFamily("mdhub_queue_depth", "Jobs waiting for a worker (status queued)."),
    )


class MetricsMiddleware:
    """ASGI middleware counting and timing HTTP requests by route template.

    The status is the one the response started with; the duration runs until the app returns,
    so a streamed response is timed to its last chunk.
    """

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        root_path = scope.get("root_path", "")
        started = time.perf_counter()
        status = 500  # an app that raises before responding is answered with a 500

        async def send_and_record(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_record)
        finally:
            self.metrics.http_request(
                scope["method"],
                route_template(scope, root_path=root_path),
                status,
                time.perf_counter() - started,
            )


def route_template(scope: Scope, *, root_path: str = "") -> str:
    """The path template of the route that answered, with include_router() and mount prefixes.

    Read after the app ran (the router sets `scope["route"]`); `root_path` is the one the scope
    had before, so the part mounts added to it can be told apart.
    """
    route = scope.get("route")
    if route is None:
        return UNMATCHED
    mounted = scope.get("root_path", "")[len(root_path) :]
    if isinstance(route, Mount):
        # The mounted app answered by itself (static files, a plain ASGI app).
        return f"{mounted}/{{path}}"
    # Since FastAPI 0.137 `scope["route"]` is the route as declared, without the prefixes of
    # include_router(); the prefixed path is on the route context FastAPI selected.
    context = scope.get("fastapi", {}).get("effective_route_context")
    if context is not None and getattr(context, "original_route", None) is route:
        path = getattr(context, "path", None)
    else:
        path = getattr(route, "path", None)
    return mounted + path if isinstance(path, str) else UNMATCHED
