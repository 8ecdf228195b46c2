"""The read scenarios through a real `mdhub serve` (set up by bench.http_api.setup).

One fresh server runs the chosen scenarios in the order export, lookup, find; its process
tree's RSS is sampled throughout (and per export format). Reads send the setup's reader API
key; the index is created with its admin key:

- export: `GET /api/v1/datasets/vendors/export?format=F` for each of EXPORT_FORMATS, saved
  by `curl -o` (httpx where there is no `curl`); the clock stops at the last byte written.
  The rows are counted after the clock stopped (lines, records, or the Parquet footer) and
  must be the snapshot's;
- lookup: `GET /api/v1/datasets/vendors/records/{key}` from bench.loadgen's closed-loop
  clients (LOOKUP_CLIENTS, then one for context), random existing keys;
- find: `POST /api/v1/datasets/vendors/indexes` `{"fields": INDEX_FIELDS}` (timed apart,
  waited for if answered 202), then each of FIND_SHAPES as `POST …/find`, one at a time; every
  page is checked (bench.reads.page_problems).

An endpoint that answers an error (for instance one not built yet) fails its measures with
the answer, and the other measures still run.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pyarrow.parquet as pq

from bench import http_api, loadgen, memory
from bench.http_api import DATASET, KEYS, RssSampler, Server
from bench.read_baseline import find_item, lookup_item
from bench.reads import (
    EXPORT_FORMATS,
    FIND_SHAPES,
    INDEX_FIELDS,
    FindShape,
    ReadItem,
    ReadOptions,
    lookup_name,
    page_problems,
    sample_keys,
)

CHUNK_BYTES = 1 << 20
INDEX_WAIT_SECONDS = 600.0


def run(
    url: str,
    data_dir: Path,
    reads: list[str],
    initial_csv: Path,
    options: ReadOptions,
    *,
    timeout: float,
) -> tuple[dict[str, ReadItem], float]:
    """Timed: the chosen read scenarios on a fresh server of `options.server_processes`
    processes; the items and the peak RSS in MiB of its largest process over the whole run."""
    log = data_dir.parent / f"{data_dir.name}-read.log"
    items: list[ReadItem] = []
    reader = http_api.key_headers(data_dir, "reader")
    with (
        http_api.serve(url, data_dir, log, processes=options.server_processes) as server,
        RssSampler(server.proc.pid) as sampler,
        http_api.http_client(server, timeout, reader) as client,
    ):
        if "export" in reads:
            for fmt in EXPORT_FORMATS:
                items.append(_export(server, client, reader, fmt, data_dir, options, timeout))
        if "lookup" in reads:
            items += _lookups(server, data_dir, initial_csv, options)
        if "find" in reads:
            admin = http_api.key_headers(data_dir, "admin")
            items.append(_create_index(client, admin, timeout))
            items += [_find(client, shape, options) for shape in FIND_SHAPES]
        peak_mb = sampler.stop_largest()
    return {item.name: item for item in items}, peak_mb


def _failure(name: str, unit: str, response: httpx.Response) -> ReadItem:
    return ReadItem(name, None, unit, error=f"HTTP {response.status_code}: {response.text[:300]}")


def _export(
    server: Server,
    client: httpx.Client,
    headers: dict[str, str],
    fmt: str,
    scratch: Path,
    options: ReadOptions,
    timeout: float,
) -> ReadItem:
    name = f"export {fmt}"
    out = scratch / f"export.{fmt}"
    path = f"/api/v1/datasets/{DATASET}/export?format={fmt}"
    curl = shutil.which("curl")
    with RssSampler(server.proc.pid) as sampler:
        started = time.perf_counter()
        if curl:
            status, content_type = _curl(curl, server.base_url + path, headers, out, timeout)
        else:
            status, content_type = _httpx_download(client, path, out)
        seconds = time.perf_counter() - started
        peak_mb = sampler.stop_largest()
    if status >= 400:
        answer = out.read_bytes()[:300].decode(errors="replace")
        return ReadItem(name, None, "s", error=f"HTTP {status}: {answer}")
    size = out.stat().st_size
    counted = count_rows(out, fmt)
    out.unlink()
    details = {
        "bytes": size,
        "rows": counted,
        "mb_per_s": round(size / 1e6 / seconds, 1),
        "rows_per_s": round(counted / seconds),
        "server_peak_rss_mb": round(peak_mb, 1),
        "content_type": content_type,
        "client": "curl" if curl else "httpx",
    }
    rows = options.rows
    error = None if counted == rows else f"{counted} rows exported, not {rows}"
    return ReadItem(name, seconds, "s", details, error)


def _curl(
    curl: str, url: str, headers: dict[str, str], out: Path, timeout: float
) -> tuple[int, str]:
    """`curl -o out` (which asks for no compression): the status and Content-Type."""
    written = subprocess.run(
        [curl, "-sS", "--max-time", str(timeout), "-o", str(out)]
        + [arg for name, value in headers.items() for arg in ("-H", f"{name}: {value}")]
        + ["-w", "%{http_code} %{content_type}", url],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    status, _, content_type = written.partition(" ")
    return int(status), content_type


def _httpx_download(client: httpx.Client, path: str, out: Path) -> tuple[int, str]:
    # identity: httpx asks for gzip by default, which the server would then spend on.
    with (
        client.stream("GET", path, headers={"Accept-Encoding": "identity"}) as response,
        out.open("wb") as f,
    ):
        for chunk in response.iter_bytes(CHUNK_BYTES):
            f.write(chunk)
    return response.status_code, response.headers.get("content-type", "")


def count_rows(path: Path, fmt: str) -> int:
    """The records in an exported file: CSV lines less the header, NDJSON lines, JSON
    records (by their key field, which occurs once per record), the Parquet footer's count."""
    if fmt == "parquet":
        return int(pq.ParquetFile(path).metadata.num_rows)
    needle = {"csv": b"\n", "ndjson": b"\n", "json": f'"{KEYS[0]}"'.encode()}[fmt]
    count = carry = 0
    tail = b""
    with path.open("rb") as f:
        while block := f.read(CHUNK_BYTES):
            block = tail + block
            count += block.count(needle) - carry
            tail = block[-(len(needle) - 1) :] if len(needle) > 1 else b""
            carry = tail.count(needle)
    return count - 1 if fmt == "csv" else count


