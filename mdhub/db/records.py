"""Reading a dataset's rows: one row by its key, and the dataset's versions."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, select, text

from mdhub.db.dialect import quote
from mdhub.db.tables import versions


def _ident(name: str) -> str:
    # A `:` in a quoted name must not read as a bound parameter of `text()`.
    return quote(name).replace(":", "\\:")


def get_row(
    conn: Connection, table: str, columns: Sequence[str], key: dict[str, Any]
) -> dict[str, Any] | None:
    """The row whose key columns equal `key` (values in the form the store holds), or None."""
    where = " AND ".join(f"{_ident(name)} = :k{i}" for i, name in enumerate(key))
    sql = f"SELECT {', '.join(_ident(c) for c in columns)} FROM {_ident(table)} WHERE {where}"
    params = {f"k{i}": value for i, value in enumerate(key.values())}
    row = conn.execute(text(sql), params).first()
    return None if row is None else dict(zip(columns, row, strict=True))


def list_versions(
    conn: Connection, dataset_id: int, *, before: int | None, limit: int
) -> list[Any]:
    """A dataset's versions, newest first; `before` (exclusive) pages back in time."""
    query = select(versions).where(versions.c.dataset_id == dataset_id)
    if before is not None:
        query = query.where(versions.c.version < before)
    return list(conn.execute(query.order_by(versions.c.version.desc()).limit(limit)).all())
