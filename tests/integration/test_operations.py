"""Each operation on both databases: exact statistics, table contents, change log, versions."""

from __future__ import annotations

from pathlib import Path

import pytest

from mdhub.services.hub import Hub
from tests.helpers import VENDORS_SCHEMA, change_log, table_rows, vendor, write_csv


@pytest.fixture
def loaded(hub: Hub, tmp_path: Path) -> Hub:
    """A vendors dataset holding V0001..V0005 at version 1."""
    hub.create_dataset("vendors", schema=VENDORS_SCHEMA)
    job = hub.apply("vendors", write_csv(tmp_path / "v1.csv", [vendor(i) for i in range(1, 6)]))
    assert job["status"] == "succeeded", job
    return hub


def test_initial_load_is_a_full_load(loaded: Hub) -> None:
    job = loaded.job(loaded.dataset("vendors").last_job_id or 0)
    assert job["statistics"] == {
        "read": 5,
        "inserted": 5,
        "updated": 0,
        "unchanged": 0,
        "deleted": 0,
        "failed": 0,
    }
    assert job["version"] == 1
    assert loaded.dataset("vendors").row_count == 5
    assert len(table_rows(loaded, "vendors")) == 5
    assert change_log(loaded, "vendors") == []  # the full load is marked, not logged per row


def test_upsert_counts_only_real_changes(loaded: Hub, tmp_path: Path) -> None:
    rows = [
        vendor(1),  # unchanged
        vendor(2, name="Renamed"),  # updated
        vendor(3, amount=99.25),  # updated
        vendor(4),  # unchanged
        vendor(6),  # new
    ]
    job = loaded.apply("vendors", write_csv(tmp_path / "v2.csv", rows))
    assert job["status"] == "succeeded", job
    assert job["statistics"] == {
        "read": 5,
        "inserted": 1,
        "updated": 2,
        "unchanged": 2,
        "deleted": 0,
        "failed": 0,
    }
    assert job["version"] == 2
    dataset = loaded.dataset("vendors")
    assert (dataset.version, dataset.row_count) == (2, 6)
    names = {r[0]: r[1] for r in table_rows(loaded, "vendors")}
    assert names["V0002"] == "Renamed" and names["V0005"] == "Vendor 5" and "V0006" in names
    assert change_log(loaded, "vendors") == [
        (2, "insert", "V0006"),
        (2, "update", "V0002"),
        (2, "update", "V0003"),
    ]


def test_upsert_of_a_column_subset_leaves_other_columns(loaded: Hub, tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "names.csv",
        [["V0001", "New name"], ["V0002", "Vendor 2"]],
        header=["id", "name"],
    )
    job = loaded.apply("vendors", path)
    assert job["statistics"]["updated"] == 1 and job["statistics"]["unchanged"] == 1
    row = next(r for r in table_rows(loaded, "vendors") if r[0] == "V0001")
    assert row[1] == "New name" and row[3] == 1


def test_insert_of_an_existing_key_fails_and_changes_nothing(loaded: Hub, tmp_path: Path) -> None:
    before = table_rows(loaded, "vendors")
    job = loaded.apply(
        "vendors", write_csv(tmp_path / "ins.csv", [vendor(7), vendor(2)]), operation="insert"
    )
    assert job["status"] == "failed"
    assert job["error"]["code"] == "row_errors"
    assert job["errors"][0]["line"] == 3
    assert "already exists" in job["errors"][0]["message"]
    assert table_rows(loaded, "vendors") == before
    assert loaded.dataset("vendors").version == 1


def test_insert_with_skip_invalid_applies_the_valid_rows(loaded: Hub, tmp_path: Path) -> None:
    job = loaded.apply(
        "vendors",
        write_csv(tmp_path / "ins.csv", [vendor(7), vendor(2)]),
        operation="insert",
        max_errors=None,
    )
    assert job["status"] == "succeeded"
    assert job["statistics"] == {
        "read": 2,
        "inserted": 1,
        "updated": 0,
        "unchanged": 0,
        "deleted": 0,
        "failed": 1,
    }
    assert job["error_count"] == 1
    assert loaded.dataset("vendors").row_count == 6


def test_update_of_a_missing_key_is_a_row_error(loaded: Hub, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "upd.csv", [vendor(1, qty=5), vendor(9)])
    job = loaded.apply("vendors", path, operation="update")
    assert job["status"] == "failed"
    assert job["errors"][0]["line"] == 3 and "no record" in job["errors"][0]["message"]
    job = loaded.apply("vendors", path, operation="update", max_errors=1)
    assert job["statistics"] == {
        "read": 2,
        "inserted": 0,
        "updated": 1,
        "unchanged": 0,
        "deleted": 0,
        "failed": 1,
    }


