"""Datasets: create, read, list, delete (the metadata row and the dataset's tables)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, bindparam, delete, insert, select, update
from sqlalchemy.dialects.postgresql import psycopg as postgresql_psycopg

from mdhub.core import times
from mdhub.core.names import check_name
from mdhub.core.schema import SCHEMA_POLICIES, Schema
from mdhub.db import dataset_tables
from mdhub.db.async_reads import AsyncReads
from mdhub.db.dialect import dialect_for
from mdhub.db.engine import Databases
from mdhub.db.paging import page_after
from mdhub.db.tables import datasets, versions, workspaces
from mdhub.errors import Conflict, InvalidRequest, NotFound
from mdhub.ingest.job import DatasetRef


@dataclass(frozen=True)
class Dataset:
    """A dataset as stored in the metadata store."""

    id: int
    workspace_id: int
    name: str
    table_name: str
    schema: Schema | None
    keys: tuple[str, ...]
    schema_policy: str
    version: int
    row_count: int
    last_job_id: int | None
    created_at: datetime
    updated_at: datetime

    def ref(self) -> DatasetRef:
        return DatasetRef(
            id=self.id,
            name=self.name,
            table=self.table_name,
            schema=self.schema,
            keys=self.keys,
            schema_policy=self.schema_policy,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "schema": self.schema.to_descriptor() if self.schema else None,
            "keys": list(self.keys),
            "schema_policy": self.schema_policy,
            "row_count": self.row_count,
            "version": self.version,
            "table": self.table_name,
            "last_job": self.last_job_id,
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
        }


# The schemas last read, by dataset id: reading one again with the same descriptor and keys
# reuses it (comparing the descriptors costs a fraction of parsing one). A Schema is immutable.
_parsed_schemas: dict[int, tuple[Any, tuple[str, ...], Schema]] = {}
PARSED_SCHEMAS_KEPT = 1024


def _schema(dataset_id: int, descriptor: Any, keys: tuple[str, ...]) -> Schema | None:
    if not descriptor:
        return None
    known = _parsed_schemas.get(dataset_id)
    if known is not None and known[1] == keys and known[0] == descriptor:
        return known[2]
    schema = Schema.from_descriptor(descriptor, keys=list(keys))
    if len(_parsed_schemas) >= PARSED_SCHEMAS_KEPT:
        _parsed_schemas.clear()
    _parsed_schemas[dataset_id] = (descriptor, keys, schema)
    return schema


def _from_row(row: Any) -> Dataset:
    keys = tuple(row.keys)
    schema = _schema(row.id, row.schema, keys)
    return Dataset(
        id=row.id,
        workspace_id=row.workspace_id,
        name=row.name,
        table_name=row.table_name,
        schema=schema,
        keys=keys,
        schema_policy=row.schema_policy,
        version=row.version,
        row_count=row.row_count,
        last_job_id=row.last_job_id,
        created_at=times.utc(row.created_at),
        updated_at=times.utc(row.updated_at),
    )


def workspace_id(conn: Connection, name: str) -> int:
    found = conn.execute(select(workspaces.c.id).where(workspaces.c.name == name)).scalar()
    if found is None:
        raise NotFound(f"workspace '{name}' not found")
    return int(found)


def create_dataset(
    dbs: Databases,
    workspace: str,
    name: str,
    *,
    schema: dict[str, Any] | None = None,
    keys: list[str] | None = None,
    schema_policy: str = "reject",
) -> Dataset:
    """Create a dataset; with a schema its tables are created at once, without one the first
    file's columns decide (inferred, and stated in that job's result)."""
    check_name("dataset name", name)
    if schema_policy not in SCHEMA_POLICIES:
        raise InvalidRequest(
            f"unknown schema_policy '{schema_policy}' (one of {', '.join(SCHEMA_POLICIES)})"
        )
    parsed = Schema.from_descriptor(schema, keys=keys) if schema is not None else None
    key_fields = list(parsed.primary_key) if parsed else list(keys or [])
    now = datetime.now(UTC)
    with dbs.meta.begin() as conn:
        ws = workspace_id(conn, workspace)
        exists = conn.execute(
            select(datasets.c.id).where(datasets.c.workspace_id == ws, datasets.c.name == name)
        ).first()
        if exists:
            raise Conflict(f"dataset '{name}' already exists")
        new_id = conn.execute(
            insert(datasets)
            .values(
                workspace_id=ws,
                name=name,
                table_name=f"_pending_{name}_{now.timestamp()}",
                schema=parsed.to_descriptor() if parsed else None,
                keys=key_fields,
                schema_policy=schema_policy,
                version=0,
                row_count=0,
                created_at=now,
                updated_at=now,
            )
            .returning(datasets.c.id)
        ).scalar_one()
        table = dataset_tables.table_name_for(new_id, name)
        conn.execute(update(datasets).where(datasets.c.id == new_id).values(table_name=table))
    if parsed is not None:
        # Not inside the metadata transaction: on SQLite the dataset file may be busy with a
        # long merge, and waiting for it must not hold up the metadata store.
        try:
            with dbs.data.begin() as data:
                dataset_tables.create_tables(data, dialect_for(dbs.kind), table, parsed)
        except Exception:
            with dbs.meta.begin() as conn:
                conn.execute(delete(datasets).where(datasets.c.id == new_id))
            raise
    return get_dataset(dbs, workspace, name)


# Built once: the statement of every request that names a dataset.
_DATASET_BY_NAME = (
    select(datasets)
    .join(workspaces, workspaces.c.id == datasets.c.workspace_id)
    .where(workspaces.c.name == bindparam("workspace"), datasets.c.name == bindparam("name"))
)


# The same, as psycopg's own SQL, for reads awaited on the event loop.
_DATASET_BY_NAME_PG = str(_DATASET_BY_NAME.compile(dialect=postgresql_psycopg.dialect()))


def get_dataset(dbs: Databases, workspace: str, name: str) -> Dataset:
    with dbs.read_meta() as conn:
        row = conn.execute(_DATASET_BY_NAME, {"workspace": workspace, "name": name}).first()
    return _found(row, name)


async def read_dataset(reads: AsyncReads, workspace: str, name: str) -> Dataset:
    """`get_dataset`, awaited (PostgreSQL)."""
    row = await reads.fetch_named(_DATASET_BY_NAME_PG, {"workspace": workspace, "name": name})
    return _found(row, name)


def _found(row: Any, name: str) -> Dataset:
    if row is None:
        raise NotFound(f"dataset '{name}' not found")
    return _from_row(row)


def list_datasets(
    dbs: Databases, workspace: str, *, after: str | None = None, limit: int | None = None
) -> list[Dataset]:
    """Datasets by name; `after` and `limit` page through them."""
    with dbs.meta.connect() as conn:
        ws = workspace_id(conn, workspace)
        query = select(datasets).where(datasets.c.workspace_id == ws)
        rows = conn.execute(page_after(query, datasets.c.name, after, limit)).all()
    return [_from_row(r) for r in rows]


def update_dataset(
    dbs: Databases, workspace: str, name: str, *, schema_policy: str | None = None
) -> Dataset:
    """Change what can change after creation (today: the schema policy)."""
    found = get_dataset(dbs, workspace, name)
    if schema_policy is not None:
        if schema_policy not in SCHEMA_POLICIES:
            raise InvalidRequest(
                f"unknown schema_policy '{schema_policy}' (one of {', '.join(SCHEMA_POLICIES)})"
            )
        with dbs.meta.begin() as conn:
            conn.execute(
                update(datasets)
                .where(datasets.c.id == found.id)
                .values(schema_policy=schema_policy, updated_at=datetime.now(UTC))
            )
    return get_dataset(dbs, workspace, name)


def delete_dataset(dbs: Databases, workspace: str, name: str) -> None:
    """Drop the dataset's tables and history, then its metadata."""
    found = get_dataset(dbs, workspace, name)
    with dbs.data.begin() as data:
        # As a job does: on SQLite, wait for the write lock rather than fail with "locked".
        dialect_for(dbs.kind).begin_job(data)
        dataset_tables.drop_tables(data, found.table_name)
        data.execute(delete(versions).where(versions.c.dataset_id == found.id))
    with dbs.meta.begin() as conn:
        conn.execute(delete(datasets).where(datasets.c.id == found.id))
