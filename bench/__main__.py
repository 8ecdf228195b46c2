"""`python -m bench`: mdhub's engine and its HTTP API against the raw SQL baselines, side by side.

For each backend and scenario: reset the database, set up the starting state of each role
(untimed): the raw baseline, the engine in-process, and a real `mdhub serve` fed over HTTP;
then run the measured operation of each in a fresh child process (alternating the order across
repeats), measure the peak RSS of the measured process tree (for http: the server's), and print
seconds, ratios to the baseline, peak RSS and whether the statistics are exact.
See docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import platform
import shlex
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from rich.console import Console
from rich.table import Table

from bench import memory, read_report, worker
from bench.baseline import libpq_url
from bench.generate import SCHEMA_FILE, Counts, generate, is_current, read_counts
from bench.http_api import companion_url
from bench.reads import READ_ROLES, READ_SCENARIOS, ReadOptions, summarize_reads
from bench.scenarios import (
    BACKENDS,
    HTTP_SQLITE_VS_POSTGRES_BASELINE,
    SCENARIOS,
    TARGET_PEAK_RSS_MB,
    differences,
    expected_counts,
    target_ratio,
)

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA_DIR = Path(__file__).resolve().parent / "data"
DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/mdhub_bench"
ROLES = ("baseline", "engine", "http")
MEASURED_ROLES = ("engine", "http")  # compared with the baseline
RSS_SAMPLE_SECONDS = 0.1
ALL_SCENARIOS = (*SCENARIOS, *READ_SCENARIOS)
SCENARIO_GROUPS = {
    "write": tuple(SCENARIOS),
    "read": READ_SCENARIOS,
    "all": ALL_SCENARIOS,
}
READ = worker.READ

console = Console(highlight=False, width=None if sys.stdout.isatty() else 150)


@dataclass
class Measurement:
    """One timed child process."""

    backend: str
    scenario: str
    role: str
    repeat: int
    seconds: float | None
    peak_rss_mb: float
    status: str
    statistics: dict[str, Any] | None = None
    expected: dict[str, int] = field(default_factory=dict)
    mismatches: list[str] = field(default_factory=list)
    error: str | None = None
    client_peak_rss_mb: float | None = None  # http: the uploading client, apart from the server
    upload_seconds: float | None = None  # http: of `seconds`, until the upload was answered
    items: dict[str, Any] | None = None  # the read scenarios: one entry per measure


# Child processes ----------------------------------------------------------------------------


def spawn(task: dict[str, Any], work_dir: Path, timeout: float) -> tuple[dict[str, Any], float]:
    """Run `python -m bench.worker` on `task` in a fresh process (its own session, killed after
    `timeout` seconds); its outcome and its peak RSS in MB (see bench.memory). The child's
    output goes to a log file, whose tail is shown when the child fails."""
    stem = work_dir / f"{task['backend']}-{task['scenario']}-{task['role']}-{uuid.uuid4().hex[:8]}"
    result_file, log_file = stem.with_suffix(".json"), stem.with_suffix(".log")
    task = {**task, "result_file": str(result_file)}
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    sampled_kb = 0
    timed_out = False
    with log_file.open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "bench.worker", json.dumps(task)],
            cwd=REPO_ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        try:
            while not os.waitpid(proc.pid, os.WNOHANG)[0]:
                sampled_kb = max(sampled_kb, memory.tree_rss_kb(proc.pid))
                if time.monotonic() > deadline:
                    timed_out = True
                    _kill(proc.pid)
                    break
                time.sleep(RSS_SAMPLE_SECONDS)
        except BaseException:  # Ctrl-C does not reach the child's session: end it here
            _kill(proc.pid)
            raise
        finally:
            proc.returncode = -1  # reaped above; keeps Popen from waiting again
    try:
        outcome: dict[str, Any] = json.loads(result_file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        outcome = {"status": "error", "error": "the worker died without a result"}
    if timed_out:
        outcome = {"status": "timeout", "error": f"killed after {timeout:.0f} s"}
    elif outcome.get("status") == "error":
        tail = log_file.read_text(encoding="utf-8", errors="replace").splitlines()[-15:]
        console.print("\n".join(f"    | {line}" for line in tail), style="dim", markup=False)
    result_file.unlink(missing_ok=True)
    log_file.unlink(missing_ok=True)
    peak_mb = max(sampled_kb / 1024, float(outcome.get("self_peak_rss_mb") or 0))
    return outcome, peak_mb


def _kill(pid: int) -> None:
    """Kill the process group of our child `pid` (its session) and reap the child."""
    with contextlib.suppress(ProcessLookupError, ChildProcessError):
        os.killpg(pid, signal.SIGKILL)
        os.waitpid(pid, 0)


# PostgreSQL administration ------------------------------------------------------------------


class PgAdmin:
    """Drops and recreates the benchmark database (and any companion database, such as the
    http role's); settles them between runs."""

    def __init__(self, url: str, companions: tuple[str, ...] = ()) -> None:
        self.url = url
        self.conninfo = libpq_url(url)
        self.conninfos = [self.conninfo, *(libpq_url(c) for c in companions)]
        self.dbnames = [str(conninfo_to_dict(c).get("dbname") or "") for c in self.conninfos]
        self.dbname = self.dbnames[0]
        for name in self.dbnames:
            if "bench" not in name:
                raise SystemExit(
                    f"refusing to drop database {name!r}: its name must contain 'bench'"
                )
        self.maintenance = make_conninfo(self.conninfo, dbname="postgres")

    def server_version(self) -> str:
        with psycopg.connect(self.maintenance, connect_timeout=5) as conn:
            row = conn.execute("SHOW server_version").fetchone()
        return str(row[0]) if row else "?"

    def recreate(self) -> None:
        with psycopg.connect(self.maintenance, autocommit=True) as conn:
            for name in self.dbnames:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                conn.execute(f'CREATE DATABASE "{name}"')

    def settle(self) -> None:
        """VACUUM (ANALYZE) every table of every database and CHECKPOINT, so that no autovacuum
        or checkpoint owed by earlier steps runs during the next measurement."""
        for conninfo in self.conninfos:
            with psycopg.connect(conninfo, autocommit=True) as conn:
                conn.execute("VACUUM (ANALYZE)")
        with psycopg.connect(self.conninfo, autocommit=True) as conn:
            conn.execute("CHECKPOINT")


# The run ------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="mdhub's engine and HTTP API against raw SQL baselines.",
    )
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows of the initial table")
    parser.add_argument("--backend", choices=[*BACKENDS, "both"], default="both")
    parser.add_argument(
        "--roles",
        help=f"comma-separated subset of {','.join(ROLES)} (default: all)",
    )
    parser.add_argument(
        "--only", choices=[*ROLES, "all"], help="one role, or all (the same as --roles)"
    )
    parser.add_argument("--pg-url", default=DEFAULT_PG_URL, help="dropped and recreated")
    parser.add_argument(
        "--scenarios",
        default="all",
        help=f"comma-separated subset of {','.join(ALL_SCENARIOS)}, or the groups "
        "write, read, all (default)",
    )
    parser.add_argument(
        "--lookup-seconds",
        type=float,
        help="recorded seconds of the 16-client lookups (default: 10 at 1M rows and more, else 3)",
    )
    parser.add_argument(
        "--find-runs", type=int, default=50, help="timed runs of each find shape (default 50)"
    )
    parser.add_argument(
        "--server-processes",
        type=int,
        default=os.cpu_count() or 1,
        help="`mdhub serve --processes` of the read scenarios' server (default: one per core)",
    )
    parser.add_argument("--repeat", type=int, default=1, help="runs per role; medians shown")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR)
    parser.add_argument("--json", type=Path, help="also write the results to this file")
    parser.add_argument("--keep", action="store_true", help="keep the SQLite files of each run")
    parser.add_argument(
        "--timeout",
        type=float,
        help="seconds before a measured run is killed (default: 60 + 1 per 2,000 rows)",
    )
    args = parser.parse_args(argv)
    if args.roles is not None and args.only is not None:
        parser.error("give --roles or --only, not both")
    wanted = args.roles if args.only in (None, "all") else args.only
    args.roles = parse_roles(wanted)
    if not args.roles:
        parser.error(f"unknown or no role(s) in {wanted!r}; known: {','.join(ROLES)}")
    args.scenarios = parse_scenarios(args.scenarios)
    if not args.scenarios:
        parser.error(f"unknown or no scenario(s); known: {','.join(ALL_SCENARIOS)}")
    if args.rows < 100 or min(args.repeat, args.find_runs, args.server_processes) < 1:
        parser.error(
            "--rows must be at least 100, --repeat, --find-runs and --server-processes at least 1"
        )
    if args.timeout is None:
        args.timeout = 60 + args.rows / 2000
    return args


