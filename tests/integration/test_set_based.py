"""Invariant 5: a job's statements do not depend on its number of rows. Every statement sent
through psycopg is counted (the SQL layer's and the raw driver's: COPY too) while jobs of 10
and of 10,000 rows run each operation; the two counts must be equal."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import psycopg
import pytest

from mdhub.services.hub import Hub
from tests.helpers import VENDORS_SCHEMA, vendor, write_csv

# Both within one read batch (16,384 rows): a statement per batch (a COPY's) is set-based too.
SMALL, LARGE = 10, 10_000


class StatementCount:
    """Counts the calls that send a statement through psycopg, by operation."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls: Counter[str] = Counter()
        for cls, names in (
            (psycopg.Cursor, ("execute", "executemany", "copy")),
            (psycopg.Connection, ("execute",)),
        ):
            for name in names:
                monkeypatch.setattr(cls, name, self._counted(getattr(cls, name), name))

    def _counted(self, original: Any, name: str) -> Any:
        def counted(driver: Any, query: Any, *args: Any, **kwargs: Any) -> Any:
            self.calls[name] += 1
            return original(driver, query, *args, **kwargs)

        return counted

    def applying(self, hub: Hub, dataset: str, path: Path, operation: str) -> dict[str, int]:
        """The calls while `hub` applies `path` to `dataset`."""
        self.calls.clear()
        job = hub.apply(dataset, path, operation=operation)
        assert job["status"] == "succeeded", job["error"]
        return dict(self.calls)


def statements_per_operation(hub: Hub, tmp_path: Path, rows: int, count: StatementCount) -> Any:
    name, log = f"vendors_{rows}", f"vendor_log_{rows}"
    hub.create_dataset(name, schema=VENDORS_SCHEMA)
    keyless = {k: v for k, v in VENDORS_SCHEMA.items() if k != "primaryKey"}
    hub.create_dataset(log, schema=keyless)  # append: a dataset without keys
    first = write_csv(tmp_path / f"first-{rows}.csv", [vendor(i) for i in range(rows)])
    # The next snapshot: half the rows changed, as many new.
    changed = [vendor(i, name="changed") for i in range(rows // 2)]
    added = [vendor(i) for i in range(rows, rows + rows // 2)]
    following = write_csv(tmp_path / f"next-{rows}.csv", changed + added)
    updated = write_csv(tmp_path / f"updated-{rows}.csv", [vendor(i) for i in range(rows // 2)])
    gone = write_csv(tmp_path / f"gone-{rows}.csv", [vendor(i) for i in range(rows // 2)])
    more = write_csv(tmp_path / f"more-{rows}.csv", [vendor(i) for i in range(2 * rows, 3 * rows)])
    runs = [
        (name, "insert", first),
        (name, "upsert", following),
        (name, "update", updated),
        (name, "delete", gone),
        (name, "overwrite", more),
        (log, "append", more),
        (log, "append", first),
    ]
    return [count.applying(hub, dataset, path, operation) for dataset, operation, path in runs]


def test_a_jobs_statements_do_not_grow_with_its_rows(
    hub: Hub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if hub.dbs.kind != "postgresql":
        pytest.skip("SQLite's bulk load is executemany, which SQLite itself runs row by row")
    count = StatementCount(monkeypatch)
    small = statements_per_operation(hub, tmp_path, SMALL, count)
    large = statements_per_operation(hub, tmp_path, LARGE, count)
    assert all(small), small
    assert large == small
