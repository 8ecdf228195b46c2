"""Tests of the streaming readers: formats, gzip, encodings, line numbers, limits."""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import io
import json
import tracemalloc
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mdhub.errors import InputError, InvalidRequest
from mdhub.ingest.model import RawBatch, ReadOptions
from mdhub.ingest.readers import base, csv_reader, open_reader

LATIN1_CSV = "id,name\n1,Ann\n2,Chloé\n".encode("latin-1")


def write(path: Path, data: bytes, *, gz: bool = False) -> Path:
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


def read_all(path: Path, column_names: list[str] | None = None, **options: Any) -> dict[str, Any]:
    """Everything a reader gives: columns, rows as dicts, lines, errors, batch sizes, progress."""
    with open_reader(path, ReadOptions(**options), column_names=column_names) as reader:
        batches: list[RawBatch] = list(reader)
        columns, total = reader.columns, reader.bytes_total
    return {
        "columns": columns,
        "rows": [row for b in batches for row in pa.table(b.columns).to_pylist()],
        "lines": [line for b in batches for line in b.lines.to_pylist()],
        "errors": [(e.line, e.column, e.message) for b in batches for e in b.errors],
        "sizes": [b.num_rows for b in batches],
        "progress": [b.bytes_read for b in batches],
        "bytes_total": total,
        "batches": batches,
    }


# CSV


@pytest.mark.parametrize("gz", [False, True])
def test_csv_plain_and_gzipped(tmp_path: Path, gz: bool) -> None:
    path = write(tmp_path / "v.csv", b"id,name,note\n1,Ann,\n2,Bob,x\n", gz=gz)
    got = read_all(path)
    assert got["columns"] == ["id", "name", "note"]
    assert got["rows"] == [
        {"id": "1", "name": "Ann", "note": ""},  # an empty cell is "", not null
        {"id": "2", "name": "Bob", "note": "x"},
    ]
    assert got["lines"] == [2, 3]
    assert got["progress"][-1] == got["bytes_total"] == path.stat().st_size
    assert all(isinstance(a, pa.StringArray) for a in got["batches"][0].columns.values())
    assert got["batches"][0].lines.type == pa.int64()


@pytest.mark.parametrize("compression", ["gzip", None])
def test_gzip_forced_or_detected(tmp_path: Path, compression: str | None) -> None:
    path = write(tmp_path / "v.data", b"a\n1\n", gz=True)
    assert read_all(path, compression=compression)["rows"] == [{"a": "1"}]


def test_gzip_detection_disabled_reads_the_bytes_as_text(tmp_path: Path) -> None:
    path = write(tmp_path / "v.csv.gz", b"a\n1\n", gz=True)
    with pytest.raises(InputError, match="not UTF-8"):
        read_all(path, compression="none")


def test_damaged_gzip(tmp_path: Path) -> None:
    path = write(tmp_path / "v.csv.gz", gzip.compress(b"a\n" + b"1\n" * 1000)[:-30])
    with pytest.raises(InputError, match="gzip"):
        read_all(path)


def test_bom_is_stripped(tmp_path: Path) -> None:
    path = write(tmp_path / "v.csv", b"\xef\xbb\xbfid,name\n1,Ann\n")
    got = read_all(path)
    assert got["columns"] == ["id", "name"]
    assert got["rows"] == [{"id": "1", "name": "Ann"}]


@pytest.mark.parametrize("encoding", ["latin-1", "cp1252", "ISO-8859-1"])
def test_declared_single_byte_encoding(tmp_path: Path, encoding: str) -> None:
    got = read_all(write(tmp_path / "v.csv", LATIN1_CSV), encoding=encoding)
    assert got["rows"][1] == {"id": "2", "name": "Chloé"}


def test_declared_utf16(tmp_path: Path) -> None:
    path = write(tmp_path / "v.csv", "id,name\n1,Zoé\n2,€\n".encode("utf-16"), gz=True)
    got = read_all(path, encoding="utf-16")
    assert got["columns"] == ["id", "name"]
    assert got["rows"] == [{"id": "1", "name": "Zoé"}, {"id": "2", "name": "€"}]
    assert got["lines"] == [2, 3]


