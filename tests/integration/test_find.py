"""`find` on both databases against a reference: every operator, hypothesis-generated data and
queries, each answered by SQL and by a plain Python evaluation of MongoDB's meaning on the
same rows; sorting with nulls; paging by cursor."""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from mdhub.db.filters import compile_filter
from mdhub.services.find import FindRequest, find
from mdhub.services.hub import Hub
from mdhub.services.indexes import create_index

SCHEMA = {
    "fields": [
        {"name": "id", "type": "string"},
        {"name": "n", "type": "integer"},
        {"name": "x", "type": "number"},
        {"name": "s", "type": "string"},
        {"name": "b", "type": "boolean"},
        {"name": "d", "type": "date"},
        {"name": "t", "type": "datetime"},
        {"name": "meta", "type": "object"},
    ],
    "primaryKey": ["id"],
}
TYPES = {f["name"]: f["type"] for f in SCHEMA["fields"]}
# Values are drawn from small pools so that equal values (and ties in sorts) are common.
POOLS: dict[str, list[Any]] = {
    "n": [-3, 0, 1, 2, 7],
    "x": [-1.5, 0.0, 2.25, 3.0, 1e10],
    "s": ["a", "ab", "B", "b", "é", "a\nb", "Ab c"],
    "b": [True, False],
    "d": ["1999-12-31", "2024-01-01", "2024-02-29"],
    "t": ["2023-06-30T23:59:59Z", "2024-01-01T00:00:00Z", "2024-01-01T12:30:00.5Z"],
}
PATH_POOLS: dict[str, list[Any]] = {
    "meta.k": [0, 1, 2.5, -4, "a", "b", "", True, False, None],
    "meta.w": ["a", "ab", "b", "a\nb"],
    "meta.in.z": [1, 2, "z"],
}
PATTERNS = ["^a", "b$", "a.b", "^$", "A", "é", "[ab]+", "^b", "c"]
MISSING = object()


# -- reference ------------------------------------------------------------------------------


def typed(field: str, value: Any) -> Any:
    """A pool value (JSON) as the Python value it stands for."""
    if value is None:
        return None
    if TYPES.get(field) == "date":
        return date.fromisoformat(value)
    if TYPES.get(field) == "datetime":
        return datetime.fromisoformat(value)
    return value


def lookup(row: dict[str, Any], name: str) -> Any:
    if "." not in name:
        return typed(name, row.get(name))
    head, *path = name.split(".")
    value: Any = row.get(head)
    for key in path:
        if not isinstance(value, dict) or key not in value:
            return MISSING
        value = value[key]
    return value


def same_kind(a: Any, b: Any) -> bool:
    def kind(v: Any) -> str:
        if isinstance(v, bool):
            return "bool"
        if isinstance(v, int | float):
            return "number"
        return type(v).__name__

    return kind(a) == kind(b)


def compare(value: Any, op: str, wanted: Any) -> bool:
    if wanted is None:
        nothing = value is None or value is MISSING
        return nothing if op in ("$eq", "$gte", "$lte") else False
    if value is None or value is MISSING or not same_kind(value, wanted):
        return False
    return {
        "$eq": value == wanted,
        "$gt": value > wanted,
        "$gte": value >= wanted,
        "$lt": value < wanted,
        "$lte": value <= wanted,
    }[op]


def matches(row: dict[str, Any], query: dict[str, Any]) -> bool:
    for name, condition in query.items():
        if name == "$and":
            ok = all(matches(row, q) for q in condition)
        elif name == "$or":
            ok = any(matches(row, q) for q in condition)
        elif isinstance(condition, dict):
            ok = satisfies(lookup(row, name), name, condition)
        else:
            ok = compare(lookup(row, name), "$eq", typed(name, condition))
        if not ok:
            return False
    return True


