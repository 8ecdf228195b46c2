"""Row validation: typed conversion, constraints, error reporting, and agreement of the vectorized
path with the plain-Python reference."""

from __future__ import annotations

import math
import re
from datetime import UTC, date, datetime, time
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mdhub.core.schema import Constraints, Field
from mdhub.errors import SchemaError
from mdhub.ingest import vectorized
from mdhub.ingest.convert import convert_value
from mdhub.ingest.model import LINE_COLUMN, ErrorCollector, RawBatch, RowError
from mdhub.ingest.validate import validate_batch
from mdhub.ingest.vectorized import convert_column

PART = "part-1"


def run(
    fields: list[Field],
    columns: dict[str, list[Any] | pa.Array],
    *,
    missing: tuple[str, ...] = ("",),
    limit: int = 1000,
    errors: list[RowError] | None = None,
) -> tuple[pa.RecordBatch, int, ErrorCollector]:
    arrays = {
        name: values if isinstance(values, pa.Array) else pa.array(values, pa.string())
        for name, values in columns.items()
    }
    rows = len(next(iter(arrays.values())))
    batch = RawBatch(
        columns=arrays, lines=pa.array(range(2, rows + 2), pa.int64()), errors=errors or []
    )
    collector = ErrorCollector(limit=limit)
    valid, failed = validate_batch(
        fields, batch, missing_values=missing, part=PART, collector=collector
    )
    return valid, failed, collector


def one(field: Field, text: str | None, **kwargs: Any) -> Any:
    """The converted value of a single valid cell."""
    valid, failed, collector = run([field], {field.name: [text]}, **kwargs)
    assert (failed, collector.errors) == (0, [])
    return valid.column(0)[0].as_py()


def error_of(field: Field, text: str | None, **kwargs: Any) -> RowError:
    """The one error of a single invalid cell."""
    valid, failed, collector = run([field], {field.name: [text]}, **kwargs)
    assert (valid.num_rows, failed, collector.count) == (0, 1, 1)
    return collector.errors[0]


# Types ----------------------------------------------------------------------------------------

VALID = [
    ("integer", "42", 42),
    ("integer", "+42", 42),
    ("integer", "-007", -7),
    ("integer", "9223372036854775807", 2**63 - 1),
    ("integer", "-9223372036854775808", -(2**63)),
    ("number", "1.5e3", 1500.0),
    ("number", "-.5", -0.5),
    ("number", "5.", 5.0),
    ("number", "INF", math.inf),
    ("number", "-INF", -math.inf),
    ("boolean", "TRUE", True),
    ("boolean", "0", False),
    ("date", "2024-02-29", date(2024, 2, 29)),
    ("datetime", "2024-01-02T03:04:05", datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)),
    ("datetime", "2024-01-02 03:04:05.5Z", datetime(2024, 1, 2, 3, 4, 5, 500000, tzinfo=UTC)),
    ("datetime", "2024-01-02T03:04:05+02:00", datetime(2024, 1, 2, 1, 4, 5, tzinfo=UTC)),
    ("datetime", "2024-01-01T00:30:00-01:00", datetime(2024, 1, 1, 1, 30, tzinfo=UTC)),
    ("time", "23:59:59.123456", time(23, 59, 59, 123456)),
    ("year", "0099", 99),
    ("duration", "P1Y2M3DT4H5M6.5S", "P1Y2M3DT4H5M6.5S"),
    ("duration", "PT36H", "PT36H"),
    ("object", '{"b": [1, 2], "a": "é"}', '{"a":"é","b":[1,2]}'),
    ("array", '[{"y": 1, "x": null}, 2.5]', '[{"x":null,"y":1},2.5]'),
    ("string", " as is ", " as is "),
    ("any", "0x1f", "0x1f"),
]


@pytest.mark.parametrize(("ftype", "text", "expected"), VALID)
def test_valid_values_convert(ftype: str, text: str, expected: Any) -> None:
    assert one(Field(name="c", type=ftype), text) == expected


def test_nan_is_a_number() -> None:
    assert math.isnan(one(Field(name="c", type="number"), "NaN"))