def parse_scenarios(text: str) -> list[str]:
    """The scenarios named in a comma-separated list of names and groups (write, read, all),
    in ALL_SCENARIOS order; [] when it names none or an unknown one."""
    names: set[str] = set()
    for name in (n.strip() for n in text.split(",")):
        if name in SCENARIO_GROUPS:
            names.update(SCENARIO_GROUPS[name])
        elif name in ALL_SCENARIOS:
            names.add(name)
        elif name:
            return []
    return [s for s in ALL_SCENARIOS if s in names]


def parse_roles(text: str | None) -> list[str]:
    """The roles named in a comma-separated list (None: all), in ROLES order; [] when the list
    names none or an unknown one."""
    if text is None:
        return list(ROLES)
    names = {name.strip() for name in text.split(",") if name.strip()}
    if not names or names - set(ROLES):
        return []
    return [role for role in ROLES if role in names]


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    cpu = platform.processor() or platform.machine()
    memory_mb = None
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory_mb = int(line.split()[1]) // 1024
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cpus": os.cpu_count(),
        "memory_mb": memory_mb,
        "os": platform.platform(),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "psycopg": psycopg.__version__,
        "load_average": load_average(),
    }


def load_average() -> list[float] | None:
    """The 1, 5 and 15 minute load averages: other work on a shared machine skews latencies."""
    try:
        return [float(v) for v in Path("/proc/loadavg").read_text().split()[:3]]
    except (OSError, ValueError):
        return None


