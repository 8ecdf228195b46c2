"""Schema inference: the narrowest Table Schema type of each column, from a sample of its rows."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from mdhub.core.schema import Field
from mdhub.ingest.arrow_ops import matches
from mdhub.ingest.vectorized import convert_column, drop_missing, is_text

# Tried in this order; the first type every sampled value converts to wins, else "string".
_CANDIDATES = ("integer", "number", "boolean", "date", "datetime", "time", "object", "array")
# Booleans are inferred from words only: 0 and 1 make an integer column.
_TRUE_WORDS = ("true", "True", "TRUE")
_FALSE_WORDS = ("false", "False", "FALSE")
_JSON_START = {"object": "{", "array": "["}


def infer_fields(
    columns: dict[str, pa.Array],
    *,
    missing_values: tuple[str, ...] = ("",),
    sample_rows: int = 10_000,
) -> list[Field]:
    """One field per column, typed from its first `sample_rows` values (text columns) or from its
    Arrow type (native Parquet columns)."""
    return [
        Field(name=name, type=_infer_type(column.slice(0, sample_rows), missing_values))
        for name, column in columns.items()
    ]


def describe_inference(fields: list[Field], sample_rows: int) -> str:
    """A one-line account, e.g. 'inferred from the first 10,000 rows: id integer, name string'."""
    columns = ", ".join(f"{f.name} {f.type}" for f in fields)
    return f"inferred from the first {sample_rows:,} rows: {columns}"


def _infer_type(column: pa.Array, missing_values: tuple[str, ...]) -> str:
    if pa.types.is_dictionary(column.type):
        column = column.dictionary_decode()
    if not is_text(column.type):
        return _native_type(column.type)
    text = drop_missing(pc.cast(column, pa.string()), missing_values).drop_null()
    if not len(text):
        return "string"
    if pc.all(matches(text, "integer")).as_py():
        # Leading zeros or more digits than int64 holds mean codes, not quantities: keep the text.
        padded = pc.any(pc.match_substring_regex(text, "^[+-]?0[0-9]")).as_py()
        return "string" if padded or not _fits(text, "integer") else "integer"
    first = text[0].as_py()
    for candidate in _CANDIDATES[1:]:
        if candidate in _JSON_START and not first.startswith(_JSON_START[candidate]):
            continue
        if _fits(text, candidate):
            return candidate
    return "string"


def _fits(text: pa.Array, candidate: str) -> bool:
    field = Field(name="sample", type=candidate, true_values=_TRUE_WORDS, false_values=_FALSE_WORDS)
    return convert_column(field, text, ()).invalid is None


def _native_type(arrow_type: pa.DataType) -> str:
    """The field type of a native (Parquet) column."""
    checks = (
        (pa.types.is_integer, "integer"),
        (pa.types.is_floating, "number"),
        (pa.types.is_decimal, "number"),
        (pa.types.is_boolean, "boolean"),
        (pa.types.is_date, "date"),
        (pa.types.is_timestamp, "datetime"),
        (pa.types.is_time, "time"),
        (pa.types.is_struct, "object"),
        (pa.types.is_map, "object"),
        (pa.types.is_list, "array"),
        (pa.types.is_large_list, "array"),
        (pa.types.is_fixed_size_list, "array"),
    )
    return next((name for check, name in checks if check(arrow_type)), "string")
