"""Small helpers for tests: write files, read a dataset's table and change log with plain SQL."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from mdhub.db.dataset_tables import changes_table
from mdhub.db.dialect import quote
from mdhub.services.hub import Hub

VENDORS_SCHEMA: dict[str, Any] = {
    "fields": [
        {"name": "id", "type": "string"},
        {"name": "name", "type": "string"},
        {"name": "amount", "type": "number"},
        {"name": "qty", "type": "integer"},
        {"name": "active", "type": "boolean"},
        {"name": "since", "type": "date"},
    ],
    "primaryKey": ["id"],
}
HEADER = ["id", "name", "amount", "qty", "active", "since"]


def write_csv(path: Path, rows: list[list[Any]], header: list[str] | None = HEADER) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        if header is not None:
            writer.writerow(header)
        writer.writerows(rows)
    return path


def table_rows(hub: Hub, dataset: str) -> list[tuple[Any, ...]]:
    """All rows of a dataset's table, sorted, read with plain SQL."""
    table = hub.dataset(dataset).table_name
    with hub.dbs.data.connect() as conn:
        rows = conn.exec_driver_sql(f"SELECT * FROM {quote(table)}").all()
    return sorted((tuple(r) for r in rows), key=repr)


def change_log(hub: Hub, dataset: str) -> list[tuple[Any, ...]]:
    """(version, op, key…) rows of a dataset's change log, sorted."""
    table = changes_table(hub.dataset(dataset).table_name)
    with hub.dbs.data.connect() as conn:
        rows = conn.exec_driver_sql(f"SELECT * FROM {quote(table)}").all()
    return sorted(tuple(r) for r in rows)


def vendor(i: int, *, name: str | None = None, amount: float = 10.5, qty: int = 1) -> list[Any]:
    return [f"V{i:04d}", name or f"Vendor {i}", amount, qty, "true", "2024-01-15"]
