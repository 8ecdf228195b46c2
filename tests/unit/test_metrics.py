"""Prometheus metrics: HTTP requests by route template, finished jobs, job gauges from the DB."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from fastapi import APIRouter, FastAPI
from fastapi.responses import PlainTextResponse, StreamingResponse
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import insert
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.routing import Route

from mdhub.db import migrate
from mdhub.db.engine import Databases, open_databases
from mdhub.db.tables import jobs
from mdhub.observability import Metrics, MetricsMiddleware

STREAM_PAUSE = 0.05


def samples(metrics: Metrics) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample of the rendered exposition text, by name and labels."""
    body, content_type = metrics.render()
    assert content_type.startswith("text/plain")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(body.decode())
        for sample in family.samples
    }


def value(metrics: Metrics, name: str, **labels: str) -> float | None:
    return samples(metrics).get((name, frozenset(labels.items())))


def build_app(metrics: Metrics) -> FastAPI:
    app = FastAPI()
    router = APIRouter(prefix="/jobs")

    @router.get("/{job_id}")
    def get_job(job_id: int) -> dict[str, int]:
        return {"id": job_id}

    @router.get("/{job_id}/log")
    def stream_log(job_id: int) -> StreamingResponse:
        async def lines() -> AsyncIterator[bytes]:
            for n in range(3):
                await asyncio.sleep(STREAM_PAUSE)
                yield f"{job_id}: line {n}\n".encode()

        return StreamingResponse(lines(), media_type="text/plain")

    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError("boom")

    def page(request: Request) -> PlainTextResponse:
        return PlainTextResponse(request.path_params["name"])

    app.include_router(router, prefix="/api/v1")
    app.mount("/web", Starlette(routes=[Route("/pages/{name}", page)]))
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    return app


def request(app: FastAPI, method: str, path: str) -> httpx.Response:
    async def send() -> httpx.Response:
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return await client.request(method, path)

    return asyncio.run(send())


@pytest.fixture
def dbs(tmp_path: Path) -> Iterator[Databases]:
    dbs = open_databases(f"sqlite:///{tmp_path / 'm.db'}")
    migrate.upgrade(dbs)
    yield dbs
    dbs.dispose()


def add_jobs(dbs: Databases, *statuses: str) -> None:
    now = datetime.now(UTC)
    rows = [
        {
            "workspace_id": 1,
            "status": status,
            "dry_run": False,
            "options": {},
            "rows_read": 0,
            "bytes_read": 0,
            "bytes_total": 0,
            "error_count": 0,
            "attempt": 0,
            "created_at": now,
        }
        for status in statuses
    ]
    with dbs.meta.begin() as conn:
        conn.execute(insert(jobs), rows)


def test_requests_are_counted_by_route_template() -> None:
    metrics = Metrics()
    app = build_app(metrics)
    for path in ("/api/v1/jobs/1", "/api/v1/jobs/2", "/web/pages/about"):
        assert request(app, "GET", path).status_code == 200
    assert request(app, "GET", "/nowhere/3").status_code == 404
    assert request(app, "DELETE", "/api/v1/jobs/1").status_code == 405
    assert request(app, "GET", "/api/v1/jobs/x").status_code == 422

    def count(method: str, route: str, status: str) -> float | None:
        return value(
            metrics, "mdhub_http_requests_total", method=method, route=route, status=status
        )

    assert count("GET", "/api/v1/jobs/{job_id}", "200") == 2
    assert count("GET", "/web/pages/{name}", "200") == 1
    assert count("GET", "unmatched", "404") == 1
    assert count("DELETE", "/api/v1/jobs/{job_id}", "405") == 1
    assert count("GET", "/api/v1/jobs/{job_id}", "422") == 1
    assert not any("/nowhere" in str(labels) for _, labels in samples(metrics))
    duration = value(
        metrics, "mdhub_http_request_duration_seconds_count", method="GET", route="unmatched"
    )
    assert duration == 1