BOOLEANS = "(expected one of: true, True, TRUE, 1, false, False, FALSE, 0)"
DATE = "is not a date (expected YYYY-MM-DD)"
DATETIME = "is not a datetime (expected YYYY-MM-DDTHH:MM:SS[.ffffff][Z|±HH:MM])"
TIME = "is not a time (expected HH:MM:SS[.ffffff])"
DURATION = "is not a duration (expected ISO 8601 like P1Y2M3DT4H5M6S)"
INVALID = [  # type, text, message after the quoted text
    ("integer", "12a", "is not an integer"),
    ("integer", " 1", "is not an integer"),
    ("integer", "0x1f", "is not an integer"),
    ("integer", "1.0", "is not an integer"),
    ("integer", "+-1", "is not an integer"),
    ("integer", "-9223372036854775809", "is not an integer (out of the 64-bit range)"),
    ("number", "1,5", "is not a number"),
    ("number", "inf", "is not a number"),
    ("number", "1e", "is not a number"),
    ("boolean", "yes", f"is not a boolean {BOOLEANS}"),
    ("date", "2024-13-01", DATE),
    ("date", "2023-02-29", DATE),
    ("date", "0000-01-01", DATE),
    ("date", "2024-1-01", DATE),
    ("datetime", "2024-01-01T10:00", DATETIME),
    ("datetime", "2024-01-01T24:00:00", DATETIME),
    ("datetime", "2024-01-01T10:00:00+0100", DATETIME),
    ("datetime", "0001-01-01T00:00:00+01:00", DATETIME),
    ("time", "24:00:00", TIME),
    ("time", "10:00", TIME),
    ("year", "24", "is not a year (expected 4 digits)"),
    ("duration", "P", DURATION),
    ("duration", "P1DT", DURATION),
    ("object", "[1]", "is not a JSON object"),
    ("object", '{"a": NaN}', "is not a JSON object"),
    ("array", "[1,", "is not a JSON array"),
]


@pytest.mark.parametrize(("ftype", "text", "reason"), INVALID)
def test_invalid_values_are_reported(ftype: str, text: str, reason: str) -> None:
    error = error_of(Field(name="c", type=ftype), text)
    assert error == RowError(PART, 2, "c", text, f"'{text}' {reason}")


def test_long_values_are_clipped_in_errors() -> None:
    error = error_of(Field(name="c", type="integer"), "x" * 500)
    assert error.value == "x" * 200 + "…"
    assert error.message == f"'{'x' * 60}…' is not an integer"


def test_output_has_typed_columns_and_lines_of_valid_rows_only() -> None:
    fields = [Field(name="id", type="integer"), Field(name="when", type="date")]
    valid, failed, collector = run(
        fields, {"id": ["1", "x", "3"], "when": ["2024-01-01", "2024-01-02", ""]}
    )
    assert valid.schema == pa.schema(
        [("id", pa.int64()), ("when", pa.date32()), (LINE_COLUMN, pa.int64())]
    )
    assert valid.to_pylist() == [
        {"id": 1, "when": date(2024, 1, 1), LINE_COLUMN: 2},
        {"id": 3, "when": None, LINE_COLUMN: 4},
    ]
    assert failed == 1
    assert collector.errors == [RowError(PART, 3, "id", "x", "'x' is not an integer")]


# Missing values and required ------------------------------------------------------------------


def test_missing_values_become_null() -> None:
    field = Field(name="n", type="integer")
    valid, failed, _ = run([field], {"n": ["NA", "-", "5", None]}, missing=("NA", "-"))
    assert (valid.column(0).to_pylist(), failed) == ([None, None, 5, None], 0)


def test_empty_text_is_a_value_when_not_a_missing_value() -> None:
    error = error_of(Field(name="n", type="integer"), "", missing=("NA",))
    assert error.message == "'' is not an integer"
    assert one(Field(name="s", type="string"), "", missing=("NA",)) == ""


@pytest.mark.parametrize("text", ["", None])
def test_required_value_missing(text: str | None) -> None:
    field = Field(name="k", type="string", constraints=Constraints(required=True))
    assert error_of(field, text) == RowError(PART, 2, "k", text, "a value is required")


def test_required_invalid_value_reports_only_the_type() -> None:
    field = Field(name="k", type="integer", constraints=Constraints(required=True))
    assert error_of(field, "x").message == "'x' is not an integer"


