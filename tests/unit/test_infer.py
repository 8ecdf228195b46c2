"""Schema inference from a sample of rows (text columns) or from Arrow types (Parquet)."""

from __future__ import annotations

from datetime import date, datetime, time
from decimal import Decimal

import pyarrow as pa
import pytest

from mdhub.core.schema import Field
from mdhub.ingest.infer import describe_inference, infer_fields


def inferred(
    values: list[str | None], missing_values: tuple[str, ...] = ("",), sample_rows: int = 10_000
) -> str:
    column = pa.array(values, pa.string())
    fields = infer_fields({"c": column}, missing_values=missing_values, sample_rows=sample_rows)
    return fields[0].type


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (["1", "-2", "+3", "0"], "integer"),
        (["0", "1", "1"], "integer"),
        (["1", "2.5", "-1e3", "NaN"], "number"),
        (["1", "9223372036854775807"], "integer"),
        (["true", "False", "TRUE"], "boolean"),
        (["true", "1"], "string"),
        (["yes", "no"], "string"),
        (["2024-01-01", "2024-12-31"], "date"),
        (["2024-02-30"], "string"),
        (["2024-01-01T10:00:00Z", "2024-01-01 10:00:00.5+02:00"], "datetime"),
        (["2024-01-01", "2024-01-01T10:00:00"], "string"),
        (["10:00:00", "23:59:59.5"], "time"),
        (['{"a": 1}', "{}"], "object"),
        (["[1]", "[]"], "array"),
        (["{}", "[]"], "string"),
        (["{", "}"], "string"),
        (["a", "1"], "string"),
        (["", None], "string"),
        ([], "string"),
    ],
)
def test_narrowest_type_every_value_fits(values: list[str | None], expected: str) -> None:
    assert inferred(values) == expected


@pytest.mark.parametrize(
    "values",
    [["007", "10"], ["-01"], ["1", "9223372036854775808"]],
)
def test_codes_with_leading_zeros_or_too_many_digits_stay_text(values: list[str]) -> None:
    assert inferred(values) == "string"


def test_missing_values_are_ignored() -> None:
    assert inferred(["1", "", None, "NA"], missing_values=("", "NA")) == "integer"
    assert inferred(["1", "NA"]) == "string"


def test_only_the_sample_counts() -> None:
    assert inferred(["1"] * 5 + ["x"], sample_rows=5) == "integer"
    assert inferred(["1"] * 5 + ["x"], sample_rows=6) == "string"


def test_inferred_fields_carry_defaults() -> None:
    fields = infer_fields({"a": pa.array(["true"]), "b": pa.array(["x"])})
    assert fields == [Field(name="a", type="boolean"), Field(name="b", type="string")]


@pytest.mark.parametrize(
    ("column", "expected"),
    [
        (pa.array([1], pa.int32()), "integer"),
        (pa.array([1], pa.uint64()), "integer"),
        (pa.array([1.5], pa.float32()), "number"),
        (pa.array([Decimal("1.5")], pa.decimal128(5, 2)), "number"),
        (pa.array([True]), "boolean"),
        (pa.array([date(2024, 1, 1)]), "date"),
        (pa.array([datetime(2024, 1, 1)], pa.timestamp("ms", tz="Europe/Berlin")), "datetime"),
        (pa.array([time(10, 0)]), "time"),
        (pa.array([{"a": 1}]), "object"),
        (pa.array([[("k", 1)]], pa.map_(pa.string(), pa.int64())), "object"),
        (pa.array([[1, 2]]), "array"),
        (pa.array([[1, 2]], pa.large_list(pa.int64())), "array"),
        (pa.array([b"x"]), "string"),
        (pa.nulls(2), "string"),
        (pa.array(["1", "2"], pa.large_string()), "integer"),
        (pa.array(["2024-01-01"]).dictionary_encode(), "date"),
        (pa.array([1, 2]).dictionary_encode(), "integer"),
    ],
)
def test_native_columns_map_from_their_arrow_type(column: pa.Array, expected: str) -> None:
    assert infer_fields({"c": column})[0].type == expected


def test_describe_inference() -> None:
    fields = [Field(name="id", type="integer"), Field(name="name", type="string")]
    assert describe_inference(fields, 10_000) == (
        "inferred from the first 10,000 rows: id integer, name string"
    )
