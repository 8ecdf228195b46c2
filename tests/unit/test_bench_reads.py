"""The benchmark's read scenarios: percentiles, answer checks, summaries, the load generator."""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from bench import loadgen
from bench.__main__ import parse_args, parse_scenarios
from bench.read_http import count_rows
from bench.reads import (
    FIND_SHAPES,
    Latencies,
    ReadOptions,
    lookup_name,
    matches,
    page_problems,
    percentile,
    sample_keys,
    summarize_reads,
)


def test_percentiles_are_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]  # 1 … 100
    assert percentile(values, 50) == 50
    assert percentile(values, 99) == 99
    assert percentile(values, 100) == 100
    assert percentile(list(reversed(values)), 95) == 95
    fifty = [float(v) for v in range(50)]
    assert percentile(fifty, 99) == 49  # p99 of 50 runs is the slowest
    assert percentile([7.0], 50) == 7.0
    with pytest.raises(ValueError):
        percentile([], 50)
    with pytest.raises(ValueError):
        percentile([1.0], 0)


def test_latencies_are_summarized_in_milliseconds() -> None:
    summary = Latencies.of_seconds([0.001 * v for v in range(1, 101)])
    assert summary.count == 100
    assert summary.p50 == pytest.approx(50)
    assert summary.p95 == pytest.approx(95)
    assert summary.p99 == pytest.approx(99)
    assert summary.max == pytest.approx(100)
    assert summary.mean == pytest.approx(50.5)
    assert summary.as_dict()["p99_ms"] == 99.0


def test_filters_are_checked_like_the_query_language() -> None:
    record = {"country": "DE", "credit_limit": 50000, "rating": None}
    assert matches(record, {"country": "DE", "credit_limit": {"$gte": 50000}})
    assert not matches(record, {"country": "DE", "credit_limit": {"$gt": 50000}})
    assert matches(record, {"country": {"$in": ["NL", "DE"]}})
    assert not matches(record, {"country": {"$in": ["NL"]}})
    assert not matches(record, {"rating": {"$lt": 3}})  # NULL matches no comparison
    assert matches(record, {"rating": None})
    with pytest.raises(ValueError):
        matches(record, {"country": {"$regex": "D"}})


def test_a_page_is_checked_against_its_shape() -> None:
    shape = next(s for s in FIND_SHAPES if s.sort is not None)
    country = shape.filter["country"]
    page = [{"vendor_id": f"V{i:03d}", "country": country} for i in range(shape.limit)]
    assert page_problems(shape, page, True, "vendor_id") == []
    assert page_problems(shape, page[:10], False, "vendor_id") == []
    assert page_problems(shape, page[:10], True, "vendor_id") == [
        "a short page (10) with a next cursor"
    ]
    wrong = [{**page[0], "country": "XX"}, *page[1:]]
    assert page_problems(shape, wrong, True, "vendor_id") == ["1 record(s) do not match the filter"]
    assert page_problems(shape, page[::-1], True, "vendor_id") == ["not sorted by key"]


def test_find_bodies_follow_the_contract() -> None:
    first = FIND_SHAPES[0]
    assert first.body() == {
        "filter": {"country": "DE", "credit_limit": {"$gte": 50000}},
        "limit": 100,
    }
    assert first.body("abc")["cursor"] == "abc"
    assert any(s.sort == {"vendor_id": 1} for s in FIND_SHAPES)
    assert any("$in" in json.dumps(s.filter) for s in FIND_SHAPES)
    for shape in FIND_SHAPES:
        assert shape.where.count("?") == len(shape.params)


def test_keys_are_sampled_from_the_first_column(tmp_path: Path) -> None:
    path = tmp_path / "v.csv"
    path.write_text("vendor_id,name\n" + "".join(f"V{i:04d},x\n" for i in range(100)))
    keys = sample_keys(path, 100, 10, seed=1)
    assert len(set(keys)) == 10
    assert all(k.startswith("V") and len(k) == 5 for k in keys)
    assert sample_keys(path, 100, 10, seed=1) == keys
    assert sorted(sample_keys(path, 100, 500, seed=1)) == [f"V{i:04d}" for i in range(100)]