# Constraints ------------------------------------------------------------------------------------


def constrained(ftype: str, **constraints: Any) -> Field:
    return Field(name="c", type=ftype, constraints=Constraints(**constraints))


CONSTRAINT_CASES = [
    (constrained("integer", minimum=10), "10", "9", "'9' is less than the minimum 10"),
    (constrained("integer", maximum=10), "10", "11", "'11' is greater than the maximum 10"),
    (constrained("integer", minimum=1.5), "2", "1", "'1' is less than the minimum 1.5"),
    (constrained("number", minimum=-1.5), "-1.5", "-1.6", "'-1.6' is less than the minimum -1.5"),
    (constrained("year", maximum=2000), "2000", "2001", "'2001' is greater than the maximum 2000"),
    (
        constrained("date", minimum="2024-01-01"),
        "2024-01-01",
        "2023-12-31",
        "'2023-12-31' is less than the minimum 2024-01-01",
    ),
    (
        constrained("datetime", maximum="2024-01-01T00:00:00Z"),
        "2024-01-01T01:00:00+01:00",
        "2024-01-01T00:00:01",
        "'2024-01-01T00:00:01' is greater than the maximum 2024-01-01T00:00:00Z",
    ),
    (
        constrained("time", minimum="08:00:00"),
        "08:00:00",
        "07:59:59",
        "'07:59:59' is less than the minimum 08:00:00",
    ),
    (
        constrained("string", min_length=3),
        "äöü",
        "äö",
        "'äö' has 2 characters, fewer than the minimum 3",
    ),
    (
        constrained("string", max_length=2),
        "ab",
        "abc",
        "'abc' has 3 characters, more than the maximum 2",
    ),
    (
        constrained("array", max_length=2),
        "[1, [2, 3]]",
        "[1, 2, 3]",
        "'[1, 2, 3]' has 3 items, more than the maximum 2",
    ),
    (
        constrained("object", min_length=1),
        '{"a": 1}',
        "{}",
        "'{}' has 0 items, fewer than the minimum 1",
    ),
    (
        constrained("string", pattern="[A-Z]{2}"),
        "DE",
        "DEU",
        "'DEU' does not match the pattern [A-Z]{2}",
    ),
    (
        constrained("string", pattern="(?!xx)[a-z]+"),  # lookahead: not RE2, read by Python
        "ab",
        "xxa",
        "'xxa' does not match the pattern (?!xx)[a-z]+",
    ),
    (
        constrained("integer", pattern="[0-9]{3}"),
        "012",
        "12",
        "'12' does not match the pattern [0-9]{3}",
    ),
    (
        constrained("string", enum=("a", "b")),
        "b",
        "c",
        "'c' is not one of the allowed values: a, b",
    ),
    (
        constrained("integer", enum=(1, "2")),
        "+2",
        "3",
        "'3' is not one of the allowed values: 1, 2",
    ),
    (
        constrained("date", enum=("2024-01-01",)),
        "2024-01-01",
        "2024-01-02",
        "'2024-01-02' is not one of the allowed values: 2024-01-01",
    ),
    (
        constrained("object", enum=({"a": 1},)),
        '{ "a" : 1 }',
        '{"a": 2}',
        "'{\"a\": 2}' is not one of the allowed values: {'a': 1}",
    ),
]


@pytest.mark.parametrize(("field", "ok", "bad", "message"), CONSTRAINT_CASES)
def test_constraints(field: Field, ok: str, bad: str, message: str) -> None:
    valid, failed, collector = run([field], {"c": [ok, bad, ""]})
    assert (valid.num_rows, failed) == (2, 1)
    assert collector.errors == [RowError(PART, 3, "c", bad, message)]


def test_object_enum_compares_canonical_json() -> None:
    field = constrained("object", enum=({"a": 1},))
    assert one(field, '{"a":1}') == '{"a":1}'


def test_unique_is_left_to_the_caller() -> None:
    valid, failed, _ = run([constrained("string", unique=True)], {"c": ["a", "a"]})
    assert (valid.num_rows, failed) == (2, 0)


