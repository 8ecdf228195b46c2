"""The raw baselines of the read scenarios, on the baseline's own table (bench.baseline).

- export: PostgreSQL `COPY (SELECT * FROM t ORDER BY key) TO STDOUT (FORMAT csv, HEADER)`
  into a file by `psql`'s `\\copy` (PostgreSQL's own client; through psycopg where there is no
  `psql`); SQLite `SELECT * FROM t ORDER BY key` through `csv.writer`;
- lookup: `SELECT * FROM t WHERE key = ?` from LOOKUP_CLIENTS threads, each on its own
  connection, in a closed loop (as bench.loadgen's clients);
- find: `CREATE INDEX` on INDEX_FIELDS (timed apart), then each shape's
  `SELECT * FROM t WHERE … ORDER BY key LIMIT n`, all rows fetched, one query at a time.
"""

from __future__ import annotations

import csv
import shutil
import sqlite3
import subprocess
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import psycopg

from bench import baseline
from bench.baseline import VENDORS, Table
from bench.loadgen import LoadResult
from bench.reads import (
    FIND_SHAPES,
    INDEX_FIELDS,
    FindShape,
    Latencies,
    ReadItem,
    ReadOptions,
    lookup_name,
    page_problems,
    sample_keys,
)


class Backend:
    """How the baseline talks to one database: connect, run a query, its SQL spellings."""

    def __init__(self, kind: str, target: Any, table: Table = VENDORS) -> None:
        self.kind = kind
        self.target = target
        self.table = table
        self.qualified = (
            f'{baseline.PG_SCHEMA}."{table.name}"' if kind == "postgres" else (f'"{table.name}"')
        )

    def connect(self) -> Any:
        if self.kind == "postgres":
            return psycopg.connect(baseline.libpq_url(self.target), autocommit=True)
        return sqlite3.connect(self.target, isolation_level=None, check_same_thread=False)

    def sql(self, text: str) -> str:
        """SQL written with `?` placeholders, in the driver's style."""
        return text.replace("?", "%s") if self.kind == "postgres" else text

    def fetch(self, conn: Any, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        return list(conn.execute(self.sql(sql), tuple(params)).fetchall())


def export(backend: Backend, out: Path) -> ReadItem:
    """The whole table, ordered by key, as CSV with a header line, into `out`."""
    table, key = backend.qualified, backend.table.key
    select = f'SELECT * FROM {table} ORDER BY "{key}"'
    psql = shutil.which("psql") if backend.kind == "postgres" else None
    conn = backend.connect()
    try:
        started = time.perf_counter()
        if psql:
            copy = f"\\copy ({select}) TO '{out}' (FORMAT csv, HEADER)"
            url = baseline.libpq_url(backend.target)
            subprocess.run([psql, "-X", "-q", "-v", "ON_ERROR_STOP=1", url, "-c", copy], check=True)
        elif backend.kind == "postgres":
            with (
                out.open("wb") as f,
                conn.cursor().copy(f"COPY ({select}) TO STDOUT (FORMAT csv, HEADER)") as copy,
            ):
                for block in copy:
                    f.write(block)
        else:
            with out.open("w", newline="", encoding="utf-8") as f:
                cursor = conn.execute(select)
                writer = csv.writer(f)
                writer.writerow([d[0] for d in cursor.description])
                writer.writerows(cursor)
        seconds = time.perf_counter() - started
    finally:
        conn.close()
    size = out.stat().st_size
    rows = _count_lines(out) - 1
    out.unlink()
    return ReadItem(
        "export csv",
        seconds,
        "s",
        {
            "bytes": size,
            "rows": rows,
            "mb_per_s": round(size / 1e6 / seconds, 1),
            "rows_per_s": round(rows / seconds),
            "client": "psql \\copy" if psql else "psycopg" if backend.kind == "postgres" else "csv",
        },
    )


def _count_lines(path: Path) -> int:
    lines = 0
    with path.open("rb") as f:
        while block := f.read(1 << 20):
            lines += block.count(b"\n")
    return lines


def lookups(
    backend: Backend, keys: Sequence[str], *, clients: int, warmup: float, seconds: float
) -> LoadResult:
    """`clients` threads, each on its own connection, reading records by key in a closed loop
    for `warmup` (not recorded) + `seconds`."""
    sql = backend.sql(f'SELECT * FROM {backend.qualified} WHERE "{backend.table.key}" = ?')
    result = LoadResult()
    lock = threading.Lock()
    ready = threading.Barrier(clients + 1)
    clock: dict[str, float] = {}

    def client(mine: Sequence[str]) -> None:
        conn = backend.connect()
        latencies: list[float] = []
        try:
            ready.wait()
            record_from, stop_at = clock["record_from"], clock["stop_at"]
            i = 0
            while True:
                key = mine[i % len(mine)]
                i += 1
                sent = time.perf_counter()
                if sent >= stop_at:
                    break
                row = conn.execute(sql, (key,)).fetchone()
                latency = time.perf_counter() - sent
                if row is None or row[0] != key:
                    with lock:
                        result.fail(f"no row for {key!r}")
                elif sent >= record_from:
                    latencies.append(latency)
        finally:
            conn.close()
            with lock:
                result.latencies += latencies

    threads = [
        threading.Thread(target=client, args=(keys[c::clients],), name=f"lookup-{c}")
        for c in range(clients)
    ]
    for thread in threads:
        thread.start()
    started = time.perf_counter()
    clock.update(record_from=started + warmup, stop_at=started + warmup + seconds)
    ready.wait()
    time.sleep(max(0.0, clock["record_from"] - time.perf_counter()))
    cpu = time.process_time()
    for thread in threads:
        thread.join()
    result.wall_seconds = time.perf_counter() - clock["record_from"]
    result.client_cpu_seconds = time.process_time() - cpu
    return result


def lookup_item(name: str, result: LoadResult, seconds: float, clients: int) -> ReadItem:
    """A lookup run as a measure: its p99 (ms), the other percentiles and the throughput."""
    if not result.latencies:
        return ReadItem(name, None, "ms", error=result.first_error or "no request answered")
    summary = Latencies.of_seconds(result.latencies)
    details: dict[str, Any] = {
        **summary.as_dict(),
        "clients": clients,
        "requests_per_s": round(summary.count / seconds, 1),
        "errors": result.errors,
        "client_cpu_percent": round(100 * result.client_cpu_seconds / result.wall_seconds, 1),
    }
    error = f"{result.errors} failed: {result.first_error}" if result.errors else None
    return ReadItem(name, round(summary.p99, 3), "ms", details, error)


def find(backend: Backend, *, warmup_runs: int, runs: int) -> list[ReadItem]:
    """`CREATE INDEX` on INDEX_FIELDS, then every find shape `runs` times (after warming up)."""
    columns = ", ".join(f'"{c}"' for c in INDEX_FIELDS)
    items: list[ReadItem] = []
    conn = backend.connect()
    try:
        started = time.perf_counter()
        conn.execute(f"CREATE INDEX bench_find_index ON {backend.qualified} ({columns})")
        items.append(ReadItem("create index", time.perf_counter() - started, "s"))
        for shape in FIND_SHAPES:
            items.append(_find_shape(backend, conn, shape, warmup_runs, runs))
    finally:
        conn.close()
    return items


def _find_shape(
    backend: Backend, conn: Any, shape: FindShape, warmup_runs: int, runs: int
) -> ReadItem:
    table, key = backend.qualified, backend.table.key
    names = backend.table.names
    where, params = shape.where, list(shape.params)
    select = f'SELECT * FROM {table} WHERE {{}} ORDER BY "{key}" LIMIT {shape.limit}'
    if shape.next_page:
        first = backend.fetch(conn, select.format(where), params)
        if not first:
            return ReadItem(f"find {shape.name}", None, "ms", error="no first page")
        where, params = f'({where}) AND "{key}" > ?', [*params, first[-1][0]]
    sql = select.format(where)
    latencies, problems = [], set()
    for run in range(warmup_runs + runs):
        started = time.perf_counter()
        rows = backend.fetch(conn, sql, params)
        latency = time.perf_counter() - started
        if run >= warmup_runs:
            latencies.append(latency)
        records = [dict(zip(names, row, strict=True)) for row in rows]
        problems.update(page_problems(shape, records, len(rows) == shape.limit, key))
    return find_item(shape, latencies, problems, len(rows))


def find_item(
    shape: FindShape, latencies: list[float], problems: set[str], results: int
) -> ReadItem:
    """A find shape's runs as a measure: the p99 (ms), and the median."""
    summary = Latencies.of_seconds(latencies)
    details = {"runs": summary.count, "median_ms": round(summary.p50, 3), "results": results}
    details.update({k: v for k, v in summary.as_dict().items() if k != "count"})
    error = "; ".join(sorted(problems)) or None
    return ReadItem(f"find {shape.name}", round(summary.p99, 3), "ms", details, error)


def setup(kind: str, target: Any, initial_csv: Path) -> None:
    """Untimed: the baseline's table holding the initial snapshot."""
    if kind == "postgres":
        baseline.pg_create_table(target)
        baseline.pg_initial(target, initial_csv)
    else:
        baseline.sqlite_create_table(Path(target))
        baseline.sqlite_initial(Path(target), initial_csv)


def run(
    kind: str,
    target: Any,
    reads: Sequence[str],
    initial_csv: Path,
    options: ReadOptions,
    scratch_dir: Path,
) -> dict[str, ReadItem]:
    """The chosen read scenarios, in the order export, lookup, find; one item per measure."""
    backend = Backend(kind, target)
    items: list[ReadItem] = []
    if "export" in reads:
        scratch_dir.mkdir(parents=True, exist_ok=True)
        items.append(export(backend, scratch_dir / "baseline-export.csv"))
    if "lookup" in reads:
        keys = sample_keys(initial_csv, options.rows, options.lookup_keys, options.seed)
        for clients, seconds in (
            (options.lookup_clients, options.lookup_seconds),
            (1, options.single_client_seconds),
        ):
            result = lookups(
                backend, keys, clients=clients, warmup=options.lookup_warmup, seconds=seconds
            )
            items.append(lookup_item(lookup_name(clients), result, seconds, clients))
    if "find" in reads:
        items += find(backend, warmup_runs=options.find_warmup_runs, runs=options.find_runs)
    return {item.name: item for item in items}
