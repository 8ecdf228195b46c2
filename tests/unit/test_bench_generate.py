"""The benchmark's data generator: deterministic bytes, exact counts, caching."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from bench import generate as gen

ROWS = 2_000
FILES = (gen.INITIAL_FILE, gen.NEXT_FILE, gen.DELETE_FILE, gen.SCHEMA_FILE)


def _bytes(directory: Path) -> dict[str, bytes]:
    return {name: (directory / name).read_bytes() for name in FILES}


def _rows(path: Path) -> dict[str, list[str]]:
    with path.open(newline="", encoding="utf-8") as f:
        reader = csv.reader(f)
        assert next(reader) == list(gen.COLUMNS)
        return {row[0]: row for row in reader}


def test_same_rows_and_seed_give_the_same_bytes(tmp_path: Path) -> None:
    gen.generate(ROWS, tmp_path / "a")
    gen.generate(ROWS, tmp_path / "b")
    gen.generate(ROWS, tmp_path / "c", seed=7)
    assert _bytes(tmp_path / "a") == _bytes(tmp_path / "b")
    assert _bytes(tmp_path / "a")[gen.INITIAL_FILE] != _bytes(tmp_path / "c")[gen.INITIAL_FILE]


def test_bytes_do_not_depend_on_chunking_processes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(gen, "CHUNK_ROWS", 500)  # four chunks
    gen.generate(ROWS, tmp_path / "one", processes=1)
    gen.generate(ROWS, tmp_path / "two", processes=2)
    assert _bytes(tmp_path / "one") == _bytes(tmp_path / "two")


def test_counts_are_exact(tmp_path: Path) -> None:
    initial_path, next_path, delete_path = gen.generate(ROWS, tmp_path)
    initial, nxt = _rows(initial_path), _rows(next_path)
    keys = delete_path.read_text(encoding="utf-8").splitlines()
    counts = gen.read_counts(tmp_path)

    assert counts == gen.expected_counts(ROWS)
    assert (counts.new_rows, counts.changed_rows, counts.delete_keys) == (100, 200, 20)
    assert len(initial) == ROWS and len(nxt) == counts.next_rows == ROWS + 100
    assert list(initial) == sorted(initial) and list(nxt) == sorted(nxt)
    assert set(initial) <= set(nxt)
    assert sum(initial[k] != nxt[k] for k in initial) == counts.changed_rows
    assert all(initial[k][0] == nxt[k][0] for k in initial)
    assert keys[0] == "vendor_id" and len(set(keys[1:])) == 20 and set(keys[1:]) <= set(initial)
    assert all(len(row) == len(gen.COLUMNS) for row in [*initial.values(), *nxt.values()])
    schema = json.loads((tmp_path / gen.SCHEMA_FILE).read_text(encoding="utf-8"))
    assert schema["primaryKey"] == ["vendor_id"]
    assert [f["name"] for f in schema["fields"]] == list(gen.COLUMNS)


def test_an_existing_data_set_is_reused(tmp_path: Path) -> None:
    initial_path, _, _ = gen.generate(ROWS, tmp_path)
    written = initial_path.stat().st_mtime_ns
    assert gen.is_current(ROWS, tmp_path)
    assert not gen.is_current(ROWS + 1, tmp_path)
    gen.generate(ROWS, tmp_path)
    assert initial_path.stat().st_mtime_ns == written