@pytest.mark.parametrize("gz", [False, True])
def test_undeclared_latin1_names_line_and_column(tmp_path: Path, gz: bool) -> None:
    path = write(tmp_path / "v.csv", LATIN1_CSV, gz=gz)
    with pytest.raises(InputError) as caught:
        read_all(path)
    assert caught.value.details["line"] == 3
    assert caught.value.details["column"] == 7
    assert caught.value.message.startswith("line 3, column 7: invalid UTF-8 byte 0xe9")
    assert "encoding=latin-1" in caught.value.message


def test_undeclared_latin1_far_into_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(csv_reader, "BLOCK_BYTES", 1024)
    rows = "".join(f'{i},"multi\nline {"é" * (i % 3)}"\n' for i in range(2000))
    path = write(tmp_path / "v.csv", b"a,b\n" + rows.encode() + b"2001,caf\xe9\n")
    with pytest.raises(InputError) as caught:
        read_all(path)
    assert caught.value.details == {
        "line": 1 + 2 * 2000 + 1,
        "column": 9,
        "byte": "0xe9",
        "encoding": "utf-8",
    }


def test_bad_utf8_in_the_header(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"^line 1, column 4: invalid UTF-8 byte 0xe9"):
        read_all(write(tmp_path / "v.csv", b"id,\xe9t\xe9\n1,2\n"))


def test_declared_encoding_that_does_not_fit(tmp_path: Path) -> None:
    path = write(tmp_path / "v.csv", b"a,b\n1,2\n3,x\x81y\n")
    with pytest.raises(InputError) as caught:
        read_all(path, encoding="cp1252")
    assert caught.value.message == "line 3, column 4: byte 0x81 is not valid cp1252"


def test_quoted_newlines_and_crlf_keep_physical_lines(tmp_path: Path) -> None:
    data = b'id,text\r\n1,"two\r\nlines"\r\n2,plain\r\n3,"a\nb\nc"\r\n4,end\r\n'
    got = read_all(write(tmp_path / "v.csv", data), batch_rows=2)
    assert [r["text"] for r in got["rows"]] == ["two\r\nlines", "plain", "a\nb\nc", "end"]
    assert got["lines"] == [2, 4, 5, 8]
    assert got["sizes"] == [2, 2]


def test_multiline_header(tmp_path: Path) -> None:
    got = read_all(write(tmp_path / "v.csv", b'id,"long\nname"\n1,x\n'))
    assert got["columns"] == ["id", "long\nname"]
    assert got["lines"] == [3]


def test_blank_lines_are_skipped_and_counted(tmp_path: Path) -> None:
    data = b"\na,b\n1,2\n\n3,4\n\n\n5,6\n,\n\n"
    got = read_all(write(tmp_path / "v.csv", data))
    assert got["rows"] == [{"a": "1", "b": "2"}, {"a": "3", "b": "4"}, {"a": "5", "b": "6"}]
    assert got["lines"] == [3, 5, 8]
    assert got["errors"] == []


def test_wrong_field_count_is_a_row_error(tmp_path: Path) -> None:
    data = b'a,b,c\n1,2,3\n4,5\n"6\n",7,8,9\n10,11,12\n13\n'
    got = read_all(write(tmp_path / "v.csv", data))
    assert got["rows"] == [{"a": "1", "b": "2", "c": "3"}, {"a": "10", "b": "11", "c": "12"}]
    assert got["lines"] == [2, 6]
    assert got["errors"] == [
        (3, None, "expected 3 fields, found 2"),
        (4, None, "expected 3 fields, found 4"),
        (7, None, "expected 3 fields, found 1"),
    ]
    assert got["batches"][0].errors[1].value == '"6\n",7,8,9'


def test_rows_that_are_all_errors(tmp_path: Path) -> None:
    path = write(tmp_path / "v.csv", b"a,b\n" + b"x\n" * 10 + b"1,2\n")
    with open_reader(path, ReadOptions(batch_rows=3), part="vendors") as reader:
        batches = list(reader)
    errors = [e for b in batches for e in b.errors]
    assert [e.line for e in errors] == list(range(2, 12))
    assert {e.part for e in errors} == {"vendors"}
    assert max(len(b.errors) for b in batches) == 3  # errors do not pile up in one batch
    assert [line for b in batches for line in b.lines.to_pylist()] == [12]