def run_scenario(
    backend: str,
    scenario_name: str,
    repeat: int,
    roles: list[str],
    files: dict[str, str],
    counts: Counts,
    args: argparse.Namespace,
    pg: PgAdmin | None,
    work_dir: Path,
) -> list[Measurement]:
    """Reset, set up every role (untimed), then time each role once; alternating the order."""
    scenario = SCENARIOS[scenario_name]
    run_dir = work_dir / f"{backend}-{scenario_name}-{repeat}"
    run_dir.mkdir(parents=True)
    task = {
        "backend": backend,
        "scenario": scenario_name,
        "pg_url": args.pg_url,
        "sqlite_path": str(run_dir / "baseline.db"),
        "engine_dir": str(run_dir / "engine"),
        "http_dir": str(run_dir / "http"),
        "timeout": args.timeout,
        "files": files,
    }
    if pg is not None:
        pg.recreate()
    failed: dict[str, str] = {}
    for role in roles:  # in this process: only the measured operations need their own
        outcome = worker.execute({**task, "role": role, "phase": "setup"})
        if outcome.get("status") == "error":
            failed[role] = f"setup failed: {outcome.get('error')}"
    measurements = []
    order = roles if repeat % 2 == 0 else roles[::-1]
    for role in order:
        expected = expected_counts(scenario, role, counts)
        if role in failed:
            m = Measurement(
                backend, scenario_name, role, repeat, None, 0.0, "error", error=failed[role]
            )
        else:
            os.sync()
            if pg is not None:
                pg.settle()
            outcome, rss = spawn({**task, "role": role, "phase": "run"}, work_dir, args.timeout)
            rss = float(outcome.get("server_peak_rss_mb") or rss)  # http: the server alone
            stats = outcome.get("statistics")
            m = Measurement(
                backend=backend,
                scenario=scenario_name,
                role=role,
                repeat=repeat,
                seconds=outcome.get("seconds"),
                peak_rss_mb=round(rss, 1),
                status=str(outcome.get("status")),
                statistics=stats,
                expected=expected,
                mismatches=differences(expected, stats),
                error=outcome.get("error"),
                client_peak_rss_mb=outcome.get("client_peak_rss_mb"),
                upload_seconds=outcome.get("upload_seconds"),
            )
        m.expected = expected
        measurements.append(m)
        _progress(m)
    if not args.keep:
        shutil.rmtree(run_dir, ignore_errors=True)
    return measurements