def test_exported_rows_are_counted_per_format(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_bytes(b"vendor_id,name\nV1,a\nV2,b\n")
    (tmp_path / "a.ndjson").write_bytes(b'{"vendor_id":"V1"}\n{"vendor_id":"V2"}\n')
    (tmp_path / "a.json").write_bytes(b'[{"vendor_id": "V1"},\n{"vendor_id": "V2"}]')
    pq.write_table(pa.table({"vendor_id": ["V1", "V2", "V3"]}), tmp_path / "a.parquet")
    assert count_rows(tmp_path / "a.csv", "csv") == 2
    assert count_rows(tmp_path / "a.ndjson", "ndjson") == 2
    assert count_rows(tmp_path / "a.json", "json") == 2
    assert count_rows(tmp_path / "a.parquet", "parquet") == 3


def test_scenario_groups() -> None:
    assert parse_scenarios("read") == ["export", "lookup", "find"]
    assert parse_scenarios("write") == ["initial", "upsert", "delete", "overwrite"]
    assert parse_scenarios("all")[-1] == "find"
    assert parse_scenarios("find, upsert") == ["upsert", "find"]
    assert parse_scenarios("nope") == []
    assert parse_args([]).scenarios == parse_scenarios("all")
    assert parse_args(["--scenarios", "lookup"]).scenarios == ["lookup"]
    with pytest.raises(SystemExit):
        parse_args(["--scenarios", "lookups"])


def test_read_options_scale_with_the_data() -> None:
    small, large = ReadOptions.for_rows(50_000), ReadOptions.for_rows(1_000_000)
    assert small.lookup_seconds < large.lookup_seconds == 10
    assert ReadOptions.for_rows(50_000, lookup_seconds=7).lookup_seconds == 7
    assert ReadOptions(**large.as_dict()) == large
    assert lookup_name(16) == "lookup"
    assert lookup_name(1) == "lookup, 1 client"


def _item(value: float, unit: str = "s", error: str | None = None) -> dict[str, object]:
    return {"value": value, "unit": unit, "details": {}, "error": error}


def _run(backend: str, role: str, **items: dict[str, object]) -> dict[str, object]:
    named = {name.replace("_", " "): item for name, item in items.items()}
    return {"backend": backend, "role": role, "items": named, "peak_rss_mb": 120.0}


def test_read_summary_divides_by_the_baseline_and_checks_targets() -> None:
    rows = summarize_reads(
        [
            _run("postgres", "baseline", export_csv=_item(2.0), lookup=_item(1.0, "ms")),
            _run(
                "postgres",
                "http",
                export_csv=_item(2.4),
                export_parquet=_item(3.0),
                lookup=_item(12.0, "ms"),
            ),
            _run("sqlite", "baseline", export_csv=_item(1.0)),
            _run("sqlite", "http", export_csv=_item(3.0)),
        ]
    )
    by = {(r["backend"], r["name"]): r for r in rows}
    export = by["postgres", "export csv"]
    assert export["ratio"] == pytest.approx(1.2)
    assert export["met"] is True
    assert by["postgres", "export parquet"]["ratio"] == pytest.approx(1.5)  # ÷ the CSV baseline
    assert by["postgres", "export parquet"]["met"] is None
    lookup = by["postgres", "lookup"]
    assert (lookup["ratio"], lookup["met"]) == (12.0, False)
    assert lookup["target"] == {"kind": "ms", "value": 10.0}
    sqlite = by["sqlite", "export csv"]
    assert sqlite["ratio"] == pytest.approx(3.0)
    assert sqlite["vs_postgres_baseline"] == pytest.approx(1.5)
    assert sqlite["met"] is False


def test_a_failed_measure_has_no_value_and_keeps_its_error() -> None:
    rows = summarize_reads(
        [
            _run("postgres", "baseline", export_csv=_item(2.0)),
            _run("postgres", "http", export_csv=_item(0.0, error="HTTP 404: not found")),
        ]
    )
    assert rows[0]["http"] is None
    assert rows[0]["errors"] == ["HTTP 404: not found"]
    assert rows[0]["met"] is None


def test_response_heads_and_requests() -> None:
    status, headers = loadgen.parse_head(
        b"HTTP/1.1 404 Not Found\r\nContent-Length: 12\r\nX-A: b: c"
    )
    assert (status, headers) == (404, {"content-length": "12", "x-a": "b: c"})
    request = loadgen.request_bytes("h", 80, "/p", {"X-API-Key": "k"})
    assert request == b"GET /p HTTP/1.1\r\nHost: h:80\r\nX-API-Key: k\r\n\r\n"
    assert loadgen.record_path("vendors", "A/1,b") == "/api/v1/datasets/vendors/records/A%2F1%2Cb"


@pytest.fixture
def record_server() -> Iterator[int]:
    """A tiny HTTP/1.1 server answering each record request with the key's record (keep-alive;
    a chunked answer for keys ending in 'c', a 404 for 'missing')."""
    loop = asyncio.new_event_loop()
    started = threading.Event()
    port: list[int] = []
    stopping: list[asyncio.Event] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                key = head.split(b" ", 2)[1].rsplit(b"/", 1)[1].decode()
                body = json.dumps({"vendor_id": key}).encode()
                if key == "missing":
                    writer.write(b"HTTP/1.1 404 Not Found\r\nContent-Length: 2\r\n\r\n{}")
                elif key.endswith("c"):
                    chunks = b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)
                    writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + chunks)
                else:
                    writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body))
                    writer.write(body)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    handlers: set[asyncio.Task[None]] = set()

    async def tracked(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        handlers.add(task)
        await handle(reader, writer)

    async def main() -> None:
        stopping.append(asyncio.Event())
        server = await asyncio.start_server(tracked, "127.0.0.1", 0)
        port.append(server.sockets[0].getsockname()[1])
        started.set()
        await stopping[0].wait()
        server.close()
        await server.wait_closed()
        # Every connection is closed before the loop is: no transport is left to the GC.
        await asyncio.wait_for(asyncio.gather(*handlers, return_exceptions=True), 5)

    thread = threading.Thread(target=loop.run_until_complete, args=(main(),), daemon=True)
    thread.start()
    started.wait(5)
    yield port[0]
    loop.call_soon_threadsafe(stopping[0].set)
    thread.join(5)
    loop.close()


def test_the_load_generator_runs_a_closed_loop(record_server: int) -> None:
    keys = [f"K{i}" for i in range(8)] + ["K8c", "K9c"]
    result = loadgen.run(
        "127.0.0.1",
        record_server,
        keys,
        dataset="vendors",
        key_field="vendor_id",
        headers={},
        clients=4,
        warmup=0.05,
        seconds=0.2,
    )
    assert result.errors == 0, result.first_error
    assert len(result.latencies) > 10
    assert result.wall_seconds >= 0.2
    assert result.client_cpu_seconds > 0


def test_the_load_generator_counts_wrong_answers(record_server: int) -> None:
    result = loadgen.run(
        "127.0.0.1",
        record_server,
        ["missing", "K1"],
        dataset="vendors",
        key_field="vendor_id",
        headers={},
        clients=2,
        warmup=0,
        seconds=0.1,
    )
    assert result.errors > 0
    assert result.first_error is not None and "404" in result.first_error
