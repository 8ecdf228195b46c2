"""The read scenarios: what is measured, their targets, and the pure logic around them.

Three scenarios read the initial snapshot (1M rows at `make bench`), each against a raw
baseline on the same database:

- `export`: the whole dataset as CSV (and NDJSON, JSON, Parquet over HTTP), streamed to a
  file; the baseline is PostgreSQL's `COPY (SELECT … ORDER BY key) TO STDOUT (FORMAT csv,
  HEADER)`, or on SQLite a `SELECT … ORDER BY key` written with `csv.writer`;
- `lookup`: records by random existing keys from LOOKUP_CLIENTS closed-loop clients (see
  bench.loadgen); the baseline runs `SELECT … WHERE key = ?` from as many threads, each on its
  own connection;
- `find`: filtered queries (FIND_SHAPES) after an index on `country`, one at a time; the
  baseline runs the same SQL (`… ORDER BY key LIMIT n`) after `CREATE INDEX`.

A role's outcome holds one *item* per measure (`export csv`, `lookup`, `find country+credit`,
…): its `value` (seconds for exports; milliseconds, the p99, for lookups and finds), details,
and an `error` when that measure could not run.
"""

from __future__ import annotations

import math
import os
import random
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

READ_SCENARIOS = ("export", "lookup", "find")
LOOKUP_PACED_RATE = 10.0
READ_ROLES = ("baseline", "http")  # the engine has no read path of its own to time
EXPORT_FORMATS = ("csv", "ndjson", "json", "parquet")
LOOKUP_CLIENTS = 16
FIND_LIMIT = 100
INDEX_FIELDS = ("country",)

# Targets (docs/benchmarks.md, "Targets"; the performance contract in DESIGN.md).
EXPORT_TARGET_RATIO = 1.25  # CSV export at least 0.8x the throughput of PostgreSQL's COPY TO
LOOKUP_TARGET_P99_MS = 10.0
FIND_TARGET_P99_MS = 50.0


@dataclass(frozen=True)
class FindShape:
    """One find request and the SQL a competent engineer would write for it.

    `where` is SQL over the baseline's table with `?` placeholders for `params`; results are
    ordered by the key (`ORDER BY key LIMIT limit`), which keyset pagination needs anyway.
    `next_page` asks for the second page: the request carries the first page's `next` cursor,
    the SQL adds `key > ?` with the first page's last key.
    """

    name: str
    filter: dict[str, Any]
    where: str
    params: tuple[Any, ...]
    sort: dict[str, int] | None = None
    limit: int = FIND_LIMIT
    next_page: bool = False

    def body(self, cursor: Any = None) -> dict[str, Any]:
        """The JSON body of `POST /api/v1/datasets/{name}/find`."""
        body: dict[str, Any] = {"filter": self.filter, "limit": self.limit}
        if self.sort is not None:
            body["sort"] = self.sort
        if cursor is not None:
            body["cursor"] = cursor
        return body


FIND_SHAPES: tuple[FindShape, ...] = (
    FindShape(
        name="country+credit",
        filter={"country": "DE", "credit_limit": {"$gte": 50000}},
        where='"country" = ? AND "credit_limit" >= ?',
        params=("DE", 50000),
    ),
    FindShape(
        name="country+credit page 2",
        filter={"country": "DE", "credit_limit": {"$gte": 50000}},
        where='"country" = ? AND "credit_limit" >= ?',
        params=("DE", 50000),
        next_page=True,
    ),
    FindShape(
        name="country sorted by key",
        filter={"country": "FR"},
        where='"country" = ?',
        params=("FR",),
        sort={"vendor_id": 1},
    ),
    FindShape(
        name="country $in",
        filter={"country": {"$in": ["NL", "BE", "AT"]}},
        where='"country" IN (?, ?, ?)',
        params=("NL", "BE", "AT"),
    ),
)