def run_reads(
    backend: str,
    repeat: int,
    roles: list[str],
    files: dict[str, str],
    options: ReadOptions,
    args: argparse.Namespace,
    pg: PgAdmin | None,
    work_dir: Path,
) -> list[Measurement]:
    """The read scenarios: reset, load the initial snapshot for each role (untimed), then one
    child per role runs every chosen read scenario (alternating the order of the roles)."""
    reads = [s for s in args.scenarios if s in READ_SCENARIOS]
    run_dir = work_dir / f"{backend}-{READ}-{repeat}"
    run_dir.mkdir(parents=True)
    task = {
        "backend": backend,
        "scenario": READ,
        "reads": reads,
        "read_options": options.as_dict(),
        "pg_url": args.pg_url,
        "sqlite_path": str(run_dir / "baseline.db"),
        "engine_dir": str(run_dir / "engine"),
        "http_dir": str(run_dir / "http"),
        "timeout": args.timeout,
        "files": files,
    }
    if pg is not None:
        pg.recreate()
    failed: dict[str, str] = {}
    for role in roles:
        outcome = worker.execute({**task, "role": role, "phase": "setup"})
        if outcome.get("status") == "error":
            failed[role] = f"setup failed: {outcome.get('error')}"
    measurements = []
    for role in roles if repeat % 2 == 0 else roles[::-1]:
        if role in failed:
            m = Measurement(backend, READ, role, repeat, None, 0.0, "error", error=failed[role])
        else:
            os.sync()
            if pg is not None:
                pg.settle()
            started = time.perf_counter()
            outcome, rss = spawn({**task, "role": role, "phase": "run"}, work_dir, args.timeout)
            items = outcome.get("items") or {}
            m = Measurement(
                backend=backend,
                scenario=READ,
                role=role,
                repeat=repeat,
                seconds=time.perf_counter() - started,
                peak_rss_mb=round(float(outcome.get("server_peak_rss_mb") or rss), 1),
                status=str(outcome.get("status")),
                mismatches=[f"{n}: {i['error']}" for n, i in items.items() if i.get("error")],
                error=outcome.get("error"),
                client_peak_rss_mb=outcome.get("client_peak_rss_mb"),
                items=items,
            )
        measurements.append(m)
        read_report.progress(console, m.backend, m.role, m.repeat, m.status, m.error, m.items)
    if not args.keep:
        shutil.rmtree(run_dir, ignore_errors=True)
    return measurements


def _progress(m: Measurement) -> None:
    head = f"  {m.backend:<8} {m.scenario:<9} {m.role:<8} #{m.repeat + 1}"
    if m.seconds is None or m.status != "succeeded":
        console.print(f"{head}  [red]{m.status}: {m.error}[/red]")
        return
    check = "exact" if not m.mismatches else "[red]" + ", ".join(m.mismatches) + "[/red]"
    http = ""
    if m.upload_seconds is not None and m.client_peak_rss_mb is not None:
        http = f"  (upload {m.upload_seconds:.2f} s; client RSS {m.client_peak_rss_mb:.0f} MB)"
    console.print(
        f"{head}  {m.seconds:7.2f} s  peak RSS {m.peak_rss_mb:6.1f} MB  counts {check}{http}"
    )


