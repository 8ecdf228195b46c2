"""Metrics and structured logs for the app and the workers."""

from mdhub.observability.logging import (
    JsonFormatter,
    configure_logging,
    current_job_id,
    job_context,
    uvicorn_log_config,
)
from mdhub.observability.metrics import Metrics, MetricsMiddleware, route_template

__all__ = [
    "JsonFormatter",
    "Metrics",
    "MetricsMiddleware",
    "configure_logging",
    "current_job_id",
    "job_context",
    "route_template",
    "uvicorn_log_config",
]
