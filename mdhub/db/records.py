"""Reading a dataset's rows: one row by its key, and the dataset's versions."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, select, text

from mdhub.db.dialect import quote, text_quote
from mdhub.db.tables import datasets, versions


def get_row(
    conn: Connection, table: str, columns: Sequence[str], key: dict[str, Any]
) -> dict[str, Any] | None:
    """The row whose key columns equal `key` (values in the form the store holds), or None."""
    where = " AND ".join(f"{text_quote(name)} = :k{i}" for i, name in enumerate(key))
    sql = (
        f"SELECT {', '.join(text_quote(c) for c in columns)} FROM {text_quote(table)} WHERE {where}"
    )
    params = {f"k{i}": value for i, value in enumerate(key.values())}
    row = conn.execute(text(sql), params).first()
    return None if row is None else dict(zip(columns, row, strict=True))


def pg_row_query(
    table: str, columns: Sequence[str], key: dict[str, Any]
) -> tuple[str, dict[str, Any]]:
    """`get_row`'s statement as psycopg's own SQL (`%(name)s` placeholders), and its values."""
    where = " AND ".join(f"{_pg_name(name)} = %(k{i})s" for i, name in enumerate(key))
    sql = f"SELECT {', '.join(_pg_name(c) for c in columns)} FROM {_pg_name(table)} WHERE {where}"
    return sql, {f"k{i}": value for i, value in enumerate(key.values())}


def pg_checked_row_query(
    dataset_id: int, table: str, columns: Sequence[str], key: dict[str, Any]
) -> tuple[str, dict[str, Any]]:
    """`pg_row_query` that also reads the dataset's version and last change, in the same
    statement (one snapshot): (version, updated_at, *columns), the columns null when no row
    has the key; no row when the dataset is gone."""
    on = " AND ".join(f"r.{_pg_name(name)} = %(k{i})s" for i, name in enumerate(key))
    sql = (
        f"SELECT d.version, d.updated_at, {', '.join(f'r.{_pg_name(c)}' for c in columns)} "
        f"FROM {_pg_name(datasets.name)} d LEFT JOIN {_pg_name(table)} r ON {on} "
        "WHERE d.id = %(dataset)s"
    )
    params = {f"k{i}": value for i, value in enumerate(key.values())}
    return sql, {**params, "dataset": dataset_id}


def _pg_name(name: str) -> str:
    """A quoted name in psycopg's SQL, where a `%` is written `%%`."""
    return quote(name).replace("%", "%%")


def list_versions(
    conn: Connection, dataset_id: int, *, before: int | None, limit: int
) -> list[Any]:
    """A dataset's versions, newest first; `before` (exclusive) pages back in time."""
    query = select(versions).where(versions.c.dataset_id == dataset_id)
    if before is not None:
        query = query.where(versions.c.version < before)
    return list(conn.execute(query.order_by(versions.c.version.desc()).limit(limit)).all())


def find_rows(
    conn: Connection,
    table: str,
    columns: Sequence[str],
    *,
    where: str,
    order_by: str,
    limit: int,
    offset: int,
    params: dict[str, Any],
) -> list[dict[str, Any]]:
    """Rows matching `where` (SQL for `text()`, its values in `params`) in `order_by` order."""
    sql = (
        f"SELECT {', '.join(text_quote(c) for c in columns)} FROM {text_quote(table)} "
        f"WHERE {where} ORDER BY {order_by} LIMIT :limit OFFSET :offset"
    )
    result = conn.execute(text(sql), {**params, "limit": limit, "offset": offset})
    return [dict(zip(columns, row, strict=True)) for row in result]