def summarize(measurements: list[Measurement]) -> list[dict[str, Any]]:
    """One row per backend and scenario: per role the median seconds, highest peak RSS and
    checks; the engine's and http's ratios to the baseline and their targets."""
    rows = []
    keys = dict.fromkeys((m.backend, m.scenario) for m in measurements)
    for backend, scenario in keys:
        row: dict[str, Any] = {
            "backend": backend,
            "scenario": scenario,
            "target_ratio": target_ratio(backend, scenario),
            "targets": {role: target_ratio(backend, scenario, role) for role in MEASURED_ROLES},
        }
        for role in ROLES:
            runs = [
                m
                for m in measurements
                if (m.backend, m.scenario, m.role) == (backend, scenario, role)
            ]
            ok = [m for m in runs if m.status == "succeeded" and m.seconds is not None]
            seconds = [m.seconds for m in ok if m.seconds is not None]
            row[role] = {
                "ran": bool(runs),
                "seconds": statistics.median(seconds) if seconds else None,
                "all_seconds": [m.seconds for m in runs],
                "peak_rss_mb": max((m.peak_rss_mb for m in runs), default=None),
                "exact": bool(ok) and len(ok) == len(runs) and not any(m.mismatches for m in runs),
                "problems": sorted(
                    {p for m in runs for p in ([m.error] if m.error else []) + m.mismatches}
                ),
            }
        base = row["baseline"]["seconds"]
        row["ratios"] = {role: _ratio(row[role]["seconds"], base) for role in MEASURED_ROLES}
        row["ratio"] = row["ratios"]["engine"]
        rows.append(row)
    for row in rows:
        postgres = next(
            (r for r in rows if (r["backend"], r["scenario"]) == ("postgres", row["scenario"])),
            None,
        )
        if row["backend"] == "sqlite" and row["scenario"] == "upsert" and postgres is not None:
            row["http_vs_postgres_baseline"] = {
                "ratio": _ratio(row["http"]["seconds"], postgres["baseline"]["seconds"]),
                "target": HTTP_SQLITE_VS_POSTGRES_BASELINE,
            }
    return rows


def _ratio(seconds: float | None, baseline: float | None) -> float | None:
    return seconds / baseline if seconds and baseline else None


def print_table(rows: list[dict[str, Any]]) -> None:
    """The results: one line per backend, scenario and role that ran."""
    table = Table(title="mdhub vs raw SQL baseline (median seconds; peak RSS in MB)")
    for name in ("Scenario", "Backend", "Role"):
        table.add_column(name)
    for name in ("Seconds", "÷ baseline", "Target", "Peak RSS"):
        table.add_column(name, justify="right")
    table.add_column("Statistics")
    for row in rows:
        ran = [role for role in ROLES if row[role]["ran"]]
        for role in ran:
            result = row[role]
            ratio_text = target_text = "—"
            ratio = row["ratios"].get(role)
            if role in MEASURED_ROLES:
                target = row["targets"][role]
                target_text = f"≤ {target}x"
                if ratio is not None:
                    ratio_text = _colored(f"{ratio:.2f}x", ratio <= target)
            rss = result["peak_rss_mb"]
            rss_text = "—" if not rss else f"{rss:.0f}"
            if rss and role in MEASURED_ROLES:
                rss_text = _colored(rss_text, rss < TARGET_PEAK_RSS_MB)
            problem = result["problems"][0][:60] if result["problems"] else "failed"
            table.add_row(
                row["scenario"],
                row["backend"],
                role,
                _seconds(result["seconds"]),
                ratio_text,
                target_text,
                rss_text,
                "[green]exact[/green]" if result["exact"] else f"[red]{problem}[/red]",
                end_section=role == ran[-1],
            )
    console.print(table)
    for row in rows:
        cross = row.get("http_vs_postgres_baseline")
        if cross and cross["ratio"] is not None:
            text = _colored(f"{cross['ratio']:.2f}x", cross["ratio"] <= cross["target"])
            console.print(
                f"{row['backend']} {row['scenario']} over HTTP ÷ postgres baseline: {text}"
                f" (target ≤ {cross['target']}x)"
            )


def _colored(text: str, good: bool) -> str:
    color = "green" if good else "red"
    return f"[{color}]{text}[/{color}]"


