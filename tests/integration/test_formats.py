"""Every input format, plain and gzipped, through the whole engine on both databases."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from mdhub.services.hub import Hub
from tests.helpers import VENDORS_SCHEMA, table_rows, vendor, write_csv

ROWS = [vendor(i, amount=i + 0.25, qty=i) for i in range(1, 6)]
RECORDS = [
    {"id": r[0], "name": r[1], "amount": r[2], "qty": r[3], "active": True, "since": r[5]}
    for r in ROWS
]


def _write(path: Path, fmt: str) -> Path:
    if fmt == "csv":
        return write_csv(path, ROWS)
    if fmt == "ndjson":
        path.write_text("".join(json.dumps(r) + "\n" for r in RECORDS))
    elif fmt == "json":
        path.write_text(json.dumps(RECORDS))
    else:
        table = pa.table(
            {
                "id": [r["id"] for r in RECORDS],
                "name": [r["name"] for r in RECORDS],
                "amount": pa.array([r["amount"] for r in RECORDS], pa.float64()),
                "qty": pa.array([r["qty"] for r in RECORDS], pa.int64()),
                "active": [True] * len(RECORDS),
                "since": pa.array([r["since"] for r in RECORDS]).cast(pa.date32()),
            }
        )
        pq.write_table(table, path)
    return path


@pytest.mark.parametrize(
    ("fmt", "gzipped"),
    [(f, z) for f in ("csv", "ndjson", "json") for z in (False, True)] + [("parquet", False)],
)
def test_every_format_loads_the_same_rows(
    hub: Hub, tmp_path: Path, fmt: str, gzipped: bool
) -> None:
    hub.create_dataset("vendors", schema=VENDORS_SCHEMA)
    path = _write(tmp_path / f"v.{fmt}", fmt)
    if gzipped:
        zipped = tmp_path / f"v.{fmt}.gz"
        zipped.write_bytes(gzip.compress(path.read_bytes()))
        path = zipped
    job = hub.apply("vendors", path)
    assert job["status"] == "succeeded", job
    assert job["statistics"]["inserted"] == 5
    rows = table_rows(hub, "vendors")
    assert [(r[0], r[2], r[3]) for r in rows] == [(f"V{i:04d}", i + 0.25, i) for i in range(1, 6)]
    # The same content again, in the same format: nothing changes.
    again = hub.apply("vendors", path)
    assert again["statistics"]["unchanged"] == 5 and again["statistics"]["updated"] == 0


def test_ndjson_row_errors_carry_the_line(hub: Hub, tmp_path: Path) -> None:
    hub.create_dataset("vendors", schema=VENDORS_SCHEMA)
    path = tmp_path / "v.ndjson"
    lines = [json.dumps(r) for r in RECORDS[:2]] + ['{"id": "V9", "qty": "many"}', "{broken"]
    path.write_text("\n".join(lines) + "\n")
    job = hub.apply("vendors", path)
    assert job["status"] == "failed"
    found = {(e["line"], e["column"]) for e in job["errors"]}
    assert (3, "qty") in found and any(line == 4 for line, _ in found)
    assert table_rows(hub, "vendors") == []
