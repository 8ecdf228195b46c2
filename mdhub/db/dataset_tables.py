"""Per-dataset tables: rows (typed columns, primary key on the keys) and the change log."""

from __future__ import annotations

import re

from sqlalchemy import Connection, inspect

from mdhub.core.schema import Field, Schema
from mdhub.db.dialect import Dialect, column_sql, quote, quote_list

VERSION_COLUMN = "_mdhub_version"
OP_COLUMN = "_mdhub_op"


def table_name_for(dataset_id: int, name: str) -> str:
    """A readable, unique table name: `ds<id>_<name as lowercase letters, digits, _>`."""
    slug = re.sub(r"[^a-z0-9_]+", "_", name.lower()).strip("_")[:48] or "dataset"
    return f"ds{dataset_id}_{slug}"


def changes_table(table: str) -> str:
    return f"{table}__changes"


def create_tables(conn: Connection, dialect: Dialect, table: str, schema: Schema) -> None:
    """Create the dataset's row table and, for a keyed dataset, its change log."""
    keys = schema.primary_key
    parts = [column_sql(dialect, f) for f in schema.fields]
    parts += [f"UNIQUE ({quote(f.name)})" for f in schema.fields if f.constraints.unique]
    for key in keys:
        parts[schema.field_names.index(key)] += " NOT NULL"
    if keys:
        parts.append(f"PRIMARY KEY ({quote_list(keys)})")
    suffix = dialect.table_suffix(keyed=bool(keys))
    conn.exec_driver_sql(f"CREATE TABLE {quote(table)} ({', '.join(parts)}){suffix}")
    if keys:
        key_columns = [column_sql(dialect, schema.field(k)) + " NOT NULL" for k in keys]
        log = changes_table(table)
        conn.exec_driver_sql(
            f"CREATE TABLE {quote(log)} ({quote(VERSION_COLUMN)} BIGINT NOT NULL, "
            f"{quote(OP_COLUMN)} TEXT NOT NULL, {', '.join(key_columns)})"
        )
        conn.exec_driver_sql(
            f"CREATE INDEX {quote(log + '_version')} ON {quote(log)} ({quote(VERSION_COLUMN)})"
        )


def add_columns(conn: Connection, dialect: Dialect, table: str, fields: list[Field]) -> None:
    """Add nullable columns (the `add` schema policy)."""
    for field in fields:
        conn.exec_driver_sql(f"ALTER TABLE {quote(table)} ADD COLUMN {column_sql(dialect, field)}")


def drop_tables(conn: Connection, table: str) -> None:
    conn.exec_driver_sql(f"DROP TABLE IF EXISTS {quote(changes_table(table))}")
    conn.exec_driver_sql(f"DROP TABLE IF EXISTS {quote(table)}")


def table_exists(conn: Connection, table: str) -> bool:
    return inspect(conn).has_table(table)
