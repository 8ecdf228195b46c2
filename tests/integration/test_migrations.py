"""Migrations build exactly the tables the code declares, on both databases."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from mdhub.db import migrate
from mdhub.db.engine import open_databases
from mdhub.db.tables import data_metadata, meta_metadata
from mdhub.errors import DatabaseNotMigrated


def _table_of(difference: Any) -> str | None:
    if isinstance(difference, list):  # column-level changes come grouped
        return _table_of(difference[0])
    item = difference[1]
    if hasattr(item, "table"):
        return str(item.table.name)
    if hasattr(item, "name") and difference[0].endswith("_table"):
        return str(item.name)
    return str(difference[2]) if len(difference) > 2 else None


def test_migrated_database_matches_the_declared_tables(database_url: str) -> None:
    dbs = open_databases(database_url)
    try:
        assert migrate.pending(dbs) == {}
        for engine, metadata in ((dbs.meta, meta_metadata), (dbs.data, data_metadata)):
            with engine.connect() as conn:
                diff = compare_metadata(MigrationContext.configure(conn), metadata)
            # Tables the metadata does not declare (Alembic's version tables, per-dataset tables,
            # and on PostgreSQL the other store's tables) are not this comparison's business.
            unexplained = [d for d in diff if _table_of(d) in metadata.tables]
            assert unexplained == []
    finally:
        dbs.dispose()


def test_an_outdated_database_is_refused_with_the_command_to_run(tmp_path: Path) -> None:
    dbs = open_databases(f"sqlite:///{tmp_path / 'm.db'}")
    try:
        migrate.upgrade(dbs)
        with dbs.meta.begin() as conn:
            conn.exec_driver_sql("UPDATE mdhub_meta_version SET version_num = 'older'")
        try:
            migrate.ensure_ready(dbs)
        except DatabaseNotMigrated as exc:
            assert "mdhub migrate" in exc.message
        else:
            raise AssertionError("an outdated database was accepted")
    finally:
        dbs.dispose()
