"""Reading records: one record by its key, and a dataset's versions.

A key in a path is the key fields' values joined by `,` (in the order of the dataset's keys);
each value is read as its field's type. Values come back as JSON types, the same from SQLite
and PostgreSQL: SQLite keeps booleans as 0/1, dates, times and datetimes as ISO 8601 text
(datetimes in UTC ending in Z) and objects and arrays as JSON text.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from datetime import UTC, datetime, time
from typing import Any

from mdhub.core import values
from mdhub.core.schema import Field
from mdhub.core.times import iso
from mdhub.db import records as db_records
from mdhub.db.engine import Databases
from mdhub.errors import InvalidRequest, NotFound
from mdhub.services.datasets import Dataset, get_dataset

KEY_SEPARATOR = ","


def key_values(dataset: Dataset, key: str, *, sqlite: bool) -> dict[str, Any]:
    """The key fields' values in `key`, as the store holds them."""
    name = dataset.name
    if not dataset.keys:
        raise InvalidRequest(f"dataset '{name}' has no key: records cannot be read by key")
    if dataset.schema is None:
        raise NotFound(f"no record with key '{key}' in dataset '{name}'")
    parts = [key] if len(dataset.keys) == 1 else key.split(KEY_SEPARATOR)
    if len(parts) != len(dataset.keys):
        raise InvalidRequest(
            f"the key of dataset '{name}' has {len(dataset.keys)} parts "
            f"({KEY_SEPARATOR.join(dataset.keys)}); got {len(parts)}",
            {"keys": list(dataset.keys), "parts": len(parts)},
        )
    return {
        field: _stored(dataset.schema.field(field), part, sqlite=sqlite)
        for field, part in zip(dataset.keys, parts, strict=True)
    }


def record_fields(dataset: Dataset) -> tuple[Field, ...]:
    """The fields of a record (of a dataset `key_values` accepted: it has a schema)."""
    assert dataset.schema is not None
    return tuple(dataset.schema.fields)


def record_of(
    fields: tuple[Field, ...], row: Sequence[Any] | None, name: str, key: str
) -> dict[str, Any]:
    """A row's values (in the fields' order) as a record of JSON types; NotFound for no row."""
    if row is None:
        raise NotFound(f"no record with key '{key}' in dataset '{name}'", {"key": key})
    return {f.name: json_value(f, value) for f, value in zip(fields, row, strict=True)}


def list_versions(
    dbs: Databases, workspace: str, name: str, *, before: int | None, limit: int
) -> list[dict[str, Any]]:
    """The dataset's versions, newest first, each with its job and counts."""
    dataset: Dataset = get_dataset(dbs, workspace, name)
    with dbs.data.connect() as conn:
        rows = db_records.list_versions(conn, dataset.id, before=before, limit=limit)
    return [
        {
            "version": row.version,
            "job": row.job_id,
            "operation": row.operation,
            "statistics": row.statistics,
            "row_count": row.row_count,
            "full_load": bool(row.full_load),
            "created_at": iso(row.created_at),
        }
        for row in rows
    ]


def _stored(field: Field, value: str, *, sqlite: bool) -> Any:
    """A key value from a path, as the store holds it; InvalidRequest naming the field."""
    try:
        parsed = values.from_text(field, value)
    except ValueError:
        raise InvalidRequest(
            f"key field '{field.name}': '{value}' is not a valid {field.type}",
            {"field": field.name, "type": field.type, "value": value},
        ) from None
    return values.to_store(parsed, sqlite=sqlite)


def json_value(field: Field, value: Any) -> Any:
    """A stored value as JSON: numbers, booleans, ISO 8601 text, parsed objects and arrays."""
    if value is None:
        return None
    kind = field.type
    if kind == "number" and not math.isfinite(value):
        return None  # JSON has no infinities or NaN (exports write null too)
    if kind == "boolean":
        return bool(value)
    if kind == "date":
        return value if isinstance(value, str) else value.isoformat()
    if kind == "datetime":
        stamp = datetime.fromisoformat(value) if isinstance(value, str) else value
        return stamp.astimezone(UTC).isoformat() if stamp.tzinfo else iso(stamp)
    if kind == "time":
        return (time.fromisoformat(value) if isinstance(value, str) else value).isoformat()
    if kind in ("object", "array"):
        return json.loads(value) if isinstance(value, str) else value
    return value