@pytest.mark.parametrize(
    ("field", "message"),
    [
        (constrained("integer", enum=("x",)), "field 'c': enum value 'x' is not an integer"),
        (
            constrained("date", minimum="01/01/2024"),
            "field 'c': minimum '01/01/2024' is not a date (expected YYYY-MM-DD)",
        ),
    ],
)
def test_constraints_that_cannot_apply_are_schema_errors(field: Field, message: str) -> None:
    with pytest.raises(SchemaError, match=re.escape(message)):
        run([field], {"c": ["1"]})


# Field options --------------------------------------------------------------------------------


def test_decimal_and_group_chars() -> None:
    field = Field(name="n", type="number", decimal_char=",", group_char=".")
    valid, _, _ = run([field], {"n": ["1.234.567,5", "-0,25", "1,5e3", "1.5.0,1"]})
    assert valid.column(0).to_pylist() == [1234567.5, -0.25, 1500.0, 150.1]
    field = Field(name="n", type="number", decimal_char=",")
    error = error_of(field, "1.5")
    assert error.message == "'1.5' is not a number (decimal separator ',')"
    field = Field(name="n", type="number", group_char="\u2019")  # Swiss style
    assert one(field, "1\u2019000\u2019000.5") == 1000000.5


def test_custom_true_and_false_values() -> None:
    field = Field(name="b", type="boolean", true_values=("Y", "yes"), false_values=("N",))
    valid, _, collector = run([field], {"b": ["Y", "yes", "N", "true"]})
    assert valid.column(0).to_pylist() == [True, True, False]
    assert collector.errors[0].message == "'true' is not a boolean (expected one of: Y, yes, N)"


@pytest.mark.parametrize(
    ("ftype", "fmt", "text", "expected"),
    [
        ("date", "%d/%m/%Y", "31/12/2024", date(2024, 12, 31)),
        ("date", "%d %b %Y", "05 Mar 2024", date(2024, 3, 5)),
        ("date", "any", "2024-03-05", date(2024, 3, 5)),
        ("date", "default", "2024-03-05", date(2024, 3, 5)),
        ("datetime", "%Y%m%d%H%M", "202403051011", datetime(2024, 3, 5, 10, 11)),
        ("datetime", "%d.%m.%y %H:%M:%S", "05.03.24 01:02:03", datetime(2024, 3, 5, 1, 2, 3)),
        ("time", "%H.%M", "07.45", time(7, 45)),
        ("time", "%I:%M %p", "07:45 PM", time(19, 45)),
        ("date", "fmt:%Y%m%d", "20240305", date(2024, 3, 5)),
    ],
)  # fmt: skip
def test_formats(ftype: str, fmt: str, text: str, expected: Any) -> None:
    if isinstance(expected, datetime):  # read as UTC
        expected = expected.replace(tzinfo=UTC)
    assert one(Field(name="d", type=ftype, format=fmt), text) == expected


@pytest.mark.parametrize("text", ["1/2/2024", "30/02/2024", "2024-02-01", "01/02/2024 "])
def test_formatted_dates_must_be_exact(text: str) -> None:
    field = Field(name="d", type="date", format="%d/%m/%Y")
    assert error_of(field, text).message == f"'{text}' is not a date (expected %d/%m/%Y)"


@pytest.mark.parametrize("fmt", ["%Y-%m-%dT%H:%M:%S%z", "%H:%M:%S.%f"])
def test_formats_arrow_cannot_read_are_schema_errors(fmt: str) -> None:
    with pytest.raises(SchemaError, match="cannot be read"):
        run([Field(name="d", type="datetime", format=fmt)], {"d": ["x"]})


# Error reporting ------------------------------------------------------------------------------


def test_error_cap_keeps_the_first_errors_and_counts_all() -> None:
    valid, failed, collector = run(
        [Field(name="n", type="integer")], {"n": ["x"] * 100 + ["1"]}, limit=5
    )
    assert (valid.num_rows, failed, collector.count, len(collector.errors)) == (1, 100, 100, 5)
    assert [e.line for e in collector.errors] == [2, 3, 4, 5, 6]


def test_collector_room_is_shared_across_batches() -> None:
    collector = ErrorCollector(limit=3)
    field = Field(name="n", type="integer")
    for start in (0, 10):
        batch = RawBatch(
            columns={"n": pa.array(["a", "b"], pa.string())},
            lines=pa.array([start + 1, start + 2], pa.int64()),
        )
        validate_batch([field], batch, missing_values=("",), part=PART, collector=collector)
    assert ([e.line for e in collector.errors], collector.count) == ([1, 2, 11], 4)


