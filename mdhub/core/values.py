"""Values of a dataset's fields as requests give them (JSON, or text in a path) and as the
store holds them.

PostgreSQL takes Python values of the column's type. SQLite keeps booleans as 0/1, dates and
times as ISO 8601 text and datetimes as UTC text ending in Z, fixed width, so that comparing
the text compares the values.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time
from typing import Any

from mdhub.core.schema import Field

NUMERIC_TYPES = frozenset({"integer", "number", "year"})
TEXT_TYPES = frozenset({"string", "duration", "any"})
TEMPORAL_TYPES = frozenset({"date", "datetime", "time"})
JSON_TYPES = frozenset({"object", "array"})
_INTEGER = re.compile(r"[+-]?[0-9]+")


def from_text(field: Field, value: str) -> Any:
    """A value written as text (a key in a path) as a Python value of the field's type;
    ValueError when it is not one."""
    kind = field.type
    if kind in ("integer", "year"):
        if not _INTEGER.fullmatch(value):
            raise ValueError(value)
        return int(value)
    if kind == "number":
        return float(value)
    if kind == "boolean":
        if value in field.true_values:
            return True
        if value in field.false_values:
            return False
        raise ValueError(value)
    if kind in TEMPORAL_TYPES:
        return _temporal(kind, value)
    return value


def from_json(field: Field, value: Any) -> Any:
    """A JSON value compared with the field, as a Python value of the field's type; ValueError
    when it cannot be one (an integer field is compared with any number)."""
    kind = field.type
    if kind in NUMERIC_TYPES:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(value)
        return value
    if kind == "boolean":
        if not isinstance(value, bool):
            raise ValueError(value)
        return value
    if not isinstance(value, str):
        raise ValueError(value)
    if kind in TEMPORAL_TYPES:
        return _temporal(kind, value)
    if kind in JSON_TYPES:
        raise ValueError(value)
    return value


def to_store(value: Any, *, sqlite: bool) -> Any:
    """A Python value in the form the store holds and compares it."""
    if not sqlite:
        return value
    if isinstance(value, datetime):
        return f"{value.astimezone(UTC).replace(tzinfo=None):%Y-%m-%d %H:%M:%S.%f}Z"
    if isinstance(value, time):
        return f"{value:%H:%M:%S.%f}"
    if isinstance(value, date):
        return value.isoformat()
    return value


def _temporal(kind: str, value: str) -> date | datetime | time:
    if kind == "date":
        return date.fromisoformat(value)
    if kind == "time":
        return time.fromisoformat(value)
    stamp = datetime.fromisoformat(value)
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)
