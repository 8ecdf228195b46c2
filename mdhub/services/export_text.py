"""Typed Arrow columns as text, a whole column at a time, for export.

- CSV: each value in the form mdhub reads back into the same field (booleans as the field's
  first true/false value, numbers with its decimal separator, dates and times in its format,
  datetimes in UTC with `+00:00`), quoted where CSV needs it. On PostgreSQL the server writes
  the very same text (`mdhub.db.export.csv_query`).
- JSON: each value as `GET …/records/{key}` answers it (`mdhub.services.records.json_value`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from decimal import Decimal, localcontext

import pyarrow as pa
import pyarrow.compute as pc

from mdhub.core.schema import Field
from mdhub.db.export import boolean_words
from mdhub.ingest.arrow_ops import FALSE, text_bytes, text_scalar
from mdhub.ingest.convert import custom_format

_CSV_SPECIAL = (b",", b'"', b"\r", b"\n")
# Arrow writes all six digits of microseconds: '12:00:00.500000' → '12:00:00.5' (CSV, as
# PostgreSQL does), '12:00:00.000000' → '12:00:00' (both).
_TRAILING_ZEROS = r"\.?0+$"
_NO_FRACTION = r"\.000000$"
_UTC = text_scalar("+00:00")
_SMALLEST_PLAIN = pa.scalar(1e-4, pa.float64())
_ZERO = pa.scalar(0.0, pa.float64())
_QUOTE = text_scalar('"')
_NULL = text_scalar("null")
_EMPTY = text_scalar("")
# What json.dumps escapes (ensure_ascii=False); the backslash first.
_JSON_ESCAPES = [("\\", "\\\\"), ('"', '\\"'), ("\n", "\\n"), ("\r", "\\r"), ("\t", "\\t")] + [
    (chr(c), {8: "\\b", 12: "\\f"}.get(c, f"\\u{c:04x}"))
    for c in range(32)
    if chr(c) not in "\n\r\t"
]


def csv_field(text: str, *, null: str | None = None) -> str:
    """One CSV field: quoted when it holds a separator, a quote or a line break, or when it is
    a value that would otherwise read as the missing value `null`."""
    if text == null or any(c in text for c in ',"\r\n'):
        return '"' + text.replace('"', '""') + '"'
    return text


def csv_texts(field: Field, column: pa.Array, null: str, *, alone: bool = False) -> pa.Array:
    """The column as CSV fields, `null` (CSV-quoted) for a missing value. `alone`: the only
    column, where a line `\\.` is quoted as PostgreSQL does."""
    if not len(column):
        return pa.array([], pa.string())
    text = _csv_value(field, column)
    needs = pc.equal(text, text_scalar(null))
    if alone:
        needs = pc.or_kleene(needs, pc.equal(text, text_scalar("\\.")))
    data = text_bytes(text)
    if any(special in data for special in _CSV_SPECIAL):
        needs = pc.or_kleene(needs, pc.match_substring_regex(text, '[,"\r\n]'))
    if pc.any(needs).as_py():
        quoted = pc.binary_join_element_wise(
            _QUOTE, pc.replace_substring(text, '"', '""'), _QUOTE, _EMPTY
        )
        text = pc.if_else(pc.fill_null(needs, FALSE), quoted, text)
    return pc.fill_null(text, text_scalar(csv_field(null)))


def json_texts(field: Field, column: pa.Array) -> pa.Array:
    """The column as JSON values, `null` for a missing one."""
    kind = field.type
    if kind in ("integer", "year"):
        text = pc.cast(column, pa.string())
    elif kind == "number":
        text = _float_texts(column, sci_from=1e16, fallback=_python_float)
        text = pc.if_else(pc.match_substring_regex(text, "^-?[0-9]+$"), _point_zero(text), text)
    elif kind == "boolean":
        text = pc.if_else(column, text_scalar("true"), text_scalar("false"))
    elif kind in ("object", "array"):
        text = column
    else:
        text = _json_string(_iso(kind, column, separator="T") if kind in _ISO else column)
    return pc.fill_null(text, _NULL)


def _csv_value(field: Field, column: pa.Array) -> pa.Array:
    """The text of each value (null where missing)."""
    kind = field.type
    fmt = custom_format(field)
    if fmt is not None:
        return pc.strftime(_seconds(kind, column), format=fmt)
    if kind == "integer":
        return pc.cast(column, pa.string())
    if kind == "year":
        return pc.utf8_lpad(pc.cast(column, pa.string()), 4, "0")
    if kind == "number":
        text = _float_texts(column, sci_from=1e15, fallback=_postgres_float)
        if field.decimal_char != ".":
            text = pc.replace_substring(text, ".", field.decimal_char)
        return text
    if kind == "boolean":
        true, false = boolean_words(field)
        return pc.if_else(column, text_scalar(true), text_scalar(false))
    if kind in _ISO:
        return _iso(kind, column, separator=" ")
    return column


_ISO = ("date", "datetime", "time")


def _iso(kind: str, column: pa.Array, *, separator: str) -> pa.Array:
    """Dates, times and datetimes in ISO 8601. CSV (separator ' ') trims the fraction of a
    second as PostgreSQL does; JSON (separator 'T') writes it as Python's isoformat."""
    if kind == "date":
        return pc.cast(column, pa.string())
    if kind == "datetime":
        column = pc.cast(column, pa.timestamp("us"))  # UTC wall-clock time
    text = pc.cast(column, pa.string())
    text = pc.replace_substring_regex(
        text, _TRAILING_ZEROS if separator == " " else _NO_FRACTION, ""
    )
    if kind == "time":
        return text
    if separator != " ":
        text = pc.replace_substring(text, " ", separator, max_replacements=1)
    return pc.binary_join_element_wise(text, _UTC, _EMPTY)