def test_several_errors_in_a_row_count_as_one_failed_row_and_come_in_line_order() -> None:
    fields = [
        Field(name="a", type="integer", constraints=Constraints(required=True)),
        Field(name="b", type="string", constraints=Constraints(max_length=1, pattern="[a-z]+")),
    ]
    valid, failed, collector = run(fields, {"a": ["1", "", "x", "2"], "b": ["ok", "Z", "y", "z"]})
    assert valid.to_pylist() == [{"a": 2, "b": "z", LINE_COLUMN: 5}]
    assert (failed, collector.count) == (3, 4)
    assert [(e.line, e.column, e.message) for e in collector.errors] == [
        (2, "b", "'ok' has 2 characters, more than the maximum 1"),
        (3, "a", "a value is required"),
        (3, "b", "'Z' does not match the pattern [a-z]+"),
        (4, "a", "'x' is not an integer"),
    ]


def test_structural_errors_are_collected_and_counted() -> None:
    broken = [
        RowError(PART, 3, None, "a,b,c", "3 cells, expected 1"),
        RowError(PART, 9, None, "x,y", "2 cells, expected 1"),
    ]
    valid, failed, collector = run(
        [Field(name="n", type="integer")], {"n": ["1", "x"]}, errors=broken, limit=2
    )
    assert (valid.num_rows, failed, collector.count) == (1, 3, 3)
    assert collector.errors == [broken[0], RowError(PART, 3, "n", "x", "'x' is not an integer")]


# Native (Parquet) input -----------------------------------------------------------------------


def test_native_columns_cast_when_lossless() -> None:
    fields = [
        Field(name="i", type="integer"),
        Field(name="n", type="number"),
        Field(name="b", type="boolean"),
        Field(name="d", type="date"),
        Field(name="t", type="datetime"),
        Field(name="s", type="string"),
    ]
    columns = {
        "i": pa.array([1.0, None], pa.float64()),
        "n": pa.array([1, 2], pa.int32()),
        "b": pa.array([True, False]),
        "d": pa.array([datetime(2024, 1, 1), datetime(2024, 1, 2)], pa.timestamp("ns")),
        "t": pa.array([date(2024, 1, 1), None], pa.date32()),
        "s": pa.array([1.5, 2], pa.float64()),
    }
    valid, failed, _ = run(fields, columns)
    assert failed == 0
    assert valid.to_pylist() == [
        {"i": 1, "n": 1.0, "b": True, "d": date(2024, 1, 1),
         "t": datetime(2024, 1, 1, tzinfo=UTC), "s": "1.5", LINE_COLUMN: 2},
        {"i": None, "n": 2.0, "b": False, "d": date(2024, 1, 2), "t": None, "s": "2",
         LINE_COLUMN: 3},
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("field", "column", "message"),
    [
        (Field(name="c", type="integer"), pa.array([1.0, 1.5]), "'1.5' is not an integer"),
        (
            Field(name="c", type="integer"),
            pa.array([1, 2**63], pa.uint64()),
            "'9223372036854775808' is not an integer (out of the 64-bit range)",
        ),
        (
            Field(name="c", type="date"),
            pa.array([datetime(2024, 1, 1), datetime(2024, 1, 1, 12)], pa.timestamp("s")),
            "'2024-01-01 12:00:00' is not a date (expected YYYY-MM-DD)",
        ),
        (
            Field(name="c", type="boolean"),
            pa.array([0, 2], pa.int8()),
            "'2' is not a boolean (expected one of: true, True, TRUE, 1, false, False, FALSE, 0)",
        ),
        (
            Field(name="c", type="year"),
            pa.array([2024, 24]),
            "'24' is not a year (expected 4 digits)",
        ),
        (
            Field(name="c", type="object"),
            pa.array([{"a": 1}, None], pa.struct([("a", pa.int64())])),
            None,
        ),
    ],
)
def test_native_columns_that_do_not_cast_are_checked_as_text(
    field: Field, column: pa.Array, message: str | None
) -> None:
    valid, failed, collector = run([field], {"c": column})
    if message is None:
        assert (failed, valid.column(0).to_pylist()) == (0, ['{"a":1}', None])
        return
    assert (valid.num_rows, failed) == (1, 1)
    assert (collector.errors[0].line, collector.errors[0].message) == (3, message)


