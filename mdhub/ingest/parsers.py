"""Vectorized parsers of text columns: per Table Schema type, a fast step (one cast for a whole
column, plus cheap checks for what Arrow reads beyond the type's syntax) and an exact step (value by
value, with regular expressions) for the parts where the fast step fails."""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import datetime

import pyarrow as pa
import pyarrow.compute as pc

from mdhub.core.schema import Field
from mdhub.errors import SchemaError
from mdhub.ingest.arrow_ops import (
    FALSE,
    Result,
    cast_rows,
    cast_valid,
    count,
    either,
    finish,
    matches,
    null_where,
    text_bytes,
    text_scalar,
)
from mdhub.ingest.convert import custom_format, json_text
from mdhub.ingest.model import ARROW_TYPES

Step = Callable[[Field, pa.Array], Result]

_NAIVE = pa.timestamp("us")
_UTC = ARROW_TYPES["datetime"]
_FIRST = datetime(1, 1, 1)
_LAST = datetime(9999, 12, 31, 23, 59, 59, 999999)
_INT64_LIMITS = (text_scalar("9223372036854775808"), text_scalar("9223372036854775807"))
_TIME_PREFIX = (text_scalar("1970-01-01T"), text_scalar(""))
_PLUS, _MINUS = pa.scalar(b"+", pa.binary()), pa.scalar(b"-", pa.binary())


def steps(field: Field) -> tuple[Step | None, Step]:
    """The fast step (None: there is only the exact one) and the exact step for the field.
    A fast step raises ArrowInvalid when Arrow cannot read some value."""
    if custom_format(field):
        return None, _exact_formatted
    return _STEPS[field.type]


def _strip_plus(text: pa.Array) -> Result:
    """Drop a leading '+' (Arrow reads only '-'); flags '+-…', which would then read as negative."""
    if b"+" not in text_bytes(text):
        return text, None
    plus = pc.starts_with(text, "+")
    text = pc.if_else(plus, pc.utf8_slice_codeunits(text, 1), text)
    return text, pc.and_(plus, pc.starts_with(text, "-"))


def _text_value(field: Field, text: pa.Array) -> Result:
    return text, None


def _fast_integer(field: Field, text: pa.Array) -> Result:
    text, invalid = _strip_plus(text)
    values = pc.cast(text, pa.int64())
    if any(c in text_bytes(text) for c in (b"x", b"X")):  # Arrow also reads hexadecimal 0x…
        invalid = either(invalid, pc.match_substring(text, "x", ignore_case=True))
    return finish(values, invalid)


def _exact_integer(field: Field, text: pa.Array) -> Result:
    digits = pc.ascii_ltrim(pc.ascii_ltrim(text, "+-"), "0")
    length = pc.binary_length(digits)
    limit = pc.if_else(pc.starts_with(text, "-"), *_INT64_LIMITS)
    long, longest = pc.greater(length, count(19)), pc.equal(length, count(19))
    too_big = pc.or_(long, pc.and_(longest, pc.greater(digits, limit)))
    return cast_valid(
        _strip_plus(text)[0], pc.and_(matches(text, "integer"), pc.invert(too_big)), pa.int64()
    )


def _plain_number(field: Field, text: pa.Array) -> Result:
    """Vectorized `convert.plain_number`: the text with default separators, and stray '.'s."""
    stray = None
    if field.group_char and field.group_char.encode() in text_bytes(text):
        text = pc.replace_substring(text, field.group_char, "")
    if field.decimal_char != ".":
        if b"." in text_bytes(text):
            stray = pc.match_substring(text, ".")
        text = pc.replace_substring(text, field.decimal_char, ".")
    return text, stray