def _seconds(kind: str, column: pa.Array) -> pa.Array:
    """Dates, times and datetimes as whole-second timestamps, for a strftime format (mdhub
    reads those formats to the second)."""
    if kind == "time":
        column = pc.cast(pc.cast(column, pa.int64()), pa.timestamp("us"))
    unit = pa.timestamp("s", "UTC" if kind == "datetime" else None)
    return pc.cast(column, unit, safe=False)


def _float_texts(
    column: pa.Array, *, sci_from: float, fallback: Callable[[float], str]
) -> pa.Array:
    """Shortest round-trip text of each float. Arrow's own text is kept where it is plain
    positional notation in [1e-4, sci_from); the rest (exponents, NaN, infinities) is written
    by `fallback`, value by value."""
    text = pc.cast(column, pa.string())
    size = pc.abs(column)
    tiny = pc.and_(pc.less(size, _SMALLEST_PLAIN), pc.not_equal(size, _ZERO))
    huge = pc.greater_equal(size, pa.scalar(sci_from, pa.float64()))
    odd = pc.or_(pc.match_substring_regex(text, "[eni]"), pc.or_(tiny, huge))
    odd = pc.fill_null(odd, FALSE)
    if not pc.any(odd).as_py():
        return text
    written = [fallback(value) for value in column.filter(odd).to_pylist()]
    return pc.replace_with_mask(text, odd, pa.array(written, pa.string()))


def _postgres_float(value: float) -> str:
    """A float as PostgreSQL writes it, the infinities as mdhub reads them back."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "INF" if value > 0 else "-INF"
    minus = "-" if math.copysign(1.0, value) < 0 else ""
    if value == 0:
        return minus + "0"
    mantissa, _, exponent = _postgres_digits(abs(value)).partition("e")
    digits, power = mantissa.replace(".", "").rstrip("0"), int(exponent)
    if -4 <= power < 15:  # positional notation
        if power < 0:
            return f"{minus}0.{'0' * (-power - 1)}{digits}"
        whole, fraction = digits[: power + 1].ljust(power + 1, "0"), digits[power + 1 :]
        return minus + whole + (f".{fraction}" if fraction else "")
    mantissa = digits[0] + (f".{digits[1:]}" if len(digits) > 1 else "")
    return f"{minus}{mantissa}e{'-' if power < 0 else '+'}{abs(power):02d}"


def _postgres_digits(value: float) -> str:
    """`value` (positive) in the fewest significant digits that lie strictly between the
    midpoints to its neighbours, as PostgreSQL's shortest output does (Python's repr also
    takes a digit string that falls exactly on a midpoint)."""
    exact = Decimal(value)
    with localcontext() as context:
        context.prec = 1100  # exact for every double
        below = (exact + Decimal(math.nextafter(value, -math.inf))) / 2
        above = (exact + Decimal(math.nextafter(value, math.inf))) / 2
    for count in range(1, 18):
        text = f"{value:.{count - 1}e}"
        if float(text) == value and Decimal(text) not in (below, above):
            return text
    return f"{value:.16e}"


def _python_float(value: float) -> str:
    """A float as json.dumps writes it; JSON has no NaN or infinities: null."""
    return repr(value) if math.isfinite(value) else "null"


def _point_zero(text: pa.Array) -> pa.Array:
    return pc.binary_join_element_wise(text, text_scalar(".0"), _EMPTY)


def _json_string(text: pa.Array) -> pa.Array:
    data = text_bytes(text)
    for char, escape in _JSON_ESCAPES:
        if char.encode() in data:
            text = pc.replace_substring(text, char, escape)
    return pc.binary_join_element_wise(_QUOTE, text, _QUOTE, _EMPTY)
