"""Vectorized conversion of one Arrow column to its Table Schema type, flagging invalid values."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from mdhub.core.schema import Field
from mdhub.ingest.arrow_ops import TRUE, Result, concat, count, null_where
from mdhub.ingest.convert import canonical_json
from mdhub.ingest.model import ARROW_TYPES
from mdhub.ingest.parsers import Step, steps

# A column that fails the fast step is retried in parts of this many rows; the parts that fail
# again are checked value by value by the exact step. The first PROBE_ROWS rows are tried first.
EXACT_ROWS = 2048
PROBE_ROWS = 256


@dataclass(frozen=True)
class Converted:
    """A column in its field's Arrow type, with the rows whose value did not convert."""

    values: pa.Array  # null where the value is missing or invalid
    invalid: pa.BooleanArray | None  # true where a present value failed; None: none did
    text: pa.Array | None  # the text converted (missing as null); None when cast natively


def convert_column(field: Field, column: pa.Array, missing_values: tuple[str, ...]) -> Converted:
    """Convert `column` (text, or a native Arrow type from Parquet) to the field's type."""
    if pa.types.is_dictionary(column.type):
        column = column.dictionary_decode()
    if is_text(column.type):
        return _convert_text(field, drop_missing(pc.cast(column, pa.string()), missing_values))
    native = _convert_native(field, column)
    return native if native is not None else _convert_text(field, render_text(column))


def is_text(arrow_type: pa.DataType) -> bool:
    """Whether a column holds text to be parsed (CSV and JSON input, Parquet strings)."""
    return (
        pa.types.is_string(arrow_type)
        or pa.types.is_large_string(arrow_type)
        or pa.types.is_string_view(arrow_type)
    )


def drop_missing(text: pa.Array, missing_values: tuple[str, ...]) -> pa.Array:
    """`text` with the values that mean "missing" made null."""
    if not missing_values:
        return text
    if missing_values == ("",):
        missing = pc.equal(pc.binary_length(text), count(0))
    else:
        missing = pc.is_in(text, pa.array(missing_values, pa.string()))
    return null_where(text, missing) if missing.true_count else text


def render_text(column: pa.Array) -> pa.Array:
    """A native column as text: Arrow's rendering, or canonical JSON for nested values."""
    try:
        return pc.cast(column, pa.string())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        rendered = [None if v is None else canonical_json(v) for v in column.to_pylist()]
        return pa.array(rendered, pa.string())


def _convert_text(field: Field, text: pa.Array) -> Converted:
    fast, exact = steps(field)
    values, invalid = (
        exact(field, text) if fast is None else _convert_rows(field, text, fast, exact)
    )
    return Converted(values, invalid, text)


def _convert_rows(field: Field, text: pa.Array, fast: Step, exact: Step) -> Result:
    """The fast step where Arrow reads every value, the exact step around the values it rejects.

    A rejected cast costs about a microsecond per bad value, and the exact step a few times the
    fast one. So a column whose first rows already fail goes straight to the exact step (bad values
    are likely all over); otherwise a column that fails as a whole is retried in parts of
    EXACT_ROWS rows, and only the parts that fail again take the exact step."""
    if len(text) <= EXACT_ROWS:
        return _attempt(field, text, fast) or exact(field, text)
    if _attempt(field, text.slice(0, PROBE_ROWS), fast) is None:
        return exact(field, text)
    parts = [text.slice(start, EXACT_ROWS) for start in range(0, len(text), EXACT_ROWS)]
    return _attempt(field, text, fast) or concat(
        [_attempt(field, part, fast) or exact(field, part) for part in parts]
    )


def _attempt(field: Field, text: pa.Array, fast: Step) -> Result | None:
    try:
        return fast(field, text)
    except pa.ArrowInvalid:
        return None


# Native (Parquet) input: the types each field type takes by a cast; anything else is read as text.


def _numeric(t: pa.DataType) -> bool:
    return pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t)


def _temporal(t: pa.DataType) -> bool:
    return pa.types.is_date(t) or pa.types.is_timestamp(t)


_NATIVE: dict[str, Callable[[pa.DataType], bool]] = {
    "integer": _numeric,
    "number": _numeric,
    "boolean": pa.types.is_boolean,
    "date": _temporal,
    "datetime": _temporal,
    "time": pa.types.is_time,
}


def _convert_native(field: Field, column: pa.Array) -> Converted | None:
    """A native column cast to the field's type, where that loses nothing; the values it would
    change are read as text instead (and so reported one by one). None: not castable at all."""
    accepts = _NATIVE.get(field.type)
    if accepts is None or not accepts(column.type):
        return None
    try:
        values = pc.cast(column, ARROW_TYPES[field.type], safe=False)
        if field.type == "number":  # float64 is what a number is, as when read from text
            return Converted(values, None, None)
        kept = pc.fill_null(_unchanged(column, values), TRUE)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    if kept.false_count == 0:
        return Converted(values, None, None)
    text = render_text(column)
    as_text = _convert_text(field, text)
    values = pc.if_else(kept, values, as_text.values)
    invalid = None if as_text.invalid is None else pc.and_(pc.invert(kept), as_text.invalid)
    return Converted(values, None if invalid is None or not invalid.true_count else invalid, text)


def _unchanged(column: pa.Array, values: pa.Array) -> pa.BooleanArray:
    """Whether each value survives the cast and the cast back (and keeps its sign: integers that do
    not fit wrap around)."""
    same = pc.equal(pc.cast(values, column.type, safe=False), column)
    if pa.types.is_integer(values.type):
        negative = pc.less(values, pa.scalar(0, values.type))
        same = pc.and_(same, pc.equal(negative, pc.less(column, pa.scalar(0, column.type))))
    return same