def _fast_number(field: Field, text: pa.Array) -> Result:
    plain, invalid = _plain_number(field, text)
    values = pc.cast(plain, pa.float64())
    special = pc.fill_null(pc.or_(pc.is_nan(values), pc.is_inf(values)), FALSE)
    if special.true_count:
        # Arrow also reads 'nan', 'inf', 'Infinity'…: keep NaN, INF, -INF and too-large literals.
        wrong = pc.invert(matches(plain.filter(special), "number"))
        invalid = either(invalid, pc.replace_with_mask(special, special, wrong))
    return finish(values, invalid)


def _exact_number(field: Field, text: pa.Array) -> Result:
    plain, stray = _plain_number(field, text)
    ok = matches(plain, "number")
    if stray is not None:
        ok = pc.and_(ok, pc.invert(stray))
    return cast_valid(plain, ok, pa.float64())


def _exact_boolean(field: Field, text: pa.Array) -> Result:
    words = pa.array(list(field.true_values + field.false_values), pa.string())
    index = pc.index_in(text, words)
    values = pc.less(index, count(len(field.true_values)))
    return finish(values, pc.and_(pc.is_valid(text), pc.is_null(index)))


def _outside_years(values: pa.Array) -> pa.BooleanArray:
    """Dates and times outside years 1-9999, which Arrow reads and Python cannot hold."""
    first, last = (pa.scalar(b, _NAIVE).cast(values.type, safe=False) for b in (_FIRST, _LAST))
    return pc.or_(pc.less(values, first), pc.greater(values, last))


def _fast_date(field: Field, text: pa.Array) -> Result:
    values = pc.cast(text, pa.date32())
    return finish(values, _outside_years(values))


def _exact_date(field: Field, text: pa.Array) -> Result:
    return cast_valid(text, matches(text, "date"), pa.date32())


def _timestamps(text: pa.Array, zoned: pa.BooleanArray, cast: Callable[..., Result]) -> Result:
    """Values with a zone cast as such, the others read as UTC."""
    present = len(text) - text.null_count
    if zoned.true_count == present:
        return cast(text, _UTC)
    naive, failed = cast(null_where(text, zoned) if zoned.true_count else text, _NAIVE)
    naive = pc.cast(naive, _UTC)
    if not zoned.true_count:
        return naive, failed
    aware, failed_aware = cast(null_where(text, pc.invert(zoned)), _UTC)
    return pc.if_else(zoned, aware, naive), either(failed, failed_aware)


def _fast_datetime(field: Field, text: pa.Array) -> Result:
    # What Arrow reads beyond our syntax: times without minutes or seconds (shorter), and offsets
    # written ±HH or ±HHMM (not read as offsets here, so their cast fails).
    zulu = pc.fill_null(pc.ends_with(text, "Z"), FALSE)
    length = pc.binary_length(text)
    short = pc.less(length, count(19))
    data = text_bytes(text)
    if b"+" in data or data.count(b"-") != 2 * (len(text) - text.null_count):
        # Some values have an offset (a date has just two '-').
        offset = _offset(text)
        short = pc.or_(short, pc.and_(offset, pc.less(length, count(25))))
        zoned = pc.or_(zulu, offset)
    else:
        zoned = zulu
    short = pc.or_(short, pc.and_(zulu, pc.less(length, count(20))))
    values, _ = _timestamps(text, zoned, _cast)
    return finish(values, pc.or_(short, _outside_years(values)))


def _offset(text: pa.Array) -> pa.BooleanArray:
    """Whether a value has a sign 6 characters from its end, where a ±HH:MM offset starts."""
    sign = pc.binary_slice(text.view(pa.binary()), -6, -5)
    return pc.fill_null(pc.or_(pc.equal(sign, _PLUS), pc.equal(sign, _MINUS)), FALSE)


def _cast(text: pa.Array, target: pa.DataType) -> Result:
    return pc.cast(text, target), None


def _exact_datetime(field: Field, text: pa.Array) -> Result:
    ok = matches(text, "datetime")
    kept = null_where(text, pc.invert(ok))
    zoned = pc.or_(pc.fill_null(pc.ends_with(kept, "Z"), FALSE), _offset(kept))
    values, failed = _timestamps(kept, zoned, cast_rows)
    invalid = either(pc.and_kleene(pc.is_valid(text), pc.invert(ok)), failed)
    return finish(values, either(invalid, _outside_years(values)))


