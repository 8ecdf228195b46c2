"""Reading records: one record by its key, and a dataset's versions.

A key in a path is the key fields' values joined by `,` (in the order of the dataset's keys);
each value is read as its field's type. Values come back as JSON types, the same from SQLite
and PostgreSQL: SQLite keeps booleans as 0/1, dates, times and datetimes as ISO 8601 text
(datetimes in UTC ending in Z) and objects and arrays as JSON text.
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, time
from typing import Any

import psycopg

from mdhub.core import values
from mdhub.core.schema import Field
from mdhub.core.times import iso
from mdhub.db import records as db_records
from mdhub.db.async_reads import AsyncReads
from mdhub.db.engine import Databases
from mdhub.errors import InvalidRequest, NotFound
from mdhub.services.datasets import Dataset, get_dataset, read_dataset

KEY_SEPARATOR = ","
# Dataset descriptions an AwaitedLookups keeps (a few hundred bytes each).
KEPT_DESCRIPTIONS = 1024


def get_record(dbs: Databases, workspace: str, name: str, key: str) -> dict[str, Any]:
    """The record of dataset `name` whose key is `key`; NotFound when there is none."""
    dataset = get_dataset(dbs, workspace, name)
    bound = _key_values(dataset, key, sqlite=dbs.kind == "sqlite")
    fields = _fields(dataset)
    with dbs.read_data() as conn:
        row = db_records.get_row(conn, dataset.table_name, [f.name for f in fields], bound)
    return _record(fields, row, name, key)


class AwaitedLookups:
    """Record lookups awaited on the event loop (PostgreSQL), most in one round trip.

    The description of a dataset read for one lookup is kept for the next ones, which check
    it in their own statement: the dataset's version and last change are read in the same
    snapshot as the row, and a lookup whose dataset changed since (or is gone) reads the
    description again. A lookup with no description kept, or a changed one, takes two."""

    def __init__(self, reads: AsyncReads, *, keep: int = KEPT_DESCRIPTIONS) -> None:
        self.reads = reads
        self._keep = keep
        self._known: dict[tuple[str, str], Dataset] = {}

    async def record(self, workspace: str, name: str, key: str) -> dict[str, Any]:
        """`get_record`, awaited."""
        known = self._known.get((workspace, name))
        if known is not None:
            record = await self._checked(known, key)
            if record is not None:
                return record
            del self._known[(workspace, name)]
        dataset = await read_dataset(self.reads, workspace, name)
        bound = _key_values(dataset, key, sqlite=False)
        self._remember(workspace, dataset)
        fields = _fields(dataset)
        names = [f.name for f in fields]
        found = await self.reads.fetch_one(
            *db_records.pg_row_query(dataset.table_name, names, bound)
        )
        return _record(
            fields, None if found is None else dict(zip(names, found, strict=True)), name, key
        )

    async def _checked(self, dataset: Dataset, key: str) -> dict[str, Any] | None:
        """The record by a description kept from before (NotFound when there is none); None
        when the dataset changed since, so that the description must be read again."""
        try:
            bound = _key_values(dataset, key, sqlite=False)
        except InvalidRequest:
            return None  # perhaps not a key of the dataset as it is now
        fields = _fields(dataset)
        names = [f.name for f in fields]
        sql, params = db_records.pg_checked_row_query(dataset.id, dataset.table_name, names, bound)
        try:
            found = await self.reads.fetch_one(sql, params)
        except psycopg.errors.UndefinedTable:
            return None  # dropped with its dataset
        if found is None or (found[0], found[1]) != (dataset.version, dataset.updated_at):
            return None
        values = found[2:]
        row = None if values[0] is None else dict(zip(names, values, strict=True))
        return _record(fields, row, dataset.name, key)

    def _remember(self, workspace: str, dataset: Dataset) -> None:
        if len(self._known) >= self._keep:
            del self._known[next(iter(self._known))]  # the one kept longest
        self._known[(workspace, dataset.name)] = dataset


def _key_values(dataset: Dataset, key: str, *, sqlite: bool) -> dict[str, Any]:
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


def _fields(dataset: Dataset) -> tuple[Field, ...]:
    assert dataset.schema is not None  # _key_values refused a dataset without one
    return tuple(dataset.schema.fields)


def _record(
    fields: tuple[Field, ...], row: dict[str, Any] | None, name: str, key: str
) -> dict[str, Any]:
    if row is None:
        raise NotFound(f"no record with key '{key}' in dataset '{name}'", {"key": key})
    return {f.name: json_value(f, row[f.name]) for f in fields}


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