def test_lines_across_many_blocks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(csv_reader, "BLOCK_BYTES", 512)
    text, expected, bad, line = ["k,v\n"], [], [], 2
    for i in range(3000):
        if i % 97 == 5:
            text.append(f'{i},"x\ny",extra\n')
            bad.append(line)
            line += 2
        elif i % 89 == 3:
            text.append("\n")
            line += 1
        else:
            value = "a\nb" * (i % 4)
            text.append(f'{i},"{value}"\n')
            expected.append((str(i), value, line))
            line += 1 + value.count("\n")
    got = read_all(write(tmp_path / "v.csv", "".join(text).encode()), batch_rows=100)
    assert [(r["k"], r["v"], n) for r, n in zip(got["rows"], got["lines"], strict=True)] == expected
    assert [e[0] for e in got["errors"]] == bad
    assert max(got["sizes"]) == 100


def test_lines_when_few_batches_hold_newlines(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A batch whose values hold no newline gives its rows one line each without counting them
    # value by value; the few batches that hold one must still shift every line after them.
    monkeypatch.setattr(csv_reader, "BLOCK_BYTES", 1024)
    looked: list[bool] = []  # per batch and column: whether its text may hold a newline
    may_hold_newline = csv_reader._may_hold_newline

    def spy(column: pa.Array) -> bool:
        looked.append(may_hold_newline(column))
        return looked[-1]

    monkeypatch.setattr(csv_reader, "_may_hold_newline", spy)
    text, expected, bad, line = ["k,v,w\n"], [], [], 2
    for i in range(4000):
        row: tuple[str, str, str] | None = (str(i), f"v{i}", "")
        if i % 500 == 7:  # a value over three lines
            row = (str(i), "x\ny\nz", "w")
            text.append(f'{i},"x\ny\nz",w\n')
        elif i % 331 == 11:  # a bad row over two lines (a row error, not in the batch)
            row = None
            text.append(f'{i},"bad\nrow"\n')
            bad.append(line)
            line += 1
        elif i % 401 == 13:  # a bad row on one line
            row = None
            text.append(f"{i}\n")
            bad.append(line)
        elif i % 97 == 3:  # a blank line, then the same as a row of empty fields
            row = None
            text.append("\n" if i % 2 else ",,\n")
        elif i % 89 == 1:  # an empty first field: not a blank line
            row = ("", f"v{i}", "\r")
            text.append(f',v{i},"\r"\n')
        else:
            text.append(f"{i},v{i},\n")
        if row is not None:
            expected.append((*row, line))
        line += 1 + (row is not None and row[1].count("\n"))
    path = write(tmp_path / "v.csv", "".join(text).encode())
    got = read_all(path, batch_rows=250)
    rows = [(r["k"], r["v"], r["w"], n) for r, n in zip(got["rows"], got["lines"], strict=True)]
    assert rows == expected
    assert [e[0] for e in got["errors"]] == bad
    assert got["sizes"][:-1] == [250] * (len(got["sizes"]) - 1)
    assert looked.count(True) > 4 and looked.count(False) > 10 * looked.count(True)


def test_one_multiline_value_late_in_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(csv_reader, "BLOCK_BYTES", 512)
    plain = "".join(f"{i},x\n" for i in range(1000))
    data = f'a,b\n{plain}late,"one\ntwo"\nbad\n{plain}'.encode()
    got = read_all(write(tmp_path / "v.csv", data))
    assert got["lines"] == [*range(2, 1002), 1002, *range(1005, 2005)]
    assert got["errors"] == [(1004, None, "expected 2 fields, found 1")]
    assert got["rows"][1000] == {"a": "late", "b": "one\ntwo"}


@pytest.mark.parametrize(("first", "count"), [(1, 0), (7, 1), (2, 5), (10, 3000), (3, 70_000)])
def test_counting_lines(first: int, count: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(base, "_COUNTING_CACHE_MAX", 2048)  # past it: computed, not kept
    monkeypatch.setattr(base, "_counting", pa.array([], pa.int64()))
    for _ in range(2):  # computed, then (within the limit) from what was kept
        lines = base.counting_lines(first, count)
        assert lines.type == pa.int64()
        assert lines.to_pylist() == list(range(first, first + count))
    assert len(base._counting) <= 2048


def test_row_longer_than_a_block(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(csv_reader, "BLOCK_BYTES", 256)
    with pytest.raises(InputError, match="longer than the limit of 256 bytes"):
        read_all(write(tmp_path / "v.csv", b"a,b\n1," + b"x" * 1000 + b"\n"))


@pytest.mark.parametrize(
    ("header", "match"),
    [
        (b"id,,name\n", "column 2 of the header has no name"),
        (b"id,name,id\n", "column 3 of the header repeats the name 'id' of column 1"),
        (b"id, \n", "column 2 of the header has no name"),
    ],
)
def test_bad_header(tmp_path: Path, header: bytes, match: str) -> None:
    with pytest.raises(InputError, match=match) as caught:
        read_all(write(tmp_path / "v.csv", header + b"1,2,3\n"))
    assert "column" in caught.value.details


@pytest.mark.parametrize("data", [b"", b"\n\n", b"\xef\xbb\xbf"])
def test_empty_csv(tmp_path: Path, data: bytes) -> None:
    with pytest.raises(InputError, match="the file is empty"):
        read_all(write(tmp_path / "v.csv", data))


@pytest.mark.parametrize("data", [b"id,name\n", b"id,name", b"id,name\r\n\r\n"])
def test_header_only(tmp_path: Path, data: bytes) -> None:
    got = read_all(write(tmp_path / "v.csv", data))
    assert got["columns"] == ["id", "name"]
    assert got["rows"] == []


def test_no_header_uses_column_names(tmp_path: Path) -> None:
    path = write(tmp_path / "v.csv", b"1,Ann\n2,Bob,x\n3,Cy\n")
    got = read_all(path, column_names=["id", "name"], header=False)
    assert got["columns"] == ["id", "name"]
    assert got["rows"] == [{"id": "1", "name": "Ann"}, {"id": "3", "name": "Cy"}]
    assert got["lines"] == [1, 3]
    assert got["errors"] == [(2, None, "expected 2 fields, found 3")]


@pytest.mark.parametrize("names", [None, ["a", "a"], ["a", ""]])
def test_no_header_needs_good_column_names(tmp_path: Path, names: list[str] | None) -> None:
    with pytest.raises(InvalidRequest):
        read_all(write(tmp_path / "v.csv", b"1,2\n"), column_names=names, header=False)


def test_tsv_and_quote_char(tmp_path: Path) -> None:
    data = b"id\tname\n1\t'a\tb'\n2\tplain, with comma\n"
    got = read_all(write(tmp_path / "v.tsv", data), delimiter="\t", quote_char="'")
    assert got["rows"] == [{"id": "1", "name": "a\tb"}, {"id": "2", "name": "plain, with comma"}]


def test_batch_rows_respected(tmp_path: Path) -> None:
    data = b"n\n" + b"".join(b"%d\n" % i for i in range(10))
    got = read_all(write(tmp_path / "v.csv", data), batch_rows=3)
    assert got["sizes"] == [3, 3, 3, 1]
    assert got["lines"] == list(range(2, 12))
    assert got["progress"] == sorted(got["progress"])
    assert got["progress"][-1] == got["bytes_total"]


def test_abandoned_reader_closes_cleanly(tmp_path: Path) -> None:
    path = write(tmp_path / "v.csv", b"n\n" + b"".join(b"%d\n" % i for i in range(100_000)))
    with open_reader(path, ReadOptions(batch_rows=10)) as reader:
        first = next(iter(reader))
    assert first.num_rows == 10
    reader.close()


# NDJSON


@pytest.mark.parametrize("gz", [False, True])
def test_ndjson_values_become_text(tmp_path: Path, gz: bool) -> None:
    lines = [
        {"s": "Zoé", "i": 12, "f": 1.5, "t": True, "n": None, "o": {"k": [1, "é"]}},
        {"s": "x", "f": 1e21, "t": False, "a": [], "i": -(2**70)},
    ]
    data = "\n".join(json.dumps(line) for line in lines).encode()
    got = read_all(write(tmp_path / "v.ndjson", data, gz=gz), format="ndjson")
    assert got["columns"] == ["s", "i", "f", "t", "n", "o", "a"]
    assert got["rows"] == [
        {
            "s": "Zoé",
            "i": "12",
            "f": "1.5",
            "t": "true",
            "n": None,
            "o": '{"k":[1,"é"]}',
            "a": None,
        },
        {"s": "x", "i": str(-(2**70)), "f": "1e+21", "t": "false", "n": None, "o": None, "a": "[]"},
    ]
    assert got["lines"] == [1, 2]
    assert got["progress"][-1] == got["bytes_total"]


def test_ndjson_bad_lines_are_row_errors(tmp_path: Path) -> None:
    data = b'\xef\xbb\xbf{"a": 1}\n\n{"a": 2, "b" 3}\n[1]\n   \n{"a": NaN}\n{"a": 4}\r\n'
    got = read_all(write(tmp_path / "v.ndjson", data), format="ndjson")
    assert got["columns"] == ["a"]
    assert got["rows"] == [{"a": "1"}, {"a": "4"}]
    assert got["lines"] == [1, 7]
    assert got["errors"] == [
        (3, None, "not valid JSON: Expecting ':' delimiter at column 14"),
        (4, None, "not a JSON object but an array"),
        (6, None, "not valid JSON: NaN is not allowed"),
    ]


def test_ndjson_key_first_seen_in_a_later_batch(tmp_path: Path) -> None:
    data = b'{"a": 1}\n{"b": 2, "a": 0}\n{"a": 3}\n{"a": 4, "c": true}\n{"a": 5, "c": 1}\n'
    got = read_all(write(tmp_path / "v.ndjson", data), format="ndjson", batch_rows=2)
    assert got["columns"] == ["a", "b"]
    assert got["rows"] == [{"a": "1", "b": None}, {"a": "0", "b": "2"}, {"a": "3", "b": None}]
    assert got["errors"] == [
        (4, "c", "unknown column 'c' first seen at line 4"),
        (5, "c", "unknown column 'c' first seen at line 4"),
    ]


def test_ndjson_undeclared_bad_utf8(tmp_path: Path) -> None:
    path = write(tmp_path / "v.ndjson", b'{"a": "x"}\n{"a": "caf\xe9"}\n', gz=True)
    with pytest.raises(InputError) as caught:
        read_all(path, format="ndjson")
    assert (caught.value.details["line"], caught.value.details["column"]) == (2, 11)


def test_ndjson_declared_latin1(tmp_path: Path) -> None:
    path = write(tmp_path / "v.ndjson", '{"a": "café"}\n'.encode("latin-1"))
    assert read_all(path, format="ndjson", encoding="latin-1")["rows"] == [{"a": "café"}]


def test_ndjson_empty(tmp_path: Path) -> None:
    got = read_all(write(tmp_path / "v.ndjson", b""), format="ndjson")
    assert (got["columns"], got["rows"], got["sizes"]) == ([], [], [])


# JSON array


@pytest.mark.parametrize("gz", [False, True])
def test_json_array(tmp_path: Path, gz: bool) -> None:
    data = b"""\xef\xbb\xbf [
      {"id": 1, "price": 1.50, "big": 1e400, "ok": true, "tags": ["x", 2.5], "none": null},
      "not an object",
      {"id": 2, "price": -0.25, "name": "Zo\\u00e9"}
    ]"""
    got = read_all(write(tmp_path / "v.json", data, gz=gz), format="json")
    assert got["columns"] == ["id", "price", "big", "ok", "tags", "none", "name"]
    first = {"id": "1", "price": "1.50", "big": "1E+400", "ok": "true", "tags": '["x",2.5]'}
    second = {"id": "2", "price": "-0.25", "big": None, "ok": None, "tags": None}
    assert got["rows"] == [
        first | {"none": None, "name": None},
        second | {"none": None, "name": "Zoé"},
    ]
    assert got["lines"] == [1, 3]
    assert got["errors"] == [(2, None, "not a JSON object but a string")]
    assert got["progress"][-1] == got["bytes_total"]


def test_json_array_malformed(tmp_path: Path) -> None:
    path = write(tmp_path / "v.json", b'[{"a": 1}, {"a": 2}, {"a": 3 "b": 4}]')
    with pytest.raises(InputError, match=r"malformed at record 3: parse error") as caught:
        read_all(path, format="json", batch_rows=1)
    assert caught.value.details == {"record": 3}


@pytest.mark.parametrize(
    ("data", "match"),
    [(b"", "the file is empty"), (b' {"a": 1}', "one array"), (b"[{}] x", "record 2")],
)
def test_json_not_an_array(tmp_path: Path, data: bytes, match: str) -> None:
    with pytest.raises(InputError, match=match):
        read_all(write(tmp_path / "v.json", data), format="json")


def test_json_empty_array(tmp_path: Path) -> None:
    got = read_all(write(tmp_path / "v.json", b"[]"), format="json")
    assert (got["columns"], got["sizes"]) == ([], [])


def test_json_undeclared_bad_utf8(tmp_path: Path) -> None:
    path = write(tmp_path / "v.json", b'[\n  {"a": "x"},\n  {"a": "caf\xe9"}\n]\n')
    with pytest.raises(InputError) as caught:
        read_all(path, format="json")
    assert (caught.value.details["line"], caught.value.details["column"]) == (3, 13)


def test_json_declared_cp1252(tmp_path: Path) -> None:
    path = write(tmp_path / "v.json", '[{"a": "€5"}]'.encode("cp1252"))
    assert read_all(path, format="json", encoding="cp1252")["rows"] == [{"a": "€5"}]


def test_json_batches_and_unknown_keys(tmp_path: Path) -> None:
    records = [{"n": i} for i in range(7)] + [{"n": 7, "late": "x"}]
    path = write(tmp_path / "v.json", json.dumps(records).encode())
    got = read_all(path, format="json", batch_rows=3)
    assert got["sizes"] == [3, 3, 1]
    assert got["lines"] == list(range(1, 8))
    assert got["errors"] == [(8, "late", "unknown column 'late' first seen at record 8")]


# Parquet


def test_parquet_keeps_native_types(tmp_path: Path) -> None:
    table = pa.table(
        {
            "id": pa.array(range(10), pa.int64()),
            "price": pa.array([i / 4 for i in range(10)], pa.float64()),
            "ok": pa.array([i % 2 == 0 for i in range(10)]),
            "at": pa.array([dt.datetime(2024, 1, 1 + i) for i in range(10)], pa.timestamp("us")),
            "tags": pa.array([["a"] * (i % 3) for i in range(10)], pa.list_(pa.string())),
            "name": pa.array([None if i == 3 else f"n{i}" for i in range(10)]),
        }
    )
    path = tmp_path / "v.parquet"
    pq.write_table(table, path, row_group_size=4)
    got = read_all(path, format="parquet", batch_rows=3)
    assert got["columns"] == table.column_names
    first = got["batches"][0].columns
    assert {name: first[name].type for name in first} == dict(
        zip(table.schema.names, table.schema.types, strict=True)
    )
    assert got["rows"] == table.to_pylist()
    assert got["lines"] == list(range(1, 11))
    assert max(got["sizes"]) <= 3
    assert got["progress"] == sorted(got["progress"])
    assert got["progress"][-1] == got["bytes_total"]


def test_parquet_empty(tmp_path: Path) -> None:
    path = tmp_path / "v.parquet"
    pq.write_table(pa.table({"a": pa.array([], pa.int32())}), path)
    got = read_all(path, format="parquet")
    assert (got["columns"], got["rows"]) == (["a"], [])


def test_not_parquet(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="Parquet"):
        read_all(write(tmp_path / "v.parquet", b"a,b\n1,2\n"), format="parquet")


# Options and limits


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"format": "xlsx"}, "csv, ndjson, json, parquet"),
        ({"compression": "zip"}, "compression"),
        ({"format": "parquet", "compression": "gzip"}, "Parquet"),
        ({"encoding": "klingon"}, "encoding"),
        ({"delimiter": ";;"}, "delimiter"),
        ({"quote_char": "\n"}, "quote_char"),
        ({"batch_rows": 0}, "batch_rows"),
    ],
)
def test_bad_options(tmp_path: Path, options: dict[str, Any], match: str) -> None:
    with pytest.raises(InvalidRequest, match=match):
        read_all(write(tmp_path / "v.csv", b"a\n1\n"), **options)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InputError):
        open_reader(tmp_path / "nope.csv", ReadOptions())