def _lookups(
    server: Server, data_dir: Path, initial_csv: Path, options: ReadOptions
) -> list[ReadItem]:
    address = urlsplit(server.base_url)
    host, port = address.hostname or http_api.HOST, int(address.port or 80)
    keys = sample_keys(initial_csv, options.rows, options.lookup_keys, options.seed)
    headers = http_api.key_headers(data_dir, "reader")
    items = []
    for clients, seconds, rate in (
        (options.lookup_clients, options.lookup_seconds, None),
        (options.lookup_clients, options.lookup_seconds, options.lookup_paced_rate),
        (1, options.single_client_seconds, None),
    ):
        with RssSampler(server.proc.pid) as sampler:
            cpu = memory.tree_cpu_seconds(server.proc.pid)
            result = loadgen.run(
                host,
                port,
                keys,
                dataset=DATASET,
                key_field=KEYS[0],
                headers=headers,
                clients=clients,
                warmup=options.lookup_warmup,
                seconds=seconds,
                rate=rate,
            )
            cpu = memory.tree_cpu_seconds(server.proc.pid) - cpu
            peak_mb = sampler.stop_largest()
        item = lookup_item(lookup_name(clients, rate), result, seconds, clients)
        item.details["server_peak_rss_mb"] = round(peak_mb, 1)
        item.details["server_processes"] = options.server_processes
        # CPU per answer (warm-up included): what the server costs, however busy the machine.
        item.details["server_cpu_ms_per_request"] = round(1000 * cpu / max(result.answered, 1), 3)
        items.append(item)
    return items


def _create_index(client: httpx.Client, admin: dict[str, str], timeout: float) -> ReadItem:
    name = "create index"
    started = time.perf_counter()
    response = client.post(
        f"/api/v1/datasets/{DATASET}/indexes", json={"fields": list(INDEX_FIELDS)}, headers=admin
    )
    if response.is_error:
        return _failure(name, "s", response)
    if response.status_code == 202 and response.headers.get("location"):
        job = _wait_location(client, response.headers["location"], admin, timeout)
        if job.get("status") not in (None, "succeeded"):
            return ReadItem(name, None, "s", error=f"index job {job.get('status')}: {job}")
    seconds = time.perf_counter() - started
    return ReadItem(name, seconds, "s", {"status": response.status_code})


def _wait_location(
    client: httpx.Client, location: str, headers: dict[str, str], timeout: float
) -> dict[str, Any]:
    deadline = time.monotonic() + min(timeout, INDEX_WAIT_SECONDS)
    while True:
        body: dict[str, Any] = client.get(location, headers=headers).json()
        if body.get("status") in http_api.FINAL_STATUSES or time.monotonic() > deadline:
            return body
        time.sleep(http_api.POLL_SECONDS)


def _find(client: httpx.Client, shape: FindShape, options: ReadOptions) -> ReadItem:
    name = f"find {shape.name}"
    path = f"/api/v1/datasets/{DATASET}/find"
    cursor = None
    if shape.next_page:
        first = client.post(path, json=shape.body())
        if first.is_error:
            return _failure(name, "ms", first)
        cursor = first.json().get("next")
        if cursor is None:
            return ReadItem(name, None, "ms", error="the first page has no next cursor")
    body = shape.body(cursor)
    latencies: list[float] = []
    problems: set[str] = set()
    results = 0
    for run in range(options.find_warmup_runs + options.find_runs):
        started = time.perf_counter()
        response = client.post(path, json=body)
        latency = time.perf_counter() - started
        if response.is_error:
            return _failure(name, "ms", response)
        page = response.json()
        if run >= options.find_warmup_runs:
            latencies.append(latency)
        results = len(page.get("results", []))
        problems.update(
            page_problems(shape, page.get("results", []), page.get("next") is not None, KEYS[0])
        )
    return find_item(shape, latencies, problems, results)
