"""Structured logs: one JSON object per line, tagged with the job being run."""

from __future__ import annotations

import json as jsonlib
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any, TextIO

HANDLER_NAME = "mdhub"
PLAIN_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

current_job_id: ContextVar[int | None] = ContextVar("current_job_id", default=None)

# Attributes every LogRecord has; anything else on a record came from `extra=`.
# `color_message` is uvicorn's coloured copy of the message.
_RECORD_ATTRIBUTES = frozenset(vars(logging.makeLogRecord({}))) | {
    "message",
    "asctime",
    "taskName",
    "color_message",
}


@contextmanager
def job_context(job_id: int) -> Iterator[None]:
    """Tag every log line written inside the block (in this thread or task) with `job_id`."""
    token = current_job_id.set(job_id)
    try:
        yield
    finally:
        current_job_id.reset(token)


class JsonFormatter(logging.Formatter):
    """A record as one line of JSON: time, level, logger, message, job_id, exc_info, extras."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        job_id = current_job_id.get()
        if job_id is not None:
            entry["job_id"] = job_id
        if record.exc_info:
            entry["exc_info"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack_info"] = self.formatStack(record.stack_info)
        for key, value in vars(record).items():
            if key not in _RECORD_ATTRIBUTES and _serialisable(value):
                entry[key] = value
        return jsonlib.dumps(entry, ensure_ascii=False)


def _serialisable(value: Any) -> bool:
    try:
        jsonlib.dumps(value)
    except (TypeError, ValueError):
        return False
    return True


def _formatter(json: bool) -> logging.Formatter:
    return JsonFormatter() if json else logging.Formatter(PLAIN_FORMAT)


def configure_logging(
    level: str = "info", json: bool = True, *, stream: TextIO | None = None
) -> None:
    """Send the root logger's records to one stream handler (stderr by default).

    Calling it again replaces that handler rather than adding a second one.
    """
    root = logging.getLogger()
    for handler in list(root.handlers):
        if handler.get_name() == HANDLER_NAME:
            root.removeHandler(handler)
            handler.close()
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.set_name(HANDLER_NAME)
    handler.setFormatter(_formatter(json))
    root.addHandler(handler)
    root.setLevel(level.upper())


def uvicorn_log_config(level: str = "info", json: bool = True) -> dict[str, Any]:
    """A `uvicorn.run(log_config=...)` dictionary: uvicorn's loggers and the root logger
    share one handler and format, in every process uvicorn starts."""
    level = level.upper()
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"mdhub": {"()": JsonFormatter} if json else {"format": PLAIN_FORMAT}},
        "handlers": {
            # Named like configure_logging's handler, so either replaces the other.
            HANDLER_NAME: {
                "class": "logging.StreamHandler",
                "formatter": "mdhub",
                "stream": "ext://sys.stderr",
            }
        },
        "loggers": {
            name: {"handlers": [], "level": level, "propagate": True}
            for name in ("uvicorn", "uvicorn.error", "uvicorn.access")
        },
        "root": {"handlers": [HANDLER_NAME], "level": level},
    }
