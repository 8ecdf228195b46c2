"""Structured JSON logs: fields, the job being run, exceptions, and uvicorn's loggers."""

from __future__ import annotations

import io
import json
import logging
import logging.config
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from mdhub.observability import configure_logging, job_context, uvicorn_log_config
from mdhub.observability.logging import HANDLER_NAME

UVICORN_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access")


@contextmanager
def kept_logging() -> Iterator[None]:
    """Put the root and uvicorn loggers back as they were (pytest's own handlers included)."""
    loggers = [logging.getLogger(), *(logging.getLogger(name) for name in UVICORN_LOGGERS)]
    saved = [(lg, list(lg.handlers), lg.level, lg.propagate) for lg in loggers]
    try:
        yield
    finally:
        for lg, handlers, level, propagate in saved:
            for handler in lg.handlers:
                if handler not in handlers:
                    handler.close()
            lg.handlers[:] = handlers
            lg.setLevel(level)
            lg.propagate = propagate


@pytest.fixture
def stream() -> Iterator[io.StringIO]:
    """Root logging configured as JSON into a string buffer."""
    buffer = io.StringIO()
    with kept_logging():
        configure_logging("debug", stream=buffer)
        yield buffer


def lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_a_record_is_one_json_line(stream: io.StringIO) -> None:
    before = datetime.now(UTC)
    logging.getLogger("mdhub.test").info(
        "loaded %d rows", 3, extra={"dataset": "vendors", "handle": object()}
    )
    [entry] = lines(stream)
    assert entry["level"] == "info"
    assert entry["logger"] == "mdhub.test"
    assert entry["message"] == "loaded 3 rows"
    assert entry["dataset"] == "vendors"
    assert "handle" not in entry
    assert "job_id" not in entry
    assert "exc_info" not in entry
    logged_at = datetime.fromisoformat(entry["time"])
    assert logged_at.utcoffset() == timedelta(0)
    assert before.replace(microsecond=0) <= logged_at
    assert not {"args", "msg", "levelno", "pathname", "thread"} & set(entry)


def test_job_id_is_set_inside_job_context_only(stream: io.StringIO) -> None:
    log = logging.getLogger("mdhub.worker")
    log.info("before")
    with job_context(42):
        log.info("during")
        with job_context(43):
            log.info("nested")
        log.info("after nested")
    log.info("after")
    assert [entry.get("job_id") for entry in lines(stream)] == [None, 42, 43, 42, None]


def test_job_context_belongs_to_its_thread(stream: io.StringIO) -> None:
    log = logging.getLogger("mdhub.worker")

    def run_job() -> None:
        with job_context(7):
            log.info("in the job's thread")

    with job_context(1):
        thread = threading.Thread(target=run_job)
        thread.start()
        thread.join()
    other = threading.Thread(target=log.info, args=("in another thread",))
    other.start()
    other.join()
    by_message = {entry["message"]: entry.get("job_id") for entry in lines(stream)}
    assert by_message == {"in the job's thread": 7, "in another thread": None}


def test_an_exception_is_logged_with_its_traceback(stream: io.StringIO) -> None:
    try:
        raise ValueError("bad row")
    except ValueError:
        logging.getLogger("mdhub.worker").exception("job failed")
    [entry] = lines(stream)
    assert entry["level"] == "error"
    assert entry["message"] == "job failed"
    assert entry["exc_info"].startswith("Traceback")
    assert "ValueError: bad row" in entry["exc_info"]


def test_configuring_twice_keeps_one_handler() -> None:
    first, second = io.StringIO(), io.StringIO()
    with kept_logging():
        configure_logging("info", stream=first)
        configure_logging("warning", json=False, stream=second)
        root = logging.getLogger()
        assert [h.get_name() for h in root.handlers].count(HANDLER_NAME) == 1
        assert root.level == logging.WARNING
        logging.getLogger("mdhub.test").warning("plain %s", "text")
        logging.getLogger("mdhub.test").info("dropped")
    assert first.getvalue() == ""
    assert second.getvalue().rstrip().endswith("WARNING mdhub.test: plain text")


def test_uvicorn_loggers_write_json(capsys: pytest.CaptureFixture[str]) -> None:
    with kept_logging():
        logging.config.dictConfig(uvicorn_log_config("info"))
        logging.getLogger("uvicorn.error").info(
            "Started server process [%d]", 12, extra={"color_message": "\x1b[1m12\x1b[0m"}
        )
        logging.getLogger("uvicorn.access").info(
            '%s - "%s %s HTTP/%s" %d', "127.0.0.1:5000", "GET", "/healthz", "1.1", 200
        )
        logging.getLogger("uvicorn.access").debug("below the level")
        logging.getLogger("mdhub.app").warning("the app's own logs too")
        with job_context(5):
            logging.getLogger("uvicorn.error").info("inside a job")
    entries = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert [(e["logger"], e["message"]) for e in entries] == [
        ("uvicorn.error", "Started server process [12]"),
        ("uvicorn.access", '127.0.0.1:5000 - "GET /healthz HTTP/1.1" 200'),
        ("mdhub.app", "the app's own logs too"),
        ("uvicorn.error", "inside a job"),
    ]
    assert "color_message" not in entries[0]
    assert entries[3]["job_id"] == 5