def _fast_time(field: Field, text: pa.Array) -> Result:
    stamps = pc.cast(pc.binary_join_element_wise(_TIME_PREFIX[0], text, _TIME_PREFIX[1]), _NAIVE)
    # Arrow also reads 'HH' and 'HH:MM'.
    return finish(pc.cast(stamps, pa.time64("us")), pc.less(pc.binary_length(text), count(8)))


def _exact_time(field: Field, text: pa.Array) -> Result:
    stamps = pc.binary_join_element_wise(_TIME_PREFIX[0], text, _TIME_PREFIX[1])
    values, invalid = cast_valid(stamps, matches(text, "time"), _NAIVE)
    return pc.cast(values, pa.time64("us")), invalid


def _exact_formatted(field: Field, text: pa.Array) -> Result:
    """A date, datetime or time in a strftime format: only the exact rendering of a value counts."""
    fmt = custom_format(field)
    assert fmt is not None
    if not _readable(fmt):
        raise SchemaError(
            f"field '{field.name}': format '{fmt}' cannot be read (strftime directives such as "
            "%Y %m %d %H %M %S %b %p work; fractions of seconds and time zones do not)",
            {"field": field.name},
        )
    stamps = pc.strptime(text, format=fmt, unit="s", error_is_null=True)
    ok = pc.and_(pc.equal(pc.strftime(stamps, format=fmt), text), pc.invert(_outside_years(stamps)))
    invalid = pc.and_kleene(pc.is_valid(text), pc.invert(pc.fill_null(ok, FALSE)))
    stamps = null_where(stamps, invalid)
    if field.type == "date":
        return finish(pc.cast(stamps, pa.date32(), safe=False), invalid)
    if field.type == "time":
        return finish(pc.cast(stamps, pa.time64("us")), invalid)
    return finish(pc.cast(stamps, _UTC), invalid)


@functools.cache
def _readable(fmt: str) -> bool:
    """Whether Arrow reads back what Python writes with `fmt` (it lacks %f, %z, %Z…)."""
    written = datetime(2001, 2, 3, 4, 5, 6).strftime(fmt)
    try:
        stamps = pc.strptime(pa.array([written]), format=fmt, unit="s", error_is_null=True)
        return pc.strftime(stamps, format=fmt)[0].as_py() == written
    except pa.ArrowInvalid:
        return False


def _exact_year(field: Field, text: pa.Array) -> Result:
    return cast_valid(text, matches(text, "year"), pa.int64())


def _exact_duration(field: Field, text: pa.Array) -> Result:
    ok = pc.and_(matches(text, "duration"), pc.greater(pc.binary_length(text), count(1)))
    ok = pc.and_(ok, pc.invert(pc.ends_with(text, "T")))
    return finish(text, pc.invert(ok))


def _exact_json(field: Field, text: pa.Array) -> Result:
    """JSON objects and arrays, parsed value by value in Python (no vectorized JSON reader)."""
    parsed = [None if t is None else json_text(t, field.type) for t in text.to_pylist()]
    values = pa.array(parsed, pa.string())
    return finish(values, pc.and_(pc.is_valid(text), pc.is_null(values)))


_STEPS: dict[str, tuple[Step | None, Step]] = {
    "string": (None, _text_value),
    "any": (None, _text_value),
    "integer": (_fast_integer, _exact_integer),
    "number": (_fast_number, _exact_number),
    "boolean": (None, _exact_boolean),
    "date": (_fast_date, _exact_date),
    "datetime": (_fast_datetime, _exact_datetime),
    "time": (_fast_time, _exact_time),
    "year": (None, _exact_year),
    "duration": (None, _exact_duration),
    "object": (None, _exact_json),
    "array": (None, _exact_json),
}