@dataclass(frozen=True)
class ReadOptions:
    """How long and how often the read scenarios measure (`python -m bench` options)."""

    rows: int  # data lines of the initial snapshot
    lookup_seconds: float = 10.0  # recorded, after the warm-up
    lookup_warmup: float = 2.0
    lookup_clients: int = LOOKUP_CLIENTS
    lookup_keys: int = 50_000  # random existing keys, spread over the clients
    single_client_seconds: float = 3.0  # the same lookups from one client, for context
    # The same 16 clients, each sending LOOKUP_PACED_RATE lookups a second (not as fast as the
    # answers come): the latency consumers see at a steady load rather than at saturation.
    lookup_paced_rate: float = LOOKUP_PACED_RATE
    # `mdhub serve --processes` of the read server: one per core, as a deployment that answers
    # many lookups runs (one Python process answers on one core at a time).
    server_processes: int = field(default_factory=lambda: os.cpu_count() or 1)
    find_runs: int = 50
    find_warmup_runs: int = 3
    seed: int = 42

    @classmethod
    def for_rows(cls, rows: int, *, lookup_seconds: float | None = None, **kw: Any) -> ReadOptions:
        """Defaults scaled to the data: shorter lookup runs below 1M rows (a smoke check)."""
        small = rows < 1_000_000
        if lookup_seconds is None:
            lookup_seconds = 3.0 if small else 10.0
        return cls(
            rows=rows,
            lookup_seconds=lookup_seconds,
            lookup_warmup=1.0 if small else 2.0,
            single_client_seconds=1.0 if small else 3.0,
            **kw,
        )

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0 < q ≤ 100) by the nearest-rank method: the smallest value that
    at least q% of the values do not exceed (p99 of 50 values is their maximum)."""
    if not values:
        raise ValueError("no values")
    if not 0 < q <= 100:
        raise ValueError(f"percentile {q} is not in (0, 100]")
    ordered = sorted(values)
    return ordered[max(1, math.ceil(q / 100 * len(ordered))) - 1]


@dataclass(frozen=True)
class Latencies:
    """A latency sample in milliseconds, summarized."""

    count: int
    p50: float
    p95: float
    p99: float
    max: float
    mean: float

    @classmethod
    def of_seconds(cls, seconds: Sequence[float]) -> Latencies:
        ms = sorted(s * 1000 for s in seconds)
        return cls(
            count=len(ms),
            p50=percentile(ms, 50),
            p95=percentile(ms, 95),
            p99=percentile(ms, 99),
            max=ms[-1],
            mean=statistics.fmean(ms),
        )

    def as_dict(self) -> dict[str, float]:
        return {
            "count": self.count,
            "p50_ms": round(self.p50, 3),
            "p95_ms": round(self.p95, 3),
            "p99_ms": round(self.p99, 3),
            "max_ms": round(self.max, 3),
            "mean_ms": round(self.mean, 3),
        }


def matches(record: Mapping[str, Any], query: Mapping[str, Any]) -> bool:
    """Whether a record satisfies a filter of the find shapes (equality, `$gte`, `$gt`, `$lte`,
    `$lt`, `$in`): how the benchmark checks that every answer is right."""
    for name, condition in query.items():
        value = record.get(name)
        if not isinstance(condition, Mapping):
            if value != condition:
                return False
            continue
        for op, operand in condition.items():
            if op == "$in":
                ok = value in operand
            elif value is None:
                ok = False
            elif op == "$gte":
                ok = value >= operand
            elif op == "$gt":
                ok = value > operand
            elif op == "$lte":
                ok = value <= operand
            elif op == "$lt":
                ok = value < operand
            else:
                raise ValueError(f"operator {op} is not checked by the benchmark")
            if not ok:
                return False
    return True


def page_problems(
    shape: FindShape, results: Sequence[Mapping[str, Any]], has_next: bool, key: str
) -> list[str]:
    """What is wrong with one page of a find: records that miss the filter, a short page that
    claims a next one, a full page without one, and, when the shape sorts by key, the order."""
    problems = []
    wrong = sum(not matches(r, shape.filter) for r in results)
    if wrong:
        problems.append(f"{wrong} record(s) do not match the filter")
    if len(results) > shape.limit:
        problems.append(f"{len(results)} records for limit {shape.limit}")
    if len(results) < shape.limit and has_next:
        problems.append(f"a short page ({len(results)}) with a next cursor")
    if shape.sort is not None:
        keys = [r.get(key) for r in results]
        if keys != sorted(keys, key=str):
            problems.append("not sorted by key")
    return problems


# Summaries ----------------------------------------------------------------------------------


@dataclass
class ReadItem:
    """One measure of one role: e.g. the CSV export's seconds, or the lookups' p99."""

    name: str
    value: float | None  # seconds (exports, index builds) or milliseconds (lookups, finds)
    unit: str  # "s" or "ms"
    details: dict[str, Any] = field(default_factory=dict)
    error: str | None = None


def lookup_name(clients: int, rate: float | None = None) -> str:
    """The measure of lookups from `clients` clients: "lookup" for the target's 16 in a closed
    loop; paced runs name their rate per client."""
    if rate is not None:
        return f"lookup, {clients} clients at {rate:g}/s each"
    return (
        "lookup"
        if clients == LOOKUP_CLIENTS
        else f"lookup, {clients} client" + ("s" if clients > 1 else "")
    )


def item_target(backend: str, name: str) -> tuple[str, float] | None:
    """A measure's target: ("ratio", r) for mdhub ÷ the PostgreSQL baseline, ("ms", t) for
    an absolute p99; None when the measure is for context only."""
    del backend  # the targets are the same on both backends (the export's is against PG COPY)
    if name == "export csv":
        return ("ratio", EXPORT_TARGET_RATIO)
    if name == "lookup" or name.startswith(f"lookup, {LOOKUP_CLIENTS} clients at"):
        return ("ms", LOOKUP_TARGET_P99_MS)
    if name.startswith("find "):
        return ("ms", FIND_TARGET_P99_MS)
    return None


def baseline_item(name: str) -> str:
    """The baseline measure a measure is divided by: every export by the CSV export."""
    return "export csv" if name.startswith("export ") else name


def summarize_reads(runs: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """One row per backend and measure: the baseline's and mdhub's (http) median value over
    the repeats, the ratio, the target and whether it was met.

    `runs` are role outcomes: {backend, role, items: {name: ReadItem as dict}, peak_rss_mb
    (for http: the server's)}. An export on SQLite is also divided by PostgreSQL's COPY of the same
    run (`vs_postgres_baseline`), against which its target counts.
    """

    def values(backend: str, role: str, name: str) -> list[float]:
        found = []
        for run in runs:
            if (run["backend"], run["role"]) != (backend, role):
                continue
            item = run["items"].get(name)
            if item and item.get("value") is not None and not item.get("error"):
                found.append(float(item["value"]))
        return found

    def median(found: list[float]) -> float | None:
        return statistics.median(found) if found else None

    rows: list[dict[str, Any]] = []
    ordered = sorted(runs, key=lambda run: (run["backend"], run["role"] != "http"))
    keys = dict.fromkeys(
        (run["backend"], name)
        for run in ordered
        for name in run["items"]
        if run["role"] in READ_ROLES
    )
    for backend, name in keys:
        http_runs = [r for r in runs if (r["backend"], r["role"]) == (backend, "http")]
        items = [r["items"][name] for r in runs if r["backend"] == backend and name in r["items"]]
        base = median(values(backend, "baseline", baseline_item(name)))
        mine = median(values(backend, "http", name))
        unit = next((i["unit"] for i in items), "s")
        row: dict[str, Any] = {
            "backend": backend,
            "name": name,
            "unit": unit,
            "baseline": base,
            "http": mine,
            "ratio": mine / base if mine and base else None,
            "errors": sorted({str(i["error"]) for i in items if i.get("error")}),
            "details": {
                r["role"]: r["items"][name]["details"]
                for r in runs
                if r["backend"] == backend and name in r["items"]
            },
            "server_peak_rss_mb": max(
                (float(r.get("peak_rss_mb") or 0) for r in http_runs), default=None
            ),
            "target": None,
            "met": None,
        }
        target = item_target(backend, name)
        if target is not None:
            kind, bound = target
            row["target"] = {"kind": kind, "value": bound}
            if kind == "ratio":
                pg_base = median(values("postgres", "baseline", baseline_item(name)))
                against = pg_base if backend != "postgres" else base
                ratio = mine / against if mine and against else None
                if backend != "postgres":
                    row["vs_postgres_baseline"] = ratio
                row["met"] = None if ratio is None else ratio <= bound
            elif mine is not None:
                row["met"] = mine < bound
        rows.append(row)
    return rows


def sample_keys(csv_path: Path, rows: int, count: int, seed: int) -> list[str]:
    """`count` random keys (the first column) of a generated CSV file of `rows` data lines, in
    a random order; the same for the same arguments. One pass over the file, no parsing."""
    rng = random.Random(seed)
    wanted = sorted(rng.sample(range(rows), min(count, rows)))
    keys: list[str] = []
    with csv_path.open("rb") as f:
        f.readline()  # the header
        position = 0
        for line_number, line in enumerate(f):
            if line_number == wanted[position]:
                keys.append(line.split(b",", 1)[0].decode("utf-8"))
                position += 1
                if position == len(wanted):
                    break
    rng.shuffle(keys)
    return keys