def test_delete_removes_listed_keys(loaded: Hub, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "del.csv", [["V0002"], ["V0004"], ["V0404"]], header=["id"])
    job = loaded.apply("vendors", path, operation="delete")
    assert job["statistics"] == {
        "read": 3,
        "inserted": 0,
        "updated": 0,
        "unchanged": 1,
        "deleted": 2,
        "failed": 0,
    }
    assert [r[0] for r in table_rows(loaded, "vendors")] == ["V0001", "V0003", "V0005"]
    assert change_log(loaded, "vendors") == [(2, "delete", "V0002"), (2, "delete", "V0004")]


def test_overwrite_makes_the_table_exactly_the_file(loaded: Hub, tmp_path: Path) -> None:
    rows = [vendor(1), vendor(2, qty=3), vendor(8)]
    job = loaded.apply("vendors", write_csv(tmp_path / "ow.csv", rows), operation="overwrite")
    assert job["statistics"] == {
        "read": 3,
        "inserted": 1,
        "updated": 1,
        "unchanged": 1,
        "deleted": 3,
        "failed": 0,
    }
    assert [r[0] for r in table_rows(loaded, "vendors")] == ["V0001", "V0002", "V0008"]
    assert loaded.dataset("vendors").row_count == 3
    ops = [(v, op) for v, op, _ in change_log(loaded, "vendors")]
    assert sorted(ops) == [(2, "delete")] * 3 + [(2, "insert"), (2, "update")]


def test_append_and_overwrite_without_keys(hub: Hub, tmp_path: Path) -> None:
    schema = {"fields": [{"name": "event", "type": "string"}, {"name": "n", "type": "integer"}]}
    hub.create_dataset("events", schema=schema)
    path = write_csv(tmp_path / "e.csv", [["a", 1], ["b", 2]], header=["event", "n"])
    assert hub.apply("events", path, operation="append")["statistics"]["inserted"] == 2
    assert hub.apply("events", path, operation="append")["statistics"]["inserted"] == 2
    assert len(table_rows(hub, "events")) == 4
    job = hub.apply("events", path, operation="overwrite")
    assert (job["statistics"]["deleted"], job["statistics"]["inserted"]) == (4, 2)
    assert hub.dataset("events").row_count == 2
    job = hub.apply("events", path, operation="upsert")
    assert job["status"] == "failed" and job["error"]["code"] == "unsupported_operation"


def test_append_to_a_keyed_dataset_is_refused(loaded: Hub, tmp_path: Path) -> None:
    job = loaded.apply("vendors", write_csv(tmp_path / "a.csv", [vendor(9)]), operation="append")
    assert job["status"] == "failed"
    assert "use insert or upsert" in job["error"]["message"]


def test_dry_run_reports_exactly_and_commits_nothing(loaded: Hub, tmp_path: Path) -> None:
    before = table_rows(loaded, "vendors")
    rows = [vendor(1), vendor(2, name="Changed"), vendor(6)]
    job = loaded.apply(
        "vendors", write_csv(tmp_path / "d.csv", rows), operation="overwrite", dry_run=True
    )
    assert job["status"] == "succeeded" and job["dry_run"]
    assert job["statistics"] == {
        "read": 3,
        "inserted": 1,
        "updated": 1,
        "unchanged": 1,
        "deleted": 3,
        "failed": 0,
    }
    sample = job["sample"]["d.csv"]
    assert sample["updated"][0]["before"]["name"] == "Vendor 2"
    assert sample["updated"][0]["after"]["name"] == "Changed"
    assert sample["inserted"][0]["after"]["id"] == "V0006"
    assert len(sample["deleted"]) == 3
    assert table_rows(loaded, "vendors") == before
    assert loaded.dataset("vendors").version == 1
    assert change_log(loaded, "vendors") == []


def test_duplicate_keys_name_both_lines(loaded: Hub, tmp_path: Path) -> None:
    before = table_rows(loaded, "vendors")
    rows = [vendor(10), vendor(11), vendor(10, name="again"), vendor(1), vendor(1)]
    job = loaded.apply("vendors", write_csv(tmp_path / "dup.csv", rows))
    assert job["status"] == "failed"
    messages = sorted((e["line"], e["message"]) for e in job["errors"])
    assert messages == [
        (4, "duplicate key (V0010): also on line 2"),
        (6, "duplicate key (V0001): also on line 5"),
    ]
    assert job["statistics"]["failed"] == 4
    assert table_rows(loaded, "vendors") == before


def test_invalid_values_fail_the_job_with_line_and_column(loaded: Hub, tmp_path: Path) -> None:
    before = table_rows(loaded, "vendors")
    rows = [vendor(12), ["V0013", "x", "12,5", 1, "true", "2024-01-01"], vendor(14)]
    job = loaded.apply("vendors", write_csv(tmp_path / "bad.csv", rows))
    assert job["status"] == "failed" and job["error"]["code"] == "row_errors"
    (error,) = job["errors"]
    assert (error["line"], error["column"], error["value"]) == (3, "amount", "12,5")
    assert job["statistics"]["read"] == 3 and job["statistics"]["failed"] == 1
    assert table_rows(loaded, "vendors") == before
    job = loaded.apply("vendors", tmp_path / "bad.csv", max_errors=1)
    assert job["status"] == "succeeded" and job["statistics"]["inserted"] == 2