def _seconds(value: float | None) -> str:
    return "error" if value is None else f"{value:.2f}"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = dt.datetime.now(dt.UTC)
    info = machine()
    console.print(
        f"[bold]mdhub bench[/bold]: {args.rows:,} rows, seed {args.seed}, "
        f"{info['cpus']} CPUs ({info['cpu']}), {info['memory_mb']} MB RAM, "
        f"Python {info['python']}, SQLite {info['sqlite']}, load average {info['load_average']}"
    )

    data_dir = args.data_dir / f"vendors-{args.rows}-seed{args.seed}"
    cached = is_current(args.rows, data_dir, args.seed)
    t0 = time.perf_counter()
    initial, next_, delete = generate(args.rows, data_dir, args.seed)
    generate_seconds = time.perf_counter() - t0
    counts = read_counts(data_dir)
    size_mb = initial.stat().st_size / 1e6
    console.print(
        f"data: {data_dir} — initial {size_mb:.0f} MB, next {next_.stat().st_size / 1e6:.0f} MB, "
        + ("cached" if cached else f"generated in {generate_seconds:.1f} s")
    )
    files = {
        "initial": str(initial),
        "next": str(next_),
        "delete": str(delete),
        "schema": str(data_dir / SCHEMA_FILE),
    }

    roles: list[str] = args.roles

    backends = list(BACKENDS) if args.backend == "both" else [args.backend]
    pg: PgAdmin | None = None
    if "postgres" in backends:
        companions = (companion_url(args.pg_url),) if "http" in roles else ()
        pg = PgAdmin(args.pg_url, companions)
        try:
            info["postgres"] = pg.server_version()
        except psycopg.Error as exc:
            if args.backend == "postgres":
                console.print(f"[red]PostgreSQL is not reachable: {exc}[/red]")
                return 2
            console.print(f"[yellow]PostgreSQL is not reachable, skipped: {exc}[/yellow]")
            backends.remove("postgres")
            pg = None
    if "postgres" in info:
        console.print(f"PostgreSQL {info['postgres']} at {', '.join(pg.dbnames) if pg else '?'}")

    work_dir = args.data_dir / "runs" / f"{started:%Y%m%dT%H%M%S}-{os.getpid()}"
    work_dir.mkdir(parents=True)
    measurements: list[Measurement] = []
    read_roles = [role for role in roles if role in READ_ROLES]
    reads = [s for s in args.scenarios if s in READ_SCENARIOS]
    read_options = ReadOptions.for_rows(
        args.rows,
        lookup_seconds=args.lookup_seconds,
        find_runs=args.find_runs,
        seed=args.seed,
        server_processes=args.server_processes,
    )
    if reads and not read_roles:
        console.print(f"[yellow]the read scenarios run only with roles {READ_ROLES}[/yellow]")
    try:
        for backend in backends:
            for scenario in (s for s in args.scenarios if s in SCENARIOS):
                for repeat in range(args.repeat):
                    measurements += run_scenario(
                        backend,
                        scenario,
                        repeat,
                        roles,
                        files,
                        counts,
                        args,
                        pg if backend == "postgres" else None,
                        work_dir,
                    )
            for repeat in range(args.repeat if reads and read_roles else 0):
                measurements += run_reads(
                    backend,
                    repeat,
                    read_roles,
                    files,
                    read_options,
                    args,
                    pg if backend == "postgres" else None,
                    work_dir,
                )
    finally:
        if not args.keep:
            shutil.rmtree(work_dir, ignore_errors=True)

    writes = [m for m in measurements if m.scenario != READ]
    read_runs = [asdict(m) for m in measurements if m.scenario == READ and m.items is not None]
    rows = summarize(writes)
    if writes:
        print_table(rows)
    read_rows = summarize_reads(read_runs)
    if read_rows:
        read_report.print_table(console, read_rows)
    if args.json:
        report = {
            "started": started.isoformat(timespec="seconds"),
            "command": shlex.join(
                [Path(sys.executable).name, "-m", "bench", *(argv or sys.argv[1:])]
            ),
            "rows": args.rows,
            "seed": args.seed,
            "repeat": args.repeat,
            "machine": info,
            "load_average_at_end": load_average(),
            "data": {
                "dir": str(data_dir),
                "cached": cached,
                "generate_seconds": None if cached else round(generate_seconds, 2),
                "counts": asdict(counts),
                "bytes": {name: Path(path).stat().st_size for name, path in files.items()},
            },
            "roles": roles,
            "engine": "ran" if "engine" in roles else "not run",
            "summary": rows,
            "reads": read_rows,
            "read_options": read_options.as_dict() if reads else None,
            "runs": [asdict(m) for m in measurements],
        }
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
        console.print(f"results written to {args.json}")
    failed = any(m.status != "succeeded" or m.mismatches for m in measurements)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
