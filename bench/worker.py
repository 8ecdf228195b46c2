"""Child-process entry point: one measured operation per process.

`python -m bench.worker TASK_JSON` runs the task and writes its outcome as JSON to the task's
`result_file` (the parent measures the process's peak RSS with wait4). The untimed setups run
in the parent through `execute`. Task keys:

- `role`: "baseline", "engine" or "http"; `phase`: "setup" (untimed) or "run" (timed);
- `backend`: "postgres" or "sqlite"; `scenario`: a name from `bench.scenarios.SCENARIOS`, or
  "read" for the read scenarios listed in `reads` (bench.reads; baseline and http only), with
  `read_options` (bench.reads.ReadOptions as a dict);
- `pg_url`: the SQLAlchemy URL of the PostgreSQL database;
- `sqlite_path`: the baseline's SQLite file; `engine_dir`: the engine's data_dir;
- `http_dir`: the server's data_dir; `timeout`: seconds the http role waits for a job;
- `files`: paths of the generated `initial`, `next`, `delete` files and the `schema`;
- `result_file`: where to write the outcome.
"""

from __future__ import annotations

import json
import sys
import traceback
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from bench import baseline, memory
from bench.reads import ReadOptions
from bench.scenarios import SCENARIOS

Task = dict[str, Any]
READ = "read"  # the scenario name of a run of the read scenarios

_PG_BASELINE: dict[str, Callable[..., float]] = {
    "initial": baseline.pg_initial,
    "upsert": baseline.pg_upsert,
    "delete": baseline.pg_delete,
    "overwrite": baseline.pg_overwrite,
}
_SQLITE_BASELINE: dict[str, Callable[..., float]] = {
    "initial": baseline.sqlite_initial,
    "upsert": baseline.sqlite_upsert,
    "delete": baseline.sqlite_delete,
    "overwrite": baseline.sqlite_overwrite,
}


