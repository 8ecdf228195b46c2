"""Reading a dataset's rows: one row by its key, and the dataset's versions."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, select, text

from mdhub.db.dialect import quote, text_quote
from mdhub.db.tables import datasets, versions


def sqlite_row_query(
    table: str, columns: Sequence[str], key: dict[str, Any]
) -> tuple[str, dict[str, Any]]:
    """SQLite: the statement of the row whose key columns equal `key` (values in the form the
    store holds), with `:name` placeholders, and its values."""
    where = " AND ".join(f"{quote(name)} = :k{i}" for i, name in enumerate(key))
    sql = f"SELECT {', '.join(quote(c) for c in columns)} FROM {quote(table)} WHERE {where}"
    return sql, _key_params(key)


def sqlite_stamp_query(workspace: str, name: str) -> tuple[str, dict[str, Any]]:
    """SQLite: the statement of a dataset's id, version and last change (one row, or none when
    there is no such dataset), and its values."""
    sql = (
        "SELECT d.id, d.version, d.updated_at FROM datasets d "
        "JOIN workspaces w ON w.id = d.workspace_id WHERE w.name = :workspace AND d.name = :name"
    )
    return sql, {"workspace": workspace, "name": name}


def pg_row_query(
    table: str, columns: Sequence[str], key: dict[str, Any]
) -> tuple[str, dict[str, Any]]:
    """`sqlite_row_query` in psycopg's own SQL (`%(name)s` placeholders)."""
    where = " AND ".join(f"{_pg_name(name)} = %(k{i})s" for i, name in enumerate(key))
    sql = f"SELECT {', '.join(_pg_name(c) for c in columns)} FROM {_pg_name(table)} WHERE {where}"
    return sql, _key_params(key)


def pg_checked_row_query(
    dataset_id: int, table: str, columns: Sequence[str], key: dict[str, Any]
) -> tuple[str, dict[str, Any]]:
    """`pg_row_query` that also reads the dataset's version and last change, in the same
    statement (one snapshot): (version, updated_at, found, *columns), `found` false and the
    columns null when no row has the key; no row when the dataset is gone."""
    on = " AND ".join(f"r.{_pg_name(name)} = %(k{i})s" for i, name in enumerate(key))
    found = f"r.{_pg_name(next(iter(key)))} IS NOT NULL"  # a key column: never null in a row
    sql = (
        f"SELECT d.version, d.updated_at, {found}, "
        f"{', '.join(f'r.{_pg_name(c)}' for c in columns)} "
        f"FROM {_pg_name(datasets.name)} d LEFT JOIN {_pg_name(table)} r ON {on} "
        "WHERE d.id = %(dataset)s"
    )
    return sql, {**_key_params(key), "dataset": dataset_id}


def _key_params(key: dict[str, Any]) -> dict[str, Any]:
    """The key's values as the statements above name them: k0, k1, …"""
    return {f"k{i}": value for i, value in enumerate(key.values())}


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
