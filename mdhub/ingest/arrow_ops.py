"""Small pyarrow building blocks of the vectorized conversion: masks, casts that flag failures."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from mdhub.ingest.convert import PATTERNS

# (values, invalid): values typed and null where missing or invalid; invalid true where a present
# value failed (no nulls), or None when none did.
Result = tuple[pa.Array, pa.BooleanArray | None]

# Compute functions convert plain Python scalars slowly (~0.2 ms a call): pass typed ones.
FALSE = pa.scalar(False, pa.bool_())
TRUE = pa.scalar(True, pa.bool_())


def count(n: int) -> pa.Scalar:
    """A length or count as the int32 scalar that string lengths and counts compare with."""
    return pa.scalar(n, pa.int32())


def text_scalar(text: str) -> pa.Scalar:
    return pa.scalar(text, pa.string())


def matches(text: pa.Array, kind: str) -> pa.BooleanArray:
    """Whether each value has the whole-value syntax PATTERNS[kind] (null stays null)."""
    return pc.match_substring_regex(text, f"^(?:{PATTERNS[kind]})$")


def null_where(values: pa.Array, mask: pa.BooleanArray) -> pa.Array:
    return pc.if_else(mask, pa.scalar(None, values.type), values)


def either(a: pa.BooleanArray | None, b: pa.BooleanArray | None) -> pa.BooleanArray | None:
    """a OR b, nulls read as false; None stands for all false."""
    if a is None or b is None:
        return b if a is None else a
    return pc.or_(pc.fill_null(a, FALSE), pc.fill_null(b, FALSE))


def finish(values: pa.Array, invalid: pa.BooleanArray | None) -> Result:
    """Null the invalid values; drop an all-false mask."""
    if invalid is None:
        return values, None
    invalid = pc.fill_null(invalid, FALSE)
    if not invalid.true_count:
        return values, None
    return null_where(values, invalid), invalid


def concat(parts: list[Result]) -> Result:
    values = pa.concat_arrays([part[0] for part in parts])
    if all(part[1] is None for part in parts):
        return values, None
    masks = [pa.repeat(FALSE, len(v)) if m is None else m for v, m in parts]
    return values, pa.concat_arrays(masks)


def cast_rows(values: pa.Array, target: pa.DataType) -> Result:
    """Cast, making the values Arrow cannot read null and flagging them (found by halving)."""
    try:
        return pc.cast(values, target), None
    except pa.ArrowInvalid:
        if len(values) == 1:
            return pa.nulls(1, target), pa.array([True], pa.bool_())
    half = len(values) // 2
    return concat([cast_rows(values.slice(0, half), target), cast_rows(values.slice(half), target)])


def cast_valid(text: pa.Array, ok: pa.BooleanArray, target: pa.DataType) -> Result:
    """Cast the values whose syntax is `ok`; the others, and any Arrow cannot read, are invalid."""
    values, failed = cast_rows(null_where(text, pc.invert(ok)), target)
    return finish(values, either(pc.and_kleene(pc.is_valid(text), pc.invert(ok)), failed))


def text_bytes(text: pa.Array) -> bytes:
    """The UTF-8 bytes of a string array's values (null slots may add some): cheap whole-column
    pre-checks such as "is there any '+' at all"."""
    _, offsets, data = text.buffers()
    if not len(text) or data is None:
        return b""
    bounds = memoryview(offsets).cast("i")
    start, end = bounds[text.offset], bounds[text.offset + len(text)]
    return data.slice(start, end - start).to_pybytes()
