"""Invariant 4 while loading: a server stores an upload, and a worker applies it, with memory
that does not grow with the file. Each size is applied by a fresh worker process (memory its
allocator keeps from an earlier job cannot hide growth) to its own dataset; the peaks of 250,000
and 750,000 rows (some 55 and 165 MB as CSV) stay close, and the server adds next to nothing
while it receives either."""

from __future__ import annotations

from pathlib import Path

from tests.acceptance.server import Processes
from tests.acceptance.test_export_memory import FILLER, PeakRss, load, rss_mb
from tests.helpers import vendor, write_csv

SMALL_ROWS = 250_000
LARGE_ROWS = 750_000
# How much higher the worker may peak with 3x the rows: past a few batches, memory is flat; a
# worker that held the file peaks some 130 MB higher.
WORKER_SLACK_MB = 60.0
# What receiving an upload may add to the server: chunks, never the file.
SERVER_BOUND_MB = 20.0


def test_loading_memory_stays_flat_whatever_the_size(processes: Processes, tmp_path: Path) -> None:
    server = processes.serve(workers=0)
    peaks = {}
    with server.client(timeout=300) as client:
        for name, rows in (("small", SMALL_ROWS), ("large", LARGE_ROWS)):
            records = [vendor(i, name=f"Vendor {i} {FILLER}") for i in range(rows)]
            path = write_csv(tmp_path / f"{name}.csv", records)
            worker = processes.worker()
            server_base = rss_mb(server.popen.pid)
            with PeakRss(worker.popen.pid) as applied, PeakRss(server.popen.pid) as received:
                load(client, name, path)
            worker.stop()
            peaks[name] = applied.peak
            assert received.peak - server_base < SERVER_BOUND_MB, (name, server_base, received.peak)
            assert client.get(f"/api/v1/datasets/{name}").json()["row_count"] == rows
    assert peaks["large"] < peaks["small"] + WORKER_SLACK_MB, peaks
