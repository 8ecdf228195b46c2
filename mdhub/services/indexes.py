"""Secondary indexes on a dataset's fields, for filters and sorts on fields other than the key.

An index's name is decided by its fields, so declaring the same index twice is a conflict and
nothing else needs to remember it: the database's own catalog is the list.
"""

from __future__ import annotations

from typing import Any

from mdhub.core import values
from mdhub.db import dataset_tables
from mdhub.db.engine import Databases
from mdhub.errors import Conflict, InvalidRequest, NotFound
from mdhub.services.datasets import Dataset, get_dataset

MAX_FIELDS = 8


def list_indexes(dbs: Databases, workspace: str, name: str) -> list[dict[str, Any]]:
    dataset = get_dataset(dbs, workspace, name)
    if dataset.schema is None:
        return []
    with dbs.data.connect() as conn:
        found = dataset_tables.list_indexes(conn, dataset.table_name)
    return [{"name": index, "fields": fields} for index, fields in found]


def create_index(dbs: Databases, workspace: str, name: str, fields: list[str]) -> dict[str, Any]:
    """Index the fields, in this order; Conflict when the same index exists. Jobs on the dataset
    wait while the index is built; reads go on."""
    dataset = get_dataset(dbs, workspace, name)
    _check_fields(dataset, fields)
    wanted = dataset_tables.index_name(dataset.table_name, fields)
    if any(index["name"] == wanted for index in list_indexes(dbs, workspace, name)):
        raise Conflict(
            f"dataset '{name}' already has an index on {', '.join(fields)}",
            {"index": wanted, "fields": fields},
        )
    with dbs.data.begin() as conn:
        created = dataset_tables.create_index(conn, dataset.table_name, fields)
    return {"name": created, "fields": fields}


def drop_index(dbs: Databases, workspace: str, name: str, index: str) -> None:
    if not any(found["name"] == index for found in list_indexes(dbs, workspace, name)):
        raise NotFound(f"dataset '{name}' has no index '{index}'", {"index": index})
    with dbs.data.begin() as conn:
        dataset_tables.drop_index(conn, index)


def _check_fields(dataset: Dataset, fields: list[str]) -> None:
    if dataset.schema is None:
        raise InvalidRequest(
            f"dataset '{dataset.name}' has no schema yet: push data or declare a schema first"
        )
    if not fields or len(fields) > MAX_FIELDS or len(set(fields)) < len(fields):
        raise InvalidRequest(
            f"an index takes 1 to {MAX_FIELDS} different fields", {"fields": fields}
        )
    for field in fields:
        if not dataset.schema.has_field(field):
            raise InvalidRequest(
                f"unknown field '{field}'",
                {"field": field, "fields": dataset.schema.field_names},
            )
        kind = dataset.schema.field(field).type
        if kind in values.JSON_TYPES:
            raise InvalidRequest(
                f"field '{field}' is {kind}: only fields of scalar types can be indexed",
                {"field": field},
            )
    if tuple(fields) == tuple(dataset.keys):
        raise InvalidRequest("the key is indexed already", {"fields": fields})
