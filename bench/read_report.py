"""How the read scenarios' results are shown: a progress line per run and the results table."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rich.console import Console
from rich.table import Table


def _value(value: float | None, unit: str) -> str:
    if value is None:
        return "—"
    if unit == "s":
        return f"{value:.2f} s"
    return f"{value:.2f} ms" if value < 10 else f"{value:.1f} ms"


def _details(item: Mapping[str, Any]) -> str:
    """The few details worth a glance: throughput, or the percentiles below the p99."""
    d = item.get("details") or {}
    if "mb_per_s" in d:
        return f"{d['rows_per_s'] / 1000:,.0f}k rows/s, {d['mb_per_s']:.0f} MB/s"
    if "requests_per_s" in d:
        server = d.get("server_cpu_ms_per_request")
        return (
            f"p50 {d['p50_ms']:.1f} / p95 {d['p95_ms']:.1f} ms, {d['requests_per_s']:.0f}/s, "
            + (f"server CPU {server:.2f} ms/req, " if server is not None else "")
            + f"client CPU {d['client_cpu_percent']:.0f}%"
        )
    if "median_ms" in d:
        return f"median {d['median_ms']:.1f} ms, {d.get('results')} results"
    return ""


def progress(
    console: Console,
    backend: str,
    role: str,
    repeat: int,
    status: str,
    error: str | None,
    items: Mapping[str, Any] | None,
) -> None:
    head = f"  {backend:<8} {'read':<9} {role:<8} #{repeat + 1}"
    if status != "succeeded" or items is None:
        console.print(f"{head}  [red]{status}: {error}[/red]")
        return
    for name, item in items.items():
        if item.get("error"):
            text = f"[red]{item['error'][:100]}[/red]"
        else:
            text = f"{_value(item['value'], item['unit'])}  {_details(item)}"
        console.print(f"{head}  {name:<26} {text}", markup=True, highlight=False)


def _target(row: Mapping[str, Any]) -> str:
    target = row.get("target")
    if not target:
        return "—"
    if target["kind"] == "ratio":
        return f"≤ {target['value']}x PG COPY"
    return f"p99 < {target['value']:.0f} ms"


def _ratio(row: Mapping[str, Any]) -> str:
    if row["ratio"] is None:
        return "—"
    text = f"{row['ratio']:.2f}x"
    target = row.get("target")
    if target and target["kind"] == "ratio" and "vs_postgres_baseline" not in row:
        text = _colored(text, bool(row["met"]))
    return text


def _colored(text: str, good: bool) -> str:
    color = "green" if good else "red"
    return f"[{color}]{text}[/{color}]"


def print_table(console: Console, rows: list[dict[str, Any]]) -> None:
    """One line per backend and measure: the baseline, mdhub over HTTP, their ratio, the
    target; the SQLite exports also against PostgreSQL's COPY below the table."""
    table = Table(title="mdhub reads vs raw SQL baseline (median of the runs)")
    for name in ("Measure", "Backend"):
        table.add_column(name)
    for name in ("Baseline", "mdhub http", "÷ baseline", "Target", "Server RSS"):
        table.add_column(name, justify="right")
    table.add_column("Details (http)")
    backends = [r["backend"] for r in rows]
    for i, row in enumerate(rows):
        unit = row["unit"]
        mine = _value(row["http"], unit)
        target = row.get("target")
        if target and target["kind"] == "ms" and row["met"] is not None:
            mine = _colored(mine, row["met"])
        if row["errors"]:
            mine = f"[red]{row['errors'][0][:60]}[/red]"
        label = row["name"] + (" (p99)" if unit == "ms" else "")
        rss = row["details"].get("http", {}).get("server_peak_rss_mb")
        rss = rss or row.get("server_peak_rss_mb")
        table.add_row(
            label,
            row["backend"],
            _value(row["baseline"], unit),
            mine,
            _ratio(row),
            _target(row),
            "—" if not rss else f"{rss:.0f} MB",
            _details({"details": row["details"].get("http") or {}}),
            end_section=i + 1 == len(rows) or backends[i + 1] != row["backend"],
        )
    console.print(table)
    for row in rows:
        cross = row.get("vs_postgres_baseline")
        if cross is not None:
            text = _colored(f"{cross:.2f}x", bool(row["met"]))
            console.print(
                f"{row['backend']} {row['name']} over HTTP ÷ postgres COPY TO baseline: {text}"
                f" (target ≤ {row['target']['value']}x, i.e. at least 0.8x its throughput)"
            )