def test_a_streamed_response_is_timed_to_its_end() -> None:
    metrics = Metrics()
    response = request(build_app(metrics), "GET", "/api/v1/jobs/7/log")
    assert response.text.count("line") == 3
    route = "/api/v1/jobs/{job_id}/log"
    assert value(metrics, "mdhub_http_requests_total", method="GET", route=route, status="200")
    seconds = value(metrics, "mdhub_http_request_duration_seconds_sum", method="GET", route=route)
    assert seconds is not None and seconds >= 3 * STREAM_PAUSE


def test_an_app_error_is_counted_as_500() -> None:
    metrics = Metrics()
    assert request(build_app(metrics), "GET", "/boom").status_code == 500
    assert value(metrics, "mdhub_http_requests_total", method="GET", route="/boom", status="500")


def test_an_unknown_method_is_not_a_label() -> None:
    metrics = Metrics()
    request(build_app(metrics), "BREW", "/api/v1/jobs/1")
    labels = {dict(label_set).get("method") for _, label_set in samples(metrics)}
    assert "BREW" not in labels
    assert "other" in labels


def test_finished_jobs_are_counted_and_timed() -> None:
    metrics = Metrics()
    metrics.job_finished("succeeded", 2.0, 100)
    metrics.job_finished("succeeded", 0.3, 20)
    metrics.job_finished("failed", 0.2, 0)
    assert value(metrics, "mdhub_jobs_finished_total", status="succeeded") == 2
    assert value(metrics, "mdhub_jobs_finished_total", status="failed") == 1
    assert value(metrics, "mdhub_job_duration_seconds_count") == 3
    assert value(metrics, "mdhub_job_duration_seconds_sum") == pytest.approx(2.5)
    assert value(metrics, "mdhub_job_duration_seconds_bucket", le="0.1") == 0
    assert value(metrics, "mdhub_job_duration_seconds_bucket", le="0.5") == 2
    assert value(metrics, "mdhub_job_duration_seconds_bucket", le="3600.0") == 3
    assert value(metrics, "mdhub_rows_applied_total") == 120


def test_each_instance_has_its_own_registry() -> None:
    first, second = Metrics(), Metrics()
    first.job_finished("succeeded", 1.0, 5)
    assert value(first, "mdhub_rows_applied_total") == 5
    assert value(second, "mdhub_rows_applied_total") == 0


def test_job_gauges_are_read_from_the_database_at_each_scrape(dbs: Databases) -> None:
    metrics = Metrics(dbs)
    assert value(metrics, "mdhub_queue_depth") == 0
    add_jobs(dbs, "queued", "queued", "running", "succeeded", "failed", "created")
    expected = {
        "created": 1,
        "queued": 2,
        "running": 1,
        "succeeded": 1,
        "failed": 1,
        "cancelled": 0,
    }
    for status, count in expected.items():
        assert value(metrics, "mdhub_jobs", status=status) == count
    assert value(metrics, "mdhub_queue_depth") == 2
    # Another process's metrics (here another instance) report the same numbers.
    assert value(Metrics(dbs), "mdhub_queue_depth") == 2


def test_job_gauges_are_left_out_when_the_query_fails(tmp_path: Path) -> None:
    unmigrated = open_databases(f"sqlite:///{tmp_path / 'empty.db'}")
    try:
        metrics = Metrics(unmigrated)
        metrics.job_finished("succeeded", 1.0, 1)
        names = {name for name, _ in samples(metrics)}
    finally:
        unmigrated.dispose()
    assert "mdhub_jobs" not in names
    assert "mdhub_queue_depth" not in names
    assert "mdhub_rows_applied_total" in names


def test_job_gauges_follow_the_databases_in_use(dbs: Databases) -> None:
    metrics = Metrics()
    assert value(metrics, "mdhub_queue_depth") is None
    add_jobs(dbs, "queued")
    metrics.use_databases(dbs)
    assert value(metrics, "mdhub_queue_depth") == 1
    metrics.use_databases(None)
    assert value(metrics, "mdhub_queue_depth") is None
