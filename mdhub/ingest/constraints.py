"""The row checks of one converted column: its type, `required` and the other constraints."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from mdhub.core.schema import Field
from mdhub.errors import SchemaError
from mdhub.ingest.arrow_ops import FALSE
from mdhub.ingest.convert import convert_value, quote, type_error
from mdhub.ingest.vectorized import Converted, render_text

_ENUM_SHOWN = 10
# PostgreSQL text cannot hold U+0000, so no backend takes it (the same data everywhere).
NUL_MESSAGE = "contains a NUL character (U+0000), which a text value cannot hold"


@dataclass(frozen=True)
class Failure:
    """One check of one column: the rows that failed it and what to say about each."""

    field: Field
    mask: pa.BooleanArray  # true on the rows that failed; no nulls
    message: Callable[[int], str]  # the message for a row index


def column_failures(field: Field, conv: Converted, source: pa.Array) -> list[Failure]:
    """Every check of the column that at least one row failed, in a fixed order: type, NUL
    characters, required, minimum, maximum, minLength, maxLength, pattern, enum. `unique` is
    the caller's."""
    text = conv.text

    def shown(i: int) -> str:
        value = text[i].as_py() if text is not None else conv.values[i].as_py()
        return quote(str(value))

    failures: list[Failure] = []
    if conv.invalid is not None and text is not None:  # only text can fail to convert
        failures.append(Failure(field, conv.invalid, lambda i: type_error(field, text[i].as_py())))
    if pa.types.is_string(conv.values.type):
        nul = pc.fill_null(pc.match_substring(conv.values, "\x00"), False)
        if nul.true_count:
            failures.append(Failure(field, nul, lambda i: NUL_MESSAGE))
    present = pc.is_valid(conv.values)
    if field.required:
        missing = pc.invert(present)
        if conv.invalid is not None:
            missing = pc.and_(missing, pc.invert(conv.invalid))
        failures.append(Failure(field, missing, lambda i: "a value is required"))
    failures += _bounds(field, conv.values, shown)
    failures += _lengths(field, conv.values, shown)
    if field.constraints.pattern is not None:
        pattern = field.constraints.pattern
        rendered = text if text is not None else render_text(source)
        mismatch = pc.and_kleene(present, pc.invert(_full_match(rendered, pattern)))
        failures.append(
            _failure(field, mismatch, lambda i: f"{shown(i)} does not match the pattern {pattern}")
        )
    if field.constraints.enum is not None:
        failures.append(_enum(field, conv.values, shown))
    return [f for f in failures if f.mask.true_count]


def _bounds(field: Field, values: pa.Array, shown: Callable[[int], str]) -> list[Failure]:
    c = field.constraints
    out = []
    if c.minimum is not None:
        below = pc.less(values, _bound(field, "minimum", c.minimum, values.type))
        out.append(
            _failure(field, below, lambda i: f"{shown(i)} is less than the minimum {c.minimum}")
        )
    if c.maximum is not None:
        above = pc.greater(values, _bound(field, "maximum", c.maximum, values.type))
        out.append(
            _failure(field, above, lambda i: f"{shown(i)} is greater than the maximum {c.maximum}")
        )
    return out


def _bound(field: Field, name: str, raw: Any, arrow_type: pa.DataType) -> pa.Scalar:
    """A minimum or maximum as an Arrow scalar: numbers as given, dates and times from ISO text."""
    if field.type not in ("date", "datetime", "time"):
        return pa.scalar(raw, pa.int64() if isinstance(raw, int) else pa.float64())
    try:
        return pa.scalar(convert_value(Field(name=field.name, type=field.type), raw), arrow_type)
    except ValueError as exc:
        raise SchemaError(f"field '{field.name}': {name} {exc}", {"field": field.name}) from None


def _lengths(field: Field, values: pa.Array, shown: Callable[[int], str]) -> list[Failure]:
    """minLength/maxLength: characters of text, items of JSON objects and arrays."""
    c = field.constraints
    if c.min_length is None and c.max_length is None:
        return []
    if field.type in ("object", "array"):
        sizes = [None if v is None else len(json.loads(v)) for v in values.to_pylist()]
        lengths, unit = pa.array(sizes, pa.int64()), "items"
    else:
        lengths, unit = pc.utf8_length(values), "characters"

    def has(i: int) -> str:
        return f"{shown(i)} has {lengths[i].as_py()} {unit}"

    out = []
    if c.min_length is not None:
        short = pc.less(lengths, pa.scalar(c.min_length, lengths.type))
        out.append(
            _failure(field, short, lambda i: f"{has(i)}, fewer than the minimum {c.min_length}")
        )
    if c.max_length is not None:
        long = pc.greater(lengths, pa.scalar(c.max_length, lengths.type))
        out.append(
            _failure(field, long, lambda i: f"{has(i)}, more than the maximum {c.max_length}")
        )
    return out


def _failure(field: Field, mask: pa.BooleanArray, message: Callable[[int], str]) -> Failure:
    return Failure(field, pc.fill_null(mask, FALSE), message)


def _full_match(text: pa.Array, pattern: str) -> pa.BooleanArray:
    """Whether each whole value matches; patterns outside RE2's syntax (lookaround, backreferences)
    fall back to Python's `re`, value by value."""
    try:
        return pc.match_substring_regex(text, f"^(?:{pattern})$")
    except pa.ArrowInvalid:
        compiled = re.compile(pattern)
        found = [None if t is None else bool(compiled.fullmatch(t)) for t in text.to_pylist()]
        return pa.array(found, pa.bool_())


def _enum(field: Field, values: pa.Array, shown: Callable[[int], str]) -> Failure:
    """Values compared with the enum after both are converted to the field's type."""
    enum = field.constraints.enum or ()
    allowed = pa.array([_enum_value(field, v) for v in enum], values.type)
    listed = ", ".join(str(v) for v in enum[:_ENUM_SHOWN]) + (
        ", …" if len(enum) > _ENUM_SHOWN else ""
    )
    mask = pc.and_(pc.is_valid(values), pc.invert(pc.is_in(values, allowed)))
    return Failure(field, mask, lambda i: f"{shown(i)} is not one of the allowed values: {listed}")


def _enum_value(field: Field, raw: Any) -> Any:
    if field.type == "boolean" and isinstance(raw, bool):
        return raw
    try:
        return convert_value(field, raw if isinstance(raw, str) else json.dumps(raw))
    except ValueError as exc:
        raise SchemaError(
            f"field '{field.name}': enum value {exc}", {"field": field.name}
        ) from None
