"""A lean closed-loop HTTP/1.1 load generator for key lookups (asyncio, keep-alive).

"N concurrent clients" means: N keep-alive TCP connections, each sending its next request as
soon as it has read the whole previous answer (a closed loop, never more than N requests in
flight) — or, paced, at its own fixed rate: request k is due at start + k * interval and sent
then (or at once when the previous answer came later), and its latency runs from when it was
due, so a slow answer also counts against the requests it held up. Each client walks its own
list of keys. The first `warmup` seconds are not recorded;
then every request *sent* within the next `seconds` is recorded — its latency runs from just
before the request is written to the last byte of the body read — and the clients stop.

Why not httpx: the generator shares the 2-core machine with the server. Against a trivial
FastAPI endpoint, `httpx.AsyncClient` spent 2.1 ms of CPU per request (a whole core at about
470 requests a second); these few lines (status line, headers, Content-Length or chunked
body) spend 0.09 ms. The client's own CPU time over the recorded window is reported
(`client_cpu_percent`, of one core), so its share of the machine is visible.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from urllib.parse import quote

_HEADER_END = b"\r\n\r\n"


@dataclass
class LoadResult:
    """Latencies (seconds) of the recorded requests, and what went wrong."""

    latencies: list[float] = field(default_factory=list)
    answered: int = 0  # every answer, the warm-up's too
    errors: int = 0
    first_error: str | None = None
    wall_seconds: float = 0.0
    client_cpu_seconds: float = 0.0

    def fail(self, message: str) -> None:
        self.errors += 1
        if self.first_error is None:
            self.first_error = message[:500]


def request_bytes(host: str, port: int, path: str, headers: dict[str, str]) -> bytes:
    """A keep-alive GET request, ready to write."""
    lines = [f"GET {path} HTTP/1.1", f"Host: {host}:{port}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def record_path(dataset: str, key: str) -> str:
    return f"/api/v1/datasets/{quote(dataset, safe='')}/records/{quote(key, safe='')}"


def parse_head(head: bytes) -> tuple[int, dict[str, str]]:
    """The status and the (lower-cased) headers of a response head."""
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers = {}
    for line in lines[1:]:
        if line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    return status, headers


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, dict[str, str], bytes]:
    head = await reader.readuntil(_HEADER_END)
    status, headers = parse_head(head[: -len(_HEADER_END)])
    if "content-length" in headers:
        body = await reader.readexactly(int(headers["content-length"]))
    elif headers.get("transfer-encoding", "").lower() == "chunked":
        parts = []
        while True:
            size = int((await reader.readuntil(b"\r\n"))[:-2].split(b";")[0], 16)
            chunk = await reader.readexactly(size + 2)
            if size == 0:
                break
            parts.append(chunk[:-2])
        body = b"".join(parts)
    else:
        body = await reader.read()
    return status, headers, body


async def _client(
    host: str,
    port: int,
    requests: Sequence[tuple[str, bytes]],
    key_field: str,
    record_from: float,
    stop_at: float,
    result: LoadResult,
    interval: float | None,
    offset: float,
) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    i = 0
    due = time.perf_counter() + offset
    try:
        while True:
            key, request = requests[i % len(requests)]
            i += 1
            now = time.perf_counter()
            if interval is not None:
                due += interval
                if due > now:
                    await asyncio.sleep(due - now)
            sent = due if interval is not None else time.perf_counter()
            if sent >= stop_at:
                return
            writer.write(request)
            status, headers, body = await _read_response(reader)
            latency = time.perf_counter() - sent
            result.answered += 1
            if status != 200:
                result.fail(f"HTTP {status}: {body[:300]!r}")
            elif json.loads(body).get(key_field) != key:
                result.fail(f"asked for {key!r}, got {body[:300]!r}")
            elif sent >= record_from:
                result.latencies.append(latency)
            if headers.get("connection", "").lower() == "close":
                await _close(writer)
                reader, writer = await asyncio.open_connection(host, port)
    finally:
        await _close(writer)


async def _close(writer: asyncio.StreamWriter) -> None:
    writer.close()
    with contextlib.suppress(ConnectionError):
        await writer.wait_closed()


async def _run(
    host: str,
    port: int,
    per_client: Sequence[Sequence[tuple[str, bytes]]],
    key_field: str,
    warmup: float,
    seconds: float,
    interval: float | None,
) -> LoadResult:
    result = LoadResult()
    started = time.perf_counter()
    record_from = started + warmup
    stop_at = record_from + seconds
    cpu_at_start: float | None = None

    async def note_cpu_at_record_start() -> None:
        nonlocal cpu_at_start
        await asyncio.sleep(max(0.0, record_from - time.perf_counter()))
        cpu_at_start = time.process_time()

    # Paced clients start spread over one interval, so that their requests arrive evenly
    # rather than all at once.
    spread = [(interval or 0.0) * c / len(per_client) for c in range(len(per_client))]
    tasks = [
        _client(host, port, requests, key_field, record_from, stop_at, result, interval, offset)
        for requests, offset in zip(per_client, spread, strict=True)
    ]
    await asyncio.gather(note_cpu_at_record_start(), *tasks)
    ended = time.perf_counter()
    result.wall_seconds = ended - max(record_from, started)
    result.client_cpu_seconds = time.process_time() - (cpu_at_start or 0.0)
    return result


def run(
    host: str,
    port: int,
    keys: Sequence[str],
    *,
    dataset: str,
    key_field: str,
    headers: dict[str, str],
    clients: int,
    warmup: float,
    seconds: float,
    rate: float | None = None,
) -> LoadResult:
    """`clients` clients looking up `keys` (client c takes keys c, c + clients, …) for
    `warmup` + `seconds` seconds, closed-loop or each at `rate` requests a second; each answer
    must be 200 with the asked key's record."""
    requests = [(k, request_bytes(host, port, record_path(dataset, k), headers)) for k in keys]
    per_client = [requests[c::clients] for c in range(clients)]
    if any(not r for r in per_client):
        raise ValueError(f"need at least {clients} keys")
    interval = 1.0 / rate if rate else None
    return asyncio.run(_run(host, port, per_client, key_field, warmup, seconds, interval))
