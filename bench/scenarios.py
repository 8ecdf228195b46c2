"""The benchmark's scenarios: which file each applies, from which state, and the exact counts
an engine must report (derived from the generator's counts)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from bench.generate import Counts

BACKENDS = ("postgres", "sqlite")
STATISTICS = ("read", "inserted", "updated", "unchanged", "deleted", "failed")


@dataclass(frozen=True)
class Scenario:
    """One measured operation.

    `source` names the generated file applied ("initial", "next" or "delete"); `from_initial`
    says whether the table holds the initial snapshot beforehand (loaded untimed) or is empty.
    `engine_statistics` gives the exact statistics mdhub must report; `baseline_counts` what the
    raw SQL must report (`written` = inserted + updated; `rows` = the row count afterwards).
    """

    name: str
    source: str
    operation: str
    from_initial: bool
    description: str
    engine_statistics: Callable[[Counts], dict[str, int]]
    baseline_counts: Callable[[Counts], dict[str, int]]


def _statistics(**values: int) -> dict[str, int]:
    return {name: values.get(name, 0) for name in STATISTICS}


SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in (
        Scenario(
            name="initial",
            source="initial",
            operation="insert",
            from_initial=False,
            description="load the initial snapshot into an empty table",
            engine_statistics=lambda c: _statistics(read=c.initial_rows, inserted=c.initial_rows),
            baseline_counts=lambda c: {"inserted": c.initial_rows, "rows": c.initial_rows},
        ),
        Scenario(
            name="upsert",
            source="next",
            operation="upsert",
            from_initial=True,
            description="upsert the next snapshot (5% new, 10% changed, 85% unchanged)",
            engine_statistics=lambda c: _statistics(
                read=c.next_rows,
                inserted=c.new_rows,
                updated=c.changed_rows,
                unchanged=c.unchanged_rows,
            ),
            baseline_counts=lambda c: {
                "written": c.new_rows + c.changed_rows,
                "rows": c.next_rows,
            },
        ),
        Scenario(
            name="delete",
            source="delete",
            operation="delete",
            from_initial=True,
            description="delete the keys listed in the delete file",
            engine_statistics=lambda c: _statistics(read=c.delete_keys, deleted=c.delete_keys),
            baseline_counts=lambda c: {
                "deleted": c.delete_keys,
                "rows": c.initial_rows - c.delete_keys,
            },
        ),
        Scenario(
            name="overwrite",
            source="next",
            operation="overwrite",
            from_initial=True,
            description="make the table exactly the next snapshot (upsert + delete the rest)",
            engine_statistics=lambda c: _statistics(
                read=c.next_rows,
                inserted=c.new_rows,
                updated=c.changed_rows,
                unchanged=c.unchanged_rows,
            ),
            baseline_counts=lambda c: {
                "written": c.new_rows + c.changed_rows,
                "deleted": 0,
                "rows": c.next_rows,
            },
        ),
    )
}

# Seconds of a role / seconds of the baseline must not exceed these (docs/benchmarks.md,
# "Targets"): the engine in-process, and the HTTP path end to end (upload → job succeeded).
TARGET_RATIO = {("postgres", "upsert"): 1.1, ("sqlite", "upsert"): 2.0}
HTTP_TARGET_RATIO = {("postgres", "upsert"): 1.25, ("sqlite", "upsert"): 2.0}
DEFAULT_TARGET_RATIO = 1.5
# The SQLite upsert over HTTP against the PostgreSQL baseline of the same run.
HTTP_SQLITE_VS_POSTGRES_BASELINE = 2.5
TARGET_PEAK_RSS_MB = 300


def target_ratio(backend: str, scenario: str, role: str = "engine") -> float:
    """The highest acceptable role/baseline time ratio for this backend and scenario."""
    targets = HTTP_TARGET_RATIO if role == "http" else TARGET_RATIO
    return targets.get((backend, scenario), DEFAULT_TARGET_RATIO)


def expected_counts(scenario: Scenario, role: str, counts: Counts) -> dict[str, int]:
    """What a role must report: mdhub's job statistics (engine, http) or the baseline's counts."""
    if role == "baseline":
        return scenario.baseline_counts(counts)
    return scenario.engine_statistics(counts)


def differences(expected: dict[str, int], actual: dict[str, object] | None) -> list[str]:
    """What differs between expected and reported counts, as `name actual≠expected` strings."""
    if actual is None:
        return ["no statistics"]
    return [
        f"{name} {actual.get(name)}≠{value}"
        for name, value in expected.items()
        if actual.get(name) != value
    ]