def _read_outcome(items: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """A read run's outcome: succeeded when it ran (its measures carry their own errors)."""
    return {"status": "succeeded", "items": {n: asdict(i) for n, i in items.items()}, **extra}


def _baseline_reads(task: Task) -> dict[str, Any]:
    from bench import read_baseline

    initial = Path(task["files"]["initial"])
    postgres = task["backend"] == "postgres"
    target: Any = task["pg_url"] if postgres else task["sqlite_path"]
    if task["phase"] == "setup":
        read_baseline.setup(task["backend"], target, initial)
        return {}
    options = ReadOptions(**task["read_options"])
    scratch = Path(task["sqlite_path"]).parent
    items = read_baseline.run(task["backend"], target, task["reads"], initial, options, scratch)
    return _read_outcome(items)


def _baseline(task: Task) -> dict[str, Any]:
    if task["scenario"] == READ:
        return _baseline_reads(task)
    scenario = SCENARIOS[task["scenario"]]
    files = {name: Path(path) for name, path in task["files"].items()}
    table = baseline.Table.from_schema(json.loads(files["schema"].read_text(encoding="utf-8")))
    postgres = task["backend"] == "postgres"
    target: Any = task["pg_url"] if postgres else Path(task["sqlite_path"])
    if task["phase"] == "setup":
        if postgres:
            baseline.pg_create_table(target, table)
            if scenario.from_initial:
                baseline.pg_initial(target, files["initial"], table)
        else:
            baseline.sqlite_create_table(target, table)
            if scenario.from_initial:
                baseline.sqlite_initial(target, files["initial"], table)
        return {}
    operations = _PG_BASELINE if postgres else _SQLITE_BASELINE
    stats: dict[str, int] = {}
    seconds = operations[scenario.name](target, files[scenario.source], table, stats)
    return {"seconds": seconds, "status": "succeeded", "statistics": stats}


def _engine(task: Task) -> dict[str, Any]:
    from bench import engine

    scenario = SCENARIOS[task["scenario"]]
    files = {name: Path(path) for name, path in task["files"].items()}
    data_dir = Path(task["engine_dir"])
    url = engine.database_url(task["backend"], task["pg_url"])
    if task["phase"] == "setup":
        schema = json.loads(files["schema"].read_text(encoding="utf-8"))
        engine.setup(data_dir, url, schema, files["initial"] if scenario.from_initial else None)
        return {}
    outcome = engine.run(data_dir, url, files[scenario.source], scenario.operation)
    return {
        "seconds": outcome.seconds,
        "status": outcome.status,
        "statistics": outcome.statistics,
        "version": None if outcome.version is None else str(outcome.version),
        "error": outcome.error,
    }


def _http(task: Task) -> dict[str, Any]:
    """The http role. Its outcome's `server_peak_rss_mb` is the server's process tree (which
    the parent's sampling of this process tree would mix with the client's)."""
    from bench import http_api

    if task["scenario"] == READ:
        return _http_reads(task)
    scenario = SCENARIOS[task["scenario"]]
    files = {name: Path(path) for name, path in task["files"].items()}
    data_dir = Path(task["http_dir"])
    url = http_api.database_url(task["backend"], task["pg_url"], data_dir)
    timeout = float(task["timeout"])
    if task["phase"] == "setup":
        schema = json.loads(files["schema"].read_text(encoding="utf-8"))
        initial = files["initial"] if scenario.from_initial else None
        http_api.setup(url, data_dir, schema, initial, timeout=timeout)
        return {}
    outcome = http_api.run(
        url, data_dir, files[scenario.source], scenario.operation, timeout=timeout
    )
    return {
        "seconds": outcome.seconds,
        "status": outcome.status,
        "statistics": outcome.statistics,
        "version": None if outcome.version is None else str(outcome.version),
        "error": outcome.error,
        "upload_seconds": outcome.upload_seconds,
        "server_peak_rss_mb": round(outcome.server_peak_rss_mb, 1),
        "client_peak_rss_mb": round(outcome.client_peak_rss_mb, 1),
    }


def _http_reads(task: Task) -> dict[str, Any]:
    from bench import http_api, read_http

    files = {name: Path(path) for name, path in task["files"].items()}
    data_dir = Path(task["http_dir"])
    url = http_api.database_url(task["backend"], task["pg_url"], data_dir)
    timeout = float(task["timeout"])
    if task["phase"] == "setup":
        schema = json.loads(files["schema"].read_text(encoding="utf-8"))
        http_api.setup(url, data_dir, schema, files["initial"], timeout=timeout)
        return {}
    options = ReadOptions(**task["read_options"])
    items, server_peak_mb = read_http.run(
        url, data_dir, task["reads"], files["initial"], options, timeout=timeout
    )
    return _read_outcome(
        items,
        server_peak_rss_mb=round(server_peak_mb, 1),
        client_peak_rss_mb=round(memory.peak_kb("self") / 1024, 1),
    )


_ROLES: dict[str, Callable[[Task], dict[str, Any]]] = {
    "baseline": _baseline,
    "engine": _engine,
    "http": _http,
}


def execute(task: Task) -> dict[str, Any]:
    """Run one task in this process; its outcome (`status` "error" and `error` if it raised)."""
    try:
        return _ROLES[task["role"]](task)
    except Exception as exc:
        traceback.print_exc()
        return {"status": "error", "error": f"{type(exc).__name__}: {exc}"[:2000]}


def main(argv: list[str] | None = None) -> int:
    """Run the task given as JSON in argv and write its outcome to the task's `result_file`;
    0 when it ran (whatever the engine's status), 1 when it raised."""
    task: Task = json.loads((argv if argv is not None else sys.argv[1:])[0])
    outcome = execute(task)
    outcome["self_peak_rss_mb"] = round(memory.self_peak_mb(), 1)
    Path(task["result_file"]).write_text(json.dumps(outcome, default=str), encoding="utf-8")
    return 1 if outcome.get("status") == "error" else 0


if __name__ == "__main__":
    sys.exit(main())