ZEROS = b"0" * 100
BOMB_ROWS = {
    "csv": (b"a,b\n", b"0,%s\n" % ZEROS),
    "ndjson": (b"", b'{"a":"%s"}\n' % ZEROS),
    "json": (b"[", b'{"a":"%s"},' % ZEROS),
}


@pytest.mark.parametrize("fmt", list(BOMB_ROWS))
def test_gzip_bomb_is_refused_with_bounded_memory(tmp_path: Path, fmt: str) -> None:
    head, row = BOMB_ROWS[fmt]
    path = tmp_path / "bomb.gz"
    with gzip.open(path, "wb") as handle:  # 50 MB that gzip to under 200 kB
        handle.write(head)
        for _ in range(50):
            handle.write(row * ((1 << 20) // len(row)))
    assert path.stat().st_size < 1 << 20
    tracemalloc.start()
    try:
        with (
            pytest.raises(InputError, match="larger than the limit of 1048576 bytes"),
            open_reader(
                path, ReadOptions(fmt, batch_rows=1000, max_decompressed_bytes=1 << 20)
            ) as reader,
        ):
            for _ in reader:
                pass
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 16 << 20  # the limit is 1 MB, the file 50 MB


# Property: what Python's csv module writes comes back equal, with the right lines.

# No lone CR (lines are counted by LF) and no U+FEFF (a first name starting with it is a BOM).
cells = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\x00\ufeff"), max_size=12
) | st.sampled_from(['"', ",", "\n", '""', 'a,"b"\n', " ", "é€😀"])


@st.composite
def tables(draw: st.DrawFn) -> tuple[list[str], list[list[str]]]:
    width = draw(st.integers(1, 4))
    names = draw(
        st.lists(
            cells.filter(lambda s: s.strip() != ""), min_size=width, max_size=width, unique=True
        )
    )
    rows = draw(st.lists(st.lists(cells, min_size=width, max_size=width), max_size=15))
    return names, rows


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    table=tables(),
    terminator=st.sampled_from(["\n", "\r\n"]),
    batch_rows=st.integers(1, 4),
    gz=st.booleans(),
)
def test_csv_round_trip(
    tmp_path: Path,
    table: tuple[list[str], list[list[str]]],
    terminator: str,
    batch_rows: int,
    gz: bool,
) -> None:
    names, rows = table
    text = io.StringIO()
    writer = csv.writer(text, lineterminator=terminator)
    writer.writerow(names)
    writer.writerows(rows)
    path = write(tmp_path / "t.csv", text.getvalue().encode(), gz=gz)
    got = read_all(path, batch_rows=batch_rows)
    expected, line = [], 2 + sum(name.count("\n") for name in names)
    for row in rows:
        if any(row):  # a row of empty fields on one line reads as a blank line
            expected.append((dict(zip(names, row, strict=True)), line))
        line += 1 + sum(cell.count("\n") for cell in row)
    assert got["columns"] == names
    assert list(zip(got["rows"], got["lines"], strict=True)) == expected
    assert got["errors"] == []
    assert all(0 < size <= batch_rows for size in got["sizes"])


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    table=tables(),
    more=st.lists(st.lists(cells, min_size=4, max_size=4), min_size=20, max_size=80),
    batch_rows=st.integers(1, 50),
)
def test_csv_round_trip_across_blocks(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    table: tuple[list[str], list[list[str]]],
    more: list[list[str]],
    batch_rows: int,
) -> None:
    # Many small blocks: newlines inside values in some batches and not in others.
    monkeypatch.setattr(csv_reader, "BLOCK_BYTES", 1024)
    names, rows = table
    rows = rows + [row[: len(names)] for row in more]
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(names)
    writer.writerows(rows)
    got = read_all(write(tmp_path / "t.csv", text.getvalue().encode()), batch_rows=batch_rows)
    expected, line = [], 2 + sum(name.count("\n") for name in names)
    for row in rows:
        if any(row):
            expected.append((dict(zip(names, row, strict=True)), line))
        line += 1 + sum(cell.count("\n") for cell in row)
    assert list(zip(got["rows"], got["lines"], strict=True)) == expected
    assert got["errors"] == []