def test_native_strings_and_dictionaries_are_text() -> None:
    column = pa.array(["2024-01-01", "", "x"]).dictionary_encode()
    valid, failed, _ = run([Field(name="c", type="date")], {"c": column})
    assert (valid.column(0).to_pylist(), failed) == ([date(2024, 1, 1), None], 1)
    large = pa.array(["1", "NA"], pa.large_string())
    valid, failed, _ = run([Field(name="c", type="integer")], {"c": large}, missing=("NA",))
    assert (valid.column(0).to_pylist(), failed) == ([1, None], 0)


# Fast and exact paths -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "good", "bad"),
    [
        (Field(name="c", type="integer"), "12", "1x"),
        (Field(name="c", type="integer"), "12", "0x1"),
        (Field(name="c", type="number"), "1.5", "nan"),
        (Field(name="c", type="date"), "2024-01-31", "2024-02-31"),
        (Field(name="c", type="datetime"), "2024-01-31T00:00:00Z", "2024-02-31T00:00:00Z"),
        (Field(name="c", type="datetime"), "2024-01-31 00:00:00+01:00", "2024-01-31 00:00+01:00"),
        (Field(name="c", type="time"), "10:00:00", "10:00"),
    ],
)
def test_few_bad_values_in_a_large_column(
    field: Field, good: str, bad: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(vectorized, "EXACT_ROWS", 64)
    texts = [good] * 1000
    for row in (0, 63, 64, 500, 999):
        texts[row] = bad
    conv = convert_column(field, pa.array(texts, pa.string()), ("",))
    assert conv.invalid is not None
    assert [i for i, flag in enumerate(conv.invalid.to_pylist()) if flag] == [0, 63, 64, 500, 999]
    assert conv.values.null_count == 5


# The vectorized path agrees with the reference --------------------------------------------------


def pick(*options: str) -> st.SearchStrategy[str]:
    return st.sampled_from(options)


def joined(*parts: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.tuples(*parts).map("".join)


SIGN = pick("", "", "+", "-", "--", "+-", " ")
DIGITS = st.text("0123456789", max_size=21)
YEAR = pick("0000", "0001", "0024", "1999", "2024", "2023", "9999", "+2024", "24", "20245")
MONTH = pick("00", "01", "02", "04", "12", "13", "1")
DAY = pick("00", "01", "28", "29", "30", "31", "32", "1")
DAY_TEXT = joined(YEAR, pick("-", "-", "/", ""), MONTH, pick("-", "-", ""), DAY)
CLOCK = joined(
    pick("00", "09", "23", "24", "1"),
    pick(":00", ":59", ":60", ""),
    pick(":00", ":59", ":60", ""),
    pick("", "", ".", ".1", ".123456", ".1234567", ",5"),
)
ZONE = pick(
    "", "", "Z", "z", "+01:00", "-05:30", "+0100", "+01", "+24:00", "+23:59", "-00:00", " Z"
)

NEAR_VALID: dict[str, st.SearchStrategy[str]] = {
    "integer": st.one_of(
        joined(SIGN, DIGITS, pick("", "", " ", "x", "0x1f", ".0", "e3")),
        st.text("0123456789+-xX ", max_size=6),
        pick("9223372036854775807", "9223372036854775808", "-9223372036854775808",
             "-9223372036854775809", "0009223372036854775807", "99999999999999999999"),
    ),
    "number": st.one_of(
        joined(SIGN, DIGITS, pick("", ".", ",", " "), DIGITS, pick("", "e", "E", "e+", "e-"),
               st.text("0123456789", max_size=4)),
        pick("NaN", "nan", "INF", "-INF", "+INF", "inf", "Infinity", "-nan", "1e400", "-1e400"),
        st.text("0123456789.,eE+-naifINF ", max_size=8),
    ),
    "boolean": st.one_of(
        pick("true", "True", "TRUE", "tRUE", "1", "0", "false", "False", "FALSE", "yes", "Y", "N"),
        st.text("truefalsTRUEFALS01 ", max_size=6),
    ),
    "date": st.one_of(DAY_TEXT, st.text("0123456789-", max_size=11)),
    "datetime": st.one_of(
        joined(DAY_TEXT, pick("T", " ", "t", "", "TT"), CLOCK, ZONE),
        joined(pick("2024-01-01T"), st.text("0123456789:.+-Z", max_size=16)),
    ),
    "time": st.one_of(
        joined(CLOCK, pick("", "", "Z", "+01:00")), st.text("0123456789:.", max_size=9)
    ),
    "year": st.text("0123456789+- ", max_size=5),
    "duration": st.one_of(
        joined(pick("P", "P", "", "p"), pick("", "1Y", "12M", "3W", "4D", "1.5D"),
               pick("", "T", "T1H", "T2M", "T3S", "T1.5S", "T1H2M3.25S", "TS")),
        st.text("PTYMWDHS0123456789.", max_size=8),
    ),
    "object": st.one_of(
        st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=3),
                     lambda inner: st.lists(inner, max_size=3)
                     | st.dictionaries(st.text(max_size=3), inner, max_size=3),
                     max_leaves=6).map(lambda v: __import__("json").dumps(v)),
        pick("{", "{}", "[]", '{"a": NaN}', '{"a": 1} x', " {} ", "[1,]"),
    ),
}  # fmt: skip
NEAR_VALID["array"] = NEAR_VALID["object"]
DMY = joined(DAY, pick("/", "-"), MONTH, pick("/", "/", ""), YEAR, pick("", "", " ", "x"))