def test_missing_key_column_is_an_input_error(loaded: Hub, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "nokey.csv", [["x"]], header=["name"])
    job = loaded.apply("vendors", path)
    assert job["status"] == "failed" and job["error"]["code"] == "invalid_input"
    assert "key column(s) ['id'] missing" in job["error"]["message"]


def test_null_key_is_a_row_error(loaded: Hub, tmp_path: Path) -> None:
    job = loaded.apply("vendors", write_csv(tmp_path / "n.csv", [["", "x", 1, 1, "true", ""]]))
    assert job["status"] == "failed"
    assert job["errors"][0]["column"] == "id" and job["errors"][0]["line"] == 2


@pytest.mark.parametrize("policy", ["reject", "ignore", "add"])
def test_unknown_columns_follow_the_schema_policy(hub: Hub, tmp_path: Path, policy: str) -> None:
    hub.create_dataset("v", schema=VENDORS_SCHEMA, schema_policy=policy)
    header = [*["id", "name", "amount", "qty", "active", "since"], "extra"]
    path = write_csv(tmp_path / "x.csv", [[*vendor(1), "42"]], header=header)
    job = hub.apply("v", path)
    if policy == "reject":
        assert job["status"] == "failed" and job["error"]["code"] == "invalid_input"
        assert "extra" in job["error"]["message"] and "position 7" in job["error"]["message"]
        assert table_rows(hub, "v") == []
        return
    assert job["status"] == "succeeded", job
    names = hub.dataset("v").schema.field_names  # type: ignore[union-attr]
    if policy == "ignore":
        assert "extra" not in names and len(table_rows(hub, "v")[0]) == 6
    else:
        added = hub.dataset("v").schema.field("extra")  # type: ignore[union-attr]
        assert added.type == "integer" and table_rows(hub, "v")[0][6] == 42


def test_schema_is_inferred_from_the_first_file_and_stated(hub: Hub, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "new.csv", [vendor(1), vendor(2, amount=3)])
    job = hub.apply("fresh", path, keys=["id"])
    assert job["status"] == "succeeded", job
    assert any("inferred" in note for note in job["notes"])
    schema = hub.dataset("fresh").schema
    assert schema is not None
    assert [f.type for f in schema.fields] == [
        "string",
        "string",
        "number",
        "integer",
        "boolean",
        "date",
    ]
    assert schema.primary_key == ("id",)


def test_a_first_load_with_a_repeated_key_names_both_lines(hub: Hub, tmp_path: Path) -> None:
    hub.create_dataset("vendors", schema=VENDORS_SCHEMA)
    rows = [vendor(1), vendor(2), vendor(1, name="again")]
    path = write_csv(tmp_path / "first.csv", rows)
    job = hub.apply("vendors", path)
    assert job["status"] == "failed"
    assert [(e["line"], e["message"]) for e in job["errors"]] == [
        (4, "duplicate key (V0001): also on line 2")
    ]
    assert job["statistics"]["read"] == 3
    assert table_rows(hub, "vendors") == []
    job = hub.apply("vendors", path, max_errors=None)
    assert job["status"] == "succeeded"
    assert (job["statistics"]["inserted"], job["statistics"]["failed"]) == (1, 2)
    assert [r[0] for r in table_rows(hub, "vendors")] == ["V0002"]


def test_a_repeated_unique_value_is_a_row_error(hub: Hub, tmp_path: Path) -> None:
    schema = {
        "fields": [
            {"name": "sku", "type": "string"},
            {"name": "ean", "type": "string", "constraints": {"unique": True}},
        ]
    }
    hub.create_dataset("products", schema=schema)
    path = write_csv(
        tmp_path / "p.csv", [["a", "1"], ["b", "2"], ["c", "1"]], header=["sku", "ean"]
    )
    job = hub.apply("products", path, operation="append")
    assert job["status"] == "failed"
    assert [(e["line"], e["column"]) for e in job["errors"]] == [(4, "ean")]
    assert table_rows(hub, "products") == []
    job = hub.apply(
        "products",
        write_csv(tmp_path / "ok.csv", [["d", "9"]], header=["sku", "ean"]),
        operation="append",
    )
    assert job["status"] == "succeeded"
    clash = write_csv(tmp_path / "clash.csv", [["e", "9"]], header=["sku", "ean"])
    job = hub.apply("products", clash, operation="append")
    assert job["status"] == "failed" and job["error"]["code"] == "invalid_input"
    assert table_rows(hub, "products") == [("d", "9")]