def satisfies(value: Any, name: str, operators: dict[str, Any]) -> bool:
    for op, operand in operators.items():
        if op == "$options":
            continue
        if op == "$not":
            ok = not satisfies(value, name, operand)
        elif op == "$exists":
            # A JSON null inside an object is present; an empty column is not.
            present = value is not MISSING and (value is not None or "." in name)
            ok = present == operand
        elif op == "$ne":
            ok = not compare(value, "$eq", typed(name, operand))
        elif op == "$in":
            ok = any(compare(value, "$eq", typed(name, v)) for v in operand)
        elif op == "$nin":
            ok = not any(compare(value, "$eq", typed(name, v)) for v in operand)
        elif op == "$regex":
            flags = operators.get("$options", "")
            pattern = f"(?{flags}){operand}" if flags else operand
            ok = isinstance(value, str) and re.search(pattern, value) is not None
        else:
            ok = compare(value, op, typed(name, operand))
        if not ok:
            return False
    return True


def reference_order(rows: list[dict[str, Any]], field: str, direction: int) -> list[str]:
    """MongoDB's order: null smallest; ties by key."""
    present = sorted((r for r in rows if r.get(field) is not None), key=lambda r: r["id"])
    present.sort(key=lambda r: typed(field, r[field]), reverse=direction < 0)
    absent = sorted((r for r in rows if r.get(field) is None), key=lambda r: r["id"])
    ordered = absent + present if direction > 0 else present + absent
    return [r["id"] for r in ordered]


# -- strategies -----------------------------------------------------------------------------


def meta_values() -> st.SearchStrategy[Any]:
    inner = st.fixed_dictionaries({}, optional={"z": st.sampled_from(PATH_POOLS["meta.in.z"])})
    return st.none() | st.fixed_dictionaries(
        {},
        optional={
            "k": st.sampled_from(PATH_POOLS["meta.k"]),
            "w": st.sampled_from(PATH_POOLS["meta.w"]),
            "in": inner,
        },
    )


def row_values() -> st.SearchStrategy[dict[str, Any]]:
    columns = {name: st.none() | st.sampled_from(pool) for name, pool in POOLS.items()}
    return st.fixed_dictionaries({**columns, "meta": meta_values()})


def datasets() -> st.SearchStrategy[list[dict[str, Any]]]:
    return st.lists(row_values(), min_size=1, max_size=30).map(
        lambda rows: [{"id": f"r{i:02d}", **row} for i, row in enumerate(rows)]
    )


def field_conditions() -> st.SearchStrategy[dict[str, Any]]:
    def for_field(name: str) -> st.SearchStrategy[dict[str, Any]]:
        pool = POOLS.get(name) or PATH_POOLS[name]
        value = st.none() | st.sampled_from(pool)
        ordered = st.sampled_from([v for v in pool if not isinstance(v, bool)] or pool)
        texts = TYPES.get(name) == "string" or name in ("meta.w", "meta.k")
        operator = st.one_of(
            value.map(lambda v: {"$eq": v}),
            value.map(lambda v: {"$ne": v}),
            st.tuples(st.sampled_from(["$gt", "$gte", "$lt", "$lte"]), ordered).map(
                lambda p: {p[0]: p[1]}
            ),
            st.lists(value, max_size=3).map(lambda v: {"$in": v}),
            st.lists(value, max_size=3).map(lambda v: {"$nin": v}),
            st.booleans().map(lambda v: {"$exists": v}),
            *(
                [
                    st.tuples(st.sampled_from(PATTERNS), st.sampled_from(["", "i", "m", "s"])).map(
                        lambda p: {"$regex": p[0], "$options": p[1]} if p[1] else {"$regex": p[0]}
                    )
                ]
                if texts
                else []
            ),
        )
        condition = st.one_of(
            value,  # a bare value: $eq
            operator,
            operator.map(lambda o: {"$not": o}),
        )
        return condition.map(lambda c: {name: c})

    names = [*POOLS, *PATH_POOLS]
    return st.sampled_from(names).flatmap(for_field)


queries = st.recursive(
    field_conditions(),
    lambda inner: st.one_of(
        st.lists(inner, min_size=1, max_size=3).map(lambda qs: {"$and": qs}),
        st.lists(inner, min_size=1, max_size=3).map(lambda qs: {"$or": qs}),
        st.tuples(inner, inner).map(lambda pair: {**pair[0], **pair[1]}),
    ),
    max_leaves=5,
)


