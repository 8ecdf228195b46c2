"""Per-dataset tables: rows (typed columns, primary key on the keys), the change log, and
secondary indexes declared on fields."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence

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


INDEX_MARK = "__ix_"


def index_name(table: str, fields: Sequence[str]) -> str:
    """A short name that the fields decide: `<table>__ix_<digest>` (at most 63 bytes)."""
    digest = hashlib.sha256("\x00".join(fields).encode()).hexdigest()[:12]
    return f"{table[:44]}{INDEX_MARK}{digest}"


def create_index(conn: Connection, table: str, fields: Sequence[str]) -> str:
    """An index in the order `find` sorts (nulls first, SQLite's own order), which a scan
    either way serves."""
    name = index_name(table, fields)
    nulls = " NULLS FIRST" if conn.dialect.name == "postgresql" else ""
    columns = ", ".join(f"{quote(f)} ASC{nulls}" for f in fields)
    conn.exec_driver_sql(f"CREATE INDEX {quote(name)} ON {quote(table)} ({columns})")
    return name


def drop_index(conn: Connection, name: str) -> None:
    conn.exec_driver_sql(f"DROP INDEX {quote(name)}")


def list_indexes(conn: Connection, table: str) -> list[tuple[str, list[str]]]:
    """The declared secondary indexes of a dataset table: (name, fields), by name."""
    found = inspect(conn).get_indexes(table)
    return sorted(
        (index["name"], [c for c in index["column_names"] if c is not None])
        for index in found
        if index["name"] and INDEX_MARK in index["name"]
    )
