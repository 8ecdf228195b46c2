"""Plain-Python conversion of one text value to a Table Schema type: the reference for the
vectorized path (`mdhub.ingest.vectorized`) and the source of its error messages."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import UTC, date, datetime, time
from typing import Any

from mdhub.core.schema import Field

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1
MESSAGE_VALUE_CHARS = 60

_YEAR = r"(?:000[1-9]|00[1-9][0-9]|0[1-9][0-9]{2}|[1-9][0-9]{3})"
_DATE = _YEAR + r"-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12][0-9]|3[01])"
_TIME = r"(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](?:\.[0-9]{1,6})?"
_ZONE = r"(?:Z|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])"

# Whole-value syntax of the default format of each type, written in the dialect that RE2 (Arrow)
# and Python's `re` read alike. Dates also need a valid day of the month; integers must fit int64.
PATTERNS = {
    "integer": r"[+-]?[0-9]+",
    "number": r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|NaN|INF|-INF",
    "year": r"[0-9]{4}",
    "date": _DATE,
    "datetime": _DATE + "[T ]" + _TIME + _ZONE + "?",
    "time": _TIME,
    # Also at least one component, and no bare 'T': see `_duration`.
    "duration": r"P(?:[0-9]+Y)?(?:[0-9]+M)?(?:[0-9]+W)?(?:[0-9]+D)?"
    r"(?:T(?:[0-9]+H)?(?:[0-9]+M)?(?:[0-9]+(?:\.[0-9]+)?S)?)?",
}
_COMPILED = {kind: re.compile(pattern) for kind, pattern in PATTERNS.items()}

_NOUNS = {
    "integer": "an integer",
    "number": "a number",
    "boolean": "a boolean",
    "date": "a date",
    "datetime": "a datetime",
    "time": "a time",
    "year": "a year",
    "duration": "a duration",
    "object": "a JSON object",
    "array": "a JSON array",
}
_ISO_FORMATS = {
    "date": "YYYY-MM-DD",
    "datetime": "YYYY-MM-DDTHH:MM:SS[.ffffff][Z|±HH:MM]",
    "time": "HH:MM:SS[.ffffff]",
}


def custom_format(field: Field) -> str | None:
    """The strftime pattern of a date, datetime or time field ('fmt:' prefix of Table Schema v1
    allowed); None for the ISO 8601 default."""
    if field.type not in _ISO_FORMATS or field.format in (None, "", "default", "any"):
        return None
    return field.format.removeprefix("fmt:")


def quote(text: str) -> str:
    """A value as quoted in a message, cut to a readable length."""
    if len(text) > MESSAGE_VALUE_CHARS:
        text = text[:MESSAGE_VALUE_CHARS] + "…"
    return f"'{text}'"


def canonical_json(value: Any) -> str:
    """The one text form of a JSON value that object and array fields store."""
    return json.dumps(value, separators=(",", ":"), sort_keys=True, ensure_ascii=False, default=str)


def json_text(text: str, kind: str) -> str | None:
    """`text` as canonical JSON when it is a JSON object (kind 'object') or array ('array')."""
    try:
        value = json.loads(text, parse_constant=_reject_constant)
    except (ValueError, RecursionError):
        return None
    return canonical_json(value) if isinstance(value, dict if kind == "object" else list) else None


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


def plain_number(field: Field, text: str) -> str | None:
    """Number text with the field's group separators dropped and its decimal separator made '.';
    None when the text holds a '.' that is not the decimal separator."""
    if field.group_char:
        text = text.replace(field.group_char, "")
    if field.decimal_char != ".":
        if "." in text:
            return None
        text = text.replace(field.decimal_char, ".")
    return text


def type_error(field: Field, text: str) -> str:
    """Why `text` is not a value of the field's type."""
    if field.type == "integer" and _COMPILED["integer"].fullmatch(text):
        return f"{quote(text)} is not an integer (out of the 64-bit range)"
    message = f"{quote(text)} is not {_NOUNS.get(field.type, 'valid')}"
    hint = _hint(field)
    return f"{message} ({hint})" if hint else message


def _hint(field: Field) -> str | None:
    if field.type in _ISO_FORMATS:
        return f"expected {custom_format(field) or _ISO_FORMATS[field.type]}"
    if field.type == "boolean":
        return "expected one of: " + ", ".join(field.true_values + field.false_values)
    if field.type == "number" and (field.decimal_char != "." or field.group_char):
        group = f", group separator '{field.group_char}'" if field.group_char else ""
        return f"decimal separator '{field.decimal_char}'{group}"
    if field.type == "year":
        return "expected 4 digits"
    if field.type == "duration":
        return "expected ISO 8601 like P1Y2M3DT4H5M6S"
    return None


def convert_value(field: Field, text: str) -> Any:
    """`text` as a value of the field's type; raises ValueError with the message to show."""
    try:
        value = _CONVERTERS[field.type](field, text)
    except (ValueError, OverflowError):
        value = None
    if value is None:
        raise ValueError(type_error(field, text))
    return value


def _text(field: Field, text: str) -> str:
    return text


def _integer(field: Field, text: str) -> int | None:
    if not _COMPILED["integer"].fullmatch(text):
        return None
    value = int(text)
    return value if INT64_MIN <= value <= INT64_MAX else None


def _number(field: Field, text: str) -> float | None:
    plain = plain_number(field, text)
    if plain is None or not _COMPILED["number"].fullmatch(plain):
        return None
    return float(plain)


def _boolean(field: Field, text: str) -> bool | None:
    if text in field.true_values:
        return True
    return False if text in field.false_values else None


def _strptime(text: str, fmt: str) -> datetime | None:
    """Custom formats take only the exact rendering of a value (zero-padded, no extra spaces)."""
    value = datetime.strptime(text, fmt)
    # Python leaves years before 1000 unpadded where Arrow pads them to four digits.
    rendered = value.strftime(fmt.replace("%Y", f"{value.year:04d}"))
    return value if rendered == text else None


def _date(field: Field, text: str) -> date | None:
    fmt = custom_format(field)
    if fmt:
        value = _strptime(text, fmt)
        return value.date() if value else None
    return date.fromisoformat(text) if _COMPILED["date"].fullmatch(text) else None


def _datetime(field: Field, text: str) -> datetime | None:
    fmt = custom_format(field)
    if fmt:
        value = _strptime(text, fmt)
    elif _COMPILED["datetime"].fullmatch(text):
        value = datetime.fromisoformat(text)
    else:
        return None
    if value is None:
        return None
    # Naive means UTC; Python cannot hold instants that fall outside years 1-9999 in UTC.
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _time(field: Field, text: str) -> time | None:
    fmt = custom_format(field)
    if fmt:
        value = _strptime(text, fmt)
        return value.time() if value else None
    return time.fromisoformat(text) if _COMPILED["time"].fullmatch(text) else None


def _year(field: Field, text: str) -> int | None:
    return int(text) if _COMPILED["year"].fullmatch(text) else None


def _duration(field: Field, text: str) -> str | None:
    ok = _COMPILED["duration"].fullmatch(text) and len(text) > 1 and not text.endswith("T")
    return text if ok else None


def _json(field: Field, text: str) -> str | None:
    return json_text(text, field.type)


_CONVERTERS: dict[str, Callable[[Field, str], Any]] = {
    "string": _text,
    "any": _text,
    "integer": _integer,
    "number": _number,
    "boolean": _boolean,
    "date": _date,
    "datetime": _datetime,
    "time": _time,
    "year": _year,
    "duration": _duration,
    "object": _json,
    "array": _json,
}