AGREEMENT = [
    (Field(name="c", type="integer"), NEAR_VALID["integer"]),
    (Field(name="c", type="number"), NEAR_VALID["number"]),
    (Field(name="c", type="number", decimal_char=",", group_char="."), NEAR_VALID["number"]),
    (Field(name="c", type="number", decimal_char=","), NEAR_VALID["number"]),
    (Field(name="c", type="boolean"), NEAR_VALID["boolean"]),
    (Field(name="c", type="boolean", true_values=("Y",), false_values=("N", "no")),
     NEAR_VALID["boolean"]),
    (Field(name="c", type="date"), NEAR_VALID["date"]),
    (Field(name="c", type="date", format="%d/%m/%Y"), DMY),
    (Field(name="c", type="datetime"), NEAR_VALID["datetime"]),
    (Field(name="c", type="datetime", format="%d/%m/%Y %H:%M:%S"), joined(DMY, pick(" "), CLOCK)),
    (Field(name="c", type="time"), NEAR_VALID["time"]),
    (Field(name="c", type="year"), NEAR_VALID["year"]),
    (Field(name="c", type="duration"), NEAR_VALID["duration"]),
    (Field(name="c", type="object"), NEAR_VALID["object"]),
    (Field(name="c", type="array"), NEAR_VALID["array"]),
]  # fmt: skip


def reference(field: Field, text: str) -> tuple[bool, Any]:
    try:
        return True, convert_value(field, text)
    except ValueError:
        return False, None


def same(a: Any, b: Any) -> bool:
    return a == b or (
        isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b)
    )


@pytest.mark.parametrize(("field", "strategy"), AGREEMENT, ids=lambda v: getattr(v, "type", ""))
@settings(max_examples=100, deadline=None)
@given(data=st.data())
def test_vectorized_path_agrees_with_reference(
    field: Field, strategy: st.SearchStrategy[str], data: st.DataObject
) -> None:
    texts = data.draw(st.lists(strategy, min_size=1, max_size=6))
    expected = {t: reference(field, t) for t in texts}
    expected["\x00"] = (False, None)
    # Whole lists take the fast path when Arrow reads every value, single values show each one to
    # it alone, and a trailing unreadable value sends the list down the exact path.
    for group in [texts, *([t] for t in texts), [*texts, "\x00"]]:
        conv = convert_column(field, pa.array(group, pa.string()), ())
        invalid = conv.invalid.to_pylist() if conv.invalid is not None else [False] * len(group)
        for text, flagged, value in zip(group, invalid, conv.values.to_pylist(), strict=True):
            ok, want = expected[text]
            assert flagged is not ok, (text, group)
            assert same(value, want) if ok else value is None, (text, value, want)
