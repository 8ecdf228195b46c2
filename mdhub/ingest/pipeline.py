"""Staging as a two-stage pipeline: a thread reads, validates and encodes batches while the
caller's thread bulk-loads the previous one, so parsing and the database work side by side.

Memory stays bounded: at most QUEUE_DEPTH encoded batches wait between the two (invariant 4).
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from mdhub.db.dialect import Loader
from mdhub.ingest.model import RawBatch

QUEUE_DEPTH = 3
_DONE = object()


@dataclass
class StageCounts:
    """Counts of one part's staging: rows read, rows that failed validation, rows loaded."""

    read: int = 0
    failed: int = 0
    loaded: int = 0


@dataclass
class _Item:
    rows: int
    failed: int
    loaded: int
    bytes_read: int
    payload: Any


def stage(
    batches: Iterator[RawBatch],
    *,
    validate: Callable[[RawBatch], tuple[pa.RecordBatch, int]],
    loader: Loader,
    keep_loading: Callable[[], bool],
    on_batch: Callable[[int, int], None],
) -> StageCounts:
    """Validate and load every batch; `keep_loading()` false means only validate (the job will
    fail anyway, but its errors are still counted). `on_batch(rows, bytes_read)` runs in the
    caller's thread and may raise (cancellation) to stop everything."""
    items: queue.Queue[Any] = queue.Queue(maxsize=QUEUE_DEPTH)
    stop = threading.Event()

    def produce() -> None:
        try:
            for raw in batches:
                if stop.is_set():
                    return
                valid, failed = validate(raw)
                rows = raw.num_rows + len(raw.errors)
                load = keep_loading()
                payload = loader.encode(valid) if load and valid.num_rows else None
                loaded = valid.num_rows if load else 0
                _put(items, stop, _Item(rows, failed, loaded, raw.bytes_read, payload))
            _put(items, stop, _DONE)
        except BaseException as exc:  # handed to the caller's thread, which re-raises it
            _put(items, stop, exc)

    producer = threading.Thread(target=produce, name="mdhub-stage", daemon=True)
    producer.start()
    result = StageCounts()
    try:
        while (item := items.get()) is not _DONE:
            if isinstance(item, BaseException):
                raise item
            if item.payload is not None:
                loader.write(item.payload)
            result.read += item.rows
            result.failed += item.failed
            result.loaded += item.loaded
            on_batch(item.rows, item.bytes_read)
    finally:
        stop.set()
        while producer.is_alive():
            with contextlib.suppress(queue.Empty):
                items.get(timeout=0.1)
        producer.join()
    return result


def _put(items: queue.Queue[Any], stop: threading.Event, item: Any) -> None:
    while not stop.is_set():
        try:
            items.put(item, timeout=0.1)
            return
        except queue.Full:
            continue