# -- tests ----------------------------------------------------------------------------------


def load(hub: Hub, tmp_path: Path, rows: list[dict[str, Any]]) -> None:
    path = tmp_path / "rows.ndjson"
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    job = hub.apply("items", path, operation="overwrite")
    assert job["status"] == "succeeded", job


def found_ids(hub: Hub, query: dict[str, Any], **options: Any) -> list[str]:
    request = FindRequest(filter=query, projection={"id": 1}, limit=10_000, **options)
    page = find(hub.dbs, hub.workspace, "items", request)
    assert page["next"] is None
    return [r["id"] for r in page["results"]]


@pytest.fixture
def items(hub: Hub) -> Hub:
    hub.create_dataset("items", schema=SCHEMA)
    return hub


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(rows=datasets(), batch=st.lists(queries, min_size=15, max_size=15))
def test_every_operator_agrees_with_the_reference(
    items: Hub, tmp_path: Path, rows: list[dict[str, Any]], batch: list[dict[str, Any]]
) -> None:
    load(items, tmp_path, rows)
    for query in batch:
        expected = sorted(r["id"] for r in rows if matches(r, query))
        assert found_ids(items, query) == expected, query


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(rows=datasets(), field=st.sampled_from(list(POOLS)), direction=st.sampled_from([1, -1]))
def test_sort_puts_null_first_and_breaks_ties_by_key(
    items: Hub, tmp_path: Path, rows: list[dict[str, Any]], field: str, direction: int
) -> None:
    load(items, tmp_path, rows)
    assert found_ids(items, {}, sort={field: direction}) == reference_order(rows, field, direction)
    # The same order, page by page through the cursor (pages of 4).
    seen: list[str] = []
    cursor = None
    while True:
        request = FindRequest(filter={}, sort={field: direction}, limit=4, cursor=cursor)
        page = find(items.dbs, items.workspace, "items", request)
        seen += [r["id"] for r in page["results"]]
        cursor = page["next"]
        if cursor is None:
            break
    assert seen == reference_order(rows, field, direction)


def test_values_come_back_typed(items: Hub, tmp_path: Path) -> None:
    row = {
        "id": "a",
        "n": 7,
        "x": 2.25,
        "s": "é",
        "b": True,
        "d": "2024-02-29",
        "t": "2024-01-01T12:30:00.5Z",
        "meta": {"k": [1, {"z": None}]},
    }
    load(items, tmp_path, [row])
    page = find(items.dbs, items.workspace, "items", FindRequest(filter={"n": 7}))
    got = page["results"][0]
    assert {k: v for k, v in got.items() if k != "t"} == {k: v for k, v in row.items() if k != "t"}
    assert datetime.fromisoformat(got["t"]) == datetime(2024, 1, 1, 12, 30, 0, 500000, UTC)


def test_a_filter_on_an_indexed_field_can_use_the_index(items: Hub, tmp_path: Path) -> None:
    load(items, tmp_path, [{"id": f"r{i}", "s": "ab"[i % 2], "n": i} for i in range(50)])
    create_index(items.dbs, items.workspace, "items", ["s", "n"])
    table = items.dataset("items").table_name
    schema = items.dataset("items").schema
    assert schema is not None
    where, params = compile_filter({"s": "a", "n": {"$gte": 10}}, schema, items.dbs.kind)
    sql = f'SELECT "id" FROM "{table}" WHERE {where}'
    with items.dbs.data.connect() as conn:
        if items.dbs.kind == "sqlite":
            plan = conn.execute(text(f"EXPLAIN QUERY PLAN {sql}"), params).all()
        else:
            conn.exec_driver_sql("SET enable_seqscan = off")
            plan = conn.execute(text(f"EXPLAIN {sql}"), params).all()
    assert "__ix_" in " ".join(str(line) for line in plan), plan
