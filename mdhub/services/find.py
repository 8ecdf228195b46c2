"""Finding records: a filter, a projection, a sort and a page, run as one SQL query.

Pages of a keyed dataset are cut by a keyset cursor (the last row's sort values and key): the
next page starts right after the previous one whatever was committed in between, so paging
never returns a row twice while its sort values stay the same. A dataset without keys pages
by position. Rows always come in a total order: the requested sort, then the key.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any

from mdhub.core import values
from mdhub.core.schema import Field, Schema
from mdhub.db import filters
from mdhub.db import records as db_records
from mdhub.db.dialect import text_quote
from mdhub.db.engine import Databases
from mdhub.errors import InvalidQuery
from mdhub.services.datasets import get_dataset
from mdhub.services.records import json_value

DEFAULT_LIMIT = 100
MAX_LIMIT = 10_000


@dataclass(frozen=True)
class FindRequest:
    """What to find: `filter` and `projection` and `sort` as in MongoDB's `find`."""

    filter: dict[str, Any]
    projection: dict[str, Any] | None = None
    sort: dict[str, int] | None = None
    limit: int = DEFAULT_LIMIT
    skip: int = 0
    cursor: str | None = None


@dataclass(frozen=True)
class _Order:
    field: Field
    ascending: bool
    never_null: bool = False


def find(dbs: Databases, workspace: str, name: str, request: FindRequest) -> dict[str, Any]:
    """One page of the records of dataset `name` that match, and the cursor of the next."""
    dataset = get_dataset(dbs, workspace, name)
    if dataset.schema is None:
        return {"results": [], "next": None}
    schema, kind = dataset.schema, dbs.kind
    where, params = filters.compile_filter(request.filter, schema, kind)
    shown = _projection(schema, request.projection)
    order = _order(schema, request.sort, dataset.keys)
    signature = [[o.field.name, 1 if o.ascending else -1] for o in order]
    offset = request.skip
    if request.cursor is not None:
        state = _decode(request.cursor, signature)
        if "offset" in state:
            offset += state["offset"]
        else:
            after, bound = _after(order, state["after"], kind)
            where, params = f"{where} AND {after}", {**params, **bound}
    needed = [f.name for f in shown] + [o.field.name for o in order]
    columns = list(dict.fromkeys(needed))
    with dbs.data.connect() as conn:
        rows = db_records.find_rows(
            conn,
            dataset.table_name,
            columns,
            where=where,
            order_by=", ".join(_order_sql(o, kind) for o in order),
            limit=request.limit + 1,
            offset=offset,
            params=params,
        )
    page = rows[: request.limit]
    cursor = None
    if len(rows) > request.limit:
        if dataset.keys:
            last = [json_value(o.field, page[-1][o.field.name]) for o in order]
            cursor = _encode({"sort": signature, "after": last})
        else:
            cursor = _encode({"sort": signature, "offset": offset - request.skip + len(page)})
    return {
        "results": [{f.name: json_value(f, row[f.name]) for f in shown} for row in page],
        "next": cursor,
    }


def _projection(schema: Schema, projection: dict[str, Any] | None) -> list[Field]:
    """The fields to show: all, the ones marked 1, or all but the ones marked 0."""
    if not projection:
        return list(schema.fields)
    for name, mark in projection.items():
        if not schema.has_field(name):
            raise InvalidQuery(
                f"projection.{name}: unknown field '{name}'",
                {"at": f"projection.{name}", "field": name, "fields": schema.field_names},
            )
        if mark not in (0, 1) or (isinstance(mark, float) and not mark.is_integer()):
            raise InvalidQuery(
                f"projection.{name} must be 1 (show) or 0 (hide)", {"at": f"projection.{name}"}
            )
    marks = {bool(mark) for mark in projection.values()}
    if len(marks) > 1:
        raise InvalidQuery(
            "projection mixes fields to show (1) and fields to hide (0)", {"at": "projection"}
        )
    show = marks.pop()
    return [f for f in schema.fields if (f.name in projection) == show]


def _order(schema: Schema, sort: dict[str, int] | None, keys: tuple[str, ...]) -> list[_Order]:
    order = []
    for name, direction in (sort or {}).items():
        at = f"sort.{name}"
        if not schema.has_field(name):
            raise InvalidQuery(
                f"{at}: unknown field '{name}'",
                {"at": at, "field": name, "fields": schema.field_names},
            )
        sorted_field = schema.field(name)
        if sorted_field.type in values.JSON_TYPES:
            raise InvalidQuery(f"{at}: {sorted_field.type} fields cannot be sorted", {"at": at})
        if direction not in (1, -1):
            raise InvalidQuery(f"{at} must be 1 (ascending) or -1 (descending)", {"at": at})
        never_null = name in keys or sorted_field.required
        order.append(_Order(sorted_field, direction == 1, never_null))
    sorted_names = {o.field.name for o in order}
    order += [_Order(schema.field(k), True, True) for k in keys if k not in sorted_names]
    return order


def _order_sql(order: _Order, kind: str) -> str:
    # MongoDB's order: null is the smallest value, on both databases. A column that cannot be
    # null is left in the plain order, which its index (the key's, say) serves as it is.
    collate = filters.text_order(kind) if order.field.type in values.TEXT_TYPES else ""
    direction = "ASC" if order.ascending else "DESC"
    if not order.never_null:
        direction += " NULLS FIRST" if order.ascending else " NULLS LAST"
    return f"{text_quote(order.field.name)}{collate} {direction}"


def _after(order: list[_Order], last: list[Any], kind: str) -> tuple[str, dict[str, Any]]:
    """The condition for rows after the row whose sort values were `last`."""
    params: dict[str, Any] = {}
    equal: list[str] = []
    alternatives: list[str] = []
    for position, (step, value) in enumerate(zip(order, last, strict=True)):
        column = text_quote(step.field.name)
        if value is None:
            beyond = f"{column} IS NOT NULL" if step.ascending else filters.NEVER
            same = f"{column} IS NULL"
        else:
            name = f"c{position}"
            params[name] = _stored(step.field, value, kind)
            collate = filters.text_order(kind) if step.field.type in values.TEXT_TYPES else ""
            if step.ascending:
                beyond = f"{column}{collate} > :{name}"
            elif step.never_null:
                beyond = f"{column}{collate} < :{name}"
            else:
                beyond = f"({column}{collate} < :{name} OR {column} IS NULL)"
            same = f"{column} = :{name}"
        alternatives.append("(" + " AND ".join([*equal, beyond]) + ")")
        equal.append(same)
    return "(" + " OR ".join(alternatives) + ")", params


def _stored(field: Field, value: Any, kind: str) -> Any:
    try:
        return values.to_store(values.from_json(field, value), sqlite=kind == "sqlite")
    except ValueError:
        raise _bad_cursor() from None


def _encode(state: dict[str, Any]) -> str:
    raw = json.dumps(state, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode(cursor: str, signature: list[list[Any]]) -> dict[str, Any]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        state = json.loads(raw)
    except (binascii.Error, ValueError):
        raise _bad_cursor() from None
    if not isinstance(state, dict) or state.get("sort") != signature:
        raise InvalidQuery(
            "cursor was made for another sort order: send the same sort as the first page",
            {"at": "cursor"},
        )
    after, offset = state.get("after"), state.get("offset")
    if not (isinstance(after, list) and len(after) == len(signature)) and not (
        isinstance(offset, int) and offset >= 0
    ):
        raise _bad_cursor()
    return state


def _bad_cursor() -> InvalidQuery:
    return InvalidQuery(
        "cursor is not valid: pass the `next` of the previous page unchanged", {"at": "cursor"}
    )
