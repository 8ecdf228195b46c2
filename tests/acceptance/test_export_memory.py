"""A real server exports in every format with memory that does not grow with the dataset
(invariant 4): the peak RSS an export adds stays under a fixed bound and is about the same for
70,000 and 350,000 rows (both more than a Parquet row group; the larger some 80 MB as CSV,
which an export that held its rows could not hide in the slack).

The server runs no workers (a worker process loads the data): its memory is the exports'.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import httpx

from tests.acceptance.server import Processes
from tests.helpers import VENDORS_SCHEMA, vendor, write_csv

SMALL_ROWS = 70_000
LARGE_ROWS = 350_000
# Rows of some 230 bytes, so that the large dataset cannot hide in the slack below.
FILLER = "x" * 180
FORMATS = ("csv", "ndjson", "json", "parquet")
JOB_SECONDS = 120.0
POLL_SECONDS = 0.05
SAMPLE_SECONDS = 0.005
# What one export may add to the server's RSS, whatever the size: batches of a few MiB each.
GROWTH_BOUND_MB = 80.0
# How much more 5x the rows may add (streamed, about nothing; held, some 60 MB).
SIZE_SLACK_MB = 25.0


def rss_mb(pid: int) -> float:
    """A process's current resident set size."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no VmRSS for process {pid}")


class PeakRss:
    """Samples a process's RSS in a thread until stopped; `peak` is the largest seen."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak = rss_mb(pid)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, rss_mb(self.pid))
            time.sleep(SAMPLE_SECONDS)


def load(client: httpx.Client, name: str, path: Path) -> None:
    created = client.post("/api/v1/datasets", json={"name": name, "schema": VENDORS_SCHEMA})
    assert created.status_code == 201, created.text
    with path.open("rb") as handle:
        answer = client.post(
            f"/api/v1/datasets/{name}/jobs",
            files={"file": (path.name, handle, "text/csv")},
            data={"operation": "upsert"},
        )
    assert answer.status_code == 202, answer.text
    deadline = time.monotonic() + JOB_SECONDS
    while (job := client.get(answer.headers["location"]).json())["status"] not in (
        "succeeded",
        "failed",
        "cancelled",
    ):
        assert time.monotonic() < deadline, f"loading {name} did not end: {job}"
        time.sleep(POLL_SECONDS)
    assert job["status"] == "succeeded", job


def export_all(client: httpx.Client, name: str, rows: int) -> dict[str, Any]:
    """Download `name` in every format (counting its records roughly); the byte counts."""
    sizes = {}
    for fmt in FORMATS:
        size = lines = 0
        with client.stream(
            "GET",
            f"/api/v1/datasets/{name}/export",
            params={"format": fmt},
            headers={"Accept-Encoding": "identity"},
        ) as response:
            assert response.status_code == 200, response.read()
            for chunk in response.iter_bytes():
                size += len(chunk)
                lines += chunk.count(b"\n")
        if fmt != "parquet":
            assert lines >= rows, (fmt, lines)
        sizes[fmt] = size
    return sizes


def test_export_memory_stays_flat_whatever_the_size(processes: Processes, tmp_path: Path) -> None:
    server = processes.serve(workers=0)
    processes.worker()
    pid = server.popen.pid
    with server.client(timeout=120) as client:
        for name, rows in (("small", SMALL_ROWS), ("large", LARGE_ROWS)):
            rows_of = [vendor(i, name=f"Vendor {i} {FILLER}") for i in range(rows)]
            load(client, name, write_csv(tmp_path / f"{name}.csv", rows_of))
        # The first export of each format loads code and fills caches once: not measured.
        small_sizes = export_all(client, "small", SMALL_ROWS)
        base = rss_mb(pid)
        with PeakRss(pid) as small:
            export_all(client, "small", SMALL_ROWS)
        with PeakRss(pid) as large:
            large_sizes = export_all(client, "large", LARGE_ROWS)
    assert all(large_sizes[f] > 4.5 * small_sizes[f] for f in FORMATS), (small_sizes, large_sizes)
    small_growth, large_growth = small.peak - base, large.peak - base
    assert large_growth < GROWTH_BOUND_MB, (base, small_growth, large_growth)
    assert large_growth < small_growth + SIZE_SLACK_MB, (base, small_growth, large_growth)
