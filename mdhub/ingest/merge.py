"""Set-based SQL that applies a staged part to its dataset table, with exact statistics.

Every operation first computes what differs (anti-joins, `IS DISTINCT FROM` on the columns the
file provides), then writes only new and changed rows and logs exactly those keys (invariant 5).
The SQL is the same on SQLite and PostgreSQL; `Dialect` covers what is not.
"""

from __future__ import annotations

import datetime as dt
import decimal
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, text

from mdhub.db.dataset_tables import OP_COLUMN, VERSION_COLUMN
from mdhub.db.dialect import Dialect, quote, quote_list
from mdhub.errors import UnsupportedOperation
from mdhub.ingest.model import LINE_COLUMN, ErrorCollector, RowError

OPERATIONS = ("upsert", "insert", "update", "append", "overwrite", "delete")
SAMPLE_ROWS = 5


@dataclass(frozen=True)
class Target:
    """The dataset table a part goes to."""

    table: str
    changes: str | None
    keys: tuple[str, ...]
    fields: tuple[str, ...]


@dataclass(frozen=True)
class Staged:
    """A part's valid rows, bulk-loaded into a temporary table."""

    table: str
    columns: tuple[str, ...]
    part: str


@dataclass
class MergeResult:
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0
    full_load: bool = False
    sample: dict[str, list[dict[str, Any]]] = field(default_factory=dict)


def _match(keys: tuple[str, ...], left: str, right: str) -> str:
    return " AND ".join(f"{left}.{quote(k)} = {right}.{quote(k)}" for k in keys)


def _scalar(conn: Connection, sql: str, **params: Any) -> int:
    return int(conn.execute(text(sql), params).scalar() or 0)


def is_empty(conn: Connection, table: str) -> bool:
    return conn.exec_driver_sql(f"SELECT 1 FROM {quote(table)} LIMIT 1").first() is None


def reject_duplicates(
    conn: Connection,
    staged: Staged,
    columns: tuple[str, ...],
    collector: ErrorCollector,
    *,
    label: str = "key",
) -> int:
    """Report every repeated value of `columns` (the key, or a unique field) with both lines,
    then drop all rows that carry it. Returns how many rows were dropped."""
    stg, cols = quote(staged.table), quote_list(columns)
    groups = (
        f"SELECT {cols}, min({quote(LINE_COLUMN)}) AS first_line FROM {stg} "
        f"GROUP BY {cols} HAVING count(*) > 1"
    )
    involved = _scalar(
        conn,
        f"SELECT coalesce(sum(n), 0) FROM (SELECT count(*) AS n FROM {stg} "
        f"GROUP BY {cols} HAVING count(*) > 1) AS d",
    )
    if not involved:
        return 0
    rows = conn.exec_driver_sql(
        f"SELECT s.{quote(LINE_COLUMN)}, g.first_line, {quote_list(columns, 's.')} "
        f"FROM {stg} AS s JOIN ({groups}) AS g ON {_match(columns, 's', 'g')} "
        f"WHERE s.{quote(LINE_COLUMN)} > g.first_line ORDER BY s.{quote(LINE_COLUMN)} "
        f"LIMIT {max(collector.room, 0)}"
    ).all()
    repeats = involved - _scalar(conn, f"SELECT count(*) FROM ({groups}) AS g")
    for line, first_line, *values in rows:
        shown = ", ".join(str(v) for v in values)
        collector.add(
            RowError(
                staged.part,
                line,
                ", ".join(columns),
                shown,
                f"duplicate {label} ({shown}): also on line {first_line}",
            )
        )
    collector.count += repeats - len(rows)
    conn.exec_driver_sql(
        f"DELETE FROM {stg} WHERE ({cols}) IN (SELECT {cols} FROM {stg} "
        f"GROUP BY {cols} HAVING count(*) > 1)"
    )
    return involved


def reject_by_existence(
    conn: Connection, staged: Staged, target: Target, collector: ErrorCollector, *, exists: bool
) -> int:
    """`insert`: a key that already exists is a row error; `update`: a key that does not.
    The offending rows are reported and dropped; returns how many."""
    stg, tgt = quote(staged.table), quote(target.table)
    condition = f"{'' if exists else 'NOT '}EXISTS (SELECT 1 FROM {tgt} AS t WHERE " + (
        f"{_match(target.keys, 't', stg)})"
    )
    total = _scalar(conn, f"SELECT count(*) FROM {stg} WHERE {condition}")
    if not total:
        return 0
    message = "a record with this key already exists" if exists else "no record has this key"
    rows = conn.exec_driver_sql(
        f"SELECT {quote(LINE_COLUMN)}, {quote_list(target.keys)} FROM {stg} WHERE {condition} "
        f"ORDER BY {quote(LINE_COLUMN)} LIMIT {collector.room}"
    ).all()
    for line, *values in rows:
        shown = ", ".join(str(v) for v in values)
        collector.add(RowError(staged.part, line, ", ".join(target.keys), shown, message))
    collector.count += total - len(rows)
    conn.exec_driver_sql(f"DELETE FROM {stg} WHERE {condition}")
    return total


def check_operation(operation: str, keys: tuple[str, ...]) -> None:
    """Refuse an operation the dataset cannot take, before any row is read."""
    if operation not in OPERATIONS:
        raise UnsupportedOperation(
            f"unknown operation '{operation}' (one of {', '.join(OPERATIONS)})"
        )
    if operation == "append" and keys:
        raise UnsupportedOperation(
            "append adds rows to a dataset without keys; this dataset has keys "
            f"({', '.join(keys)}): use insert or upsert"
        )
    if not keys and operation in ("upsert", "update", "delete"):
        raise UnsupportedOperation(
            f"{operation} needs a dataset with keys; this one has none "
            "(use append or overwrite, or declare keys)"
        )


def delete_all(conn: Connection, target: Target) -> int:
    """Empty a dataset without keys (its overwrite); returns how many rows went."""
    return int(conn.exec_driver_sql(f"DELETE FROM {quote(target.table)}").rowcount)


def merge(
    conn: Connection,
    dialect: Dialect,
    operation: str,
    staged: Staged,
    target: Target,
    *,
    version: int,
    staged_rows: int,
    want_sample: bool,
) -> MergeResult:
    """Apply one staged part; nothing is committed here.

    (First loads and rows for datasets without keys usually skip staging: they are loaded
    straight into the dataset table, and come here only when that found a repeated value.)
    """
    if not target.keys:
        return _insert_all(conn, staged, target, staged_rows, want_sample)
    if operation == "delete":
        return _delete_listed(conn, staged, target, version, staged_rows, want_sample)
    if operation == "insert":
        result = _insert_all(conn, staged, target, staged_rows, want_sample)
        _log_changes(
            conn,
            target,
            version,
            f"SELECT 'insert', {quote_list(target.keys)} FROM {quote(staged.table)}",
        )
        return result
    result = _upsert(
        conn,
        dialect,
        staged,
        target,
        version,
        staged_rows,
        want_sample,
        inserts=operation != "update",
    )
    if operation == "overwrite":
        result.deleted = _delete_unlisted(conn, staged, target, version, result, want_sample)
    return result


def _insert_all(
    conn: Connection,
    staged: Staged,
    target: Target,
    staged_rows: int,
    want_sample: bool,
) -> MergeResult:
    cols = quote_list(staged.columns)
    conn.exec_driver_sql(
        f"INSERT INTO {quote(target.table)} ({cols}) SELECT {cols} FROM {quote(staged.table)}"
    )
    result = MergeResult(inserted=staged_rows)
    if want_sample:
        result.sample["inserted"] = [
            {"after": row}
            for row in _rows(conn, f"SELECT {cols} FROM {quote(staged.table)} LIMIT {SAMPLE_ROWS}")
        ]
    return result


def _upsert(
    conn: Connection,
    dialect: Dialect,
    staged: Staged,
    target: Target,
    version: int,
    staged_rows: int,
    want_sample: bool,
    *,
    inserts: bool,
) -> MergeResult:
    stg, tgt = quote(staged.table), quote(target.table)
    values = [c for c in staged.columns if c not in target.keys]
    diff = f"{staged.table}_diff"
    first_key = quote(target.keys[0])
    differs = (
        f"({quote_list(values, 't.')}) IS DISTINCT FROM ({quote_list(values, 's.')})"
        if values
        else "FALSE"
    )
    join = "LEFT JOIN" if inserts else "JOIN"
    conn.exec_driver_sql(
        dialect.create_temp_as_sql(
            diff,
            (
                f"SELECT {quote_list(staged.columns, 's.')}, CASE WHEN t.{first_key} IS NULL "
                f"THEN 'insert' ELSE 'update' END AS {quote(OP_COLUMN)} "
                f"FROM {stg} AS s {join} {tgt} AS t ON {_match(target.keys, 't', 's')} "
                f"WHERE t.{first_key} IS NULL OR {differs}"
            ),
        )
    )
    counts: dict[str, int] = dict(
        conn.exec_driver_sql(
            f"SELECT {quote(OP_COLUMN)}, count(*) FROM {quote(diff)} GROUP BY {quote(OP_COLUMN)}"
        ).all()
    )
    result = MergeResult(inserted=counts.get("insert", 0), updated=counts.get("update", 0))
    result.unchanged = staged_rows - result.inserted - result.updated
    if want_sample:
        _sample_diff(conn, diff, staged, target, result)
    cols = quote_list(staged.columns)
    if result.inserted:
        conn.exec_driver_sql(
            f"INSERT INTO {tgt} ({cols}) SELECT {cols} FROM {quote(diff)} "
            f"WHERE {quote(OP_COLUMN)} = 'insert'"
        )
    if result.updated and values:
        assignments = ", ".join(f"{quote(c)} = d.{quote(c)}" for c in values)
        conn.exec_driver_sql(
            f"UPDATE {tgt} SET {assignments} FROM {quote(diff)} AS d "
            f"WHERE d.{quote(OP_COLUMN)} = 'update' AND {_match(target.keys, tgt, 'd')}"
        )
    if result.inserted or result.updated:
        _log_changes(
            conn,
            target,
            version,
            f"SELECT {quote(OP_COLUMN)}, {quote_list(target.keys)} FROM {quote(diff)}",
        )
    return result


def _delete_listed(
    conn: Connection,
    staged: Staged,
    target: Target,
    version: int,
    staged_rows: int,
    want_sample: bool,
) -> MergeResult:
    result = MergeResult()
    listed = _keys_in_staging(quote(staged.table), target)
    result.deleted = _delete_where(conn, target, version, listed, result, want_sample)
    result.unchanged = staged_rows - result.deleted
    return result


def _delete_unlisted(
    conn: Connection,
    staged: Staged,
    target: Target,
    version: int,
    result: MergeResult,
    want_sample: bool,
) -> int:
    unlisted = "NOT " + _keys_in_staging(quote(staged.table), target)
    return _delete_where(conn, target, version, unlisted, result, want_sample)


def _delete_where(
    conn: Connection,
    target: Target,
    version: int,
    condition: str,
    result: MergeResult,
    want_sample: bool,
) -> int:
    """Log, sample (dry run) and delete the target rows matching `condition`."""
    tgt = quote(target.table)
    if want_sample:
        result.sample["deleted"] = [
            {"before": row}
            for row in _rows(
                conn,
                f"SELECT {quote_list(target.fields)} FROM {tgt} WHERE {condition} "
                f"LIMIT {SAMPLE_ROWS}",
            )
        ]
    _log_changes(
        conn,
        target,
        version,
        f"SELECT 'delete', {quote_list(target.keys, tgt + '.')} FROM {tgt} WHERE {condition}",
    )
    return int(conn.exec_driver_sql(f"DELETE FROM {tgt} WHERE {condition}").rowcount)


def _keys_in_staging(stg: str, target: Target) -> str:
    """`(keys) IN (SELECT keys FROM staging)`: both databases build the staging side once (a
    hash or a temporary index); a correlated EXISTS over the unindexed staging table would be
    planned by SQLite as a scan of staging per row. Keys are never NULL, so NOT IN is exact."""
    keys = quote_list(target.keys)
    left = quote_list(target.keys, quote(target.table) + ".")
    # A single key stays a plain column: SQLite then drives the delete by the key's index.
    left = left if len(target.keys) == 1 else f"({left})"
    return f"{left} IN (SELECT {keys} FROM {stg})"


def _log_changes(conn: Connection, target: Target, version: int, select_op_and_keys: str) -> None:
    assert target.changes is not None
    conn.execute(
        text(
            f"INSERT INTO {quote(target.changes)} ({quote(VERSION_COLUMN)}, {quote(OP_COLUMN)}, "
            f"{quote_list(target.keys)}) SELECT :version, c.* FROM ({select_op_and_keys}) AS c"
        ),
        {"version": version},
    )


def _sample_diff(
    conn: Connection, diff: str, staged: Staged, target: Target, result: MergeResult
) -> None:
    cols = quote_list(staged.columns, "d.")
    result.sample["inserted"] = [
        {"after": row}
        for row in _rows(
            conn,
            f"SELECT {cols} FROM {quote(diff)} AS d WHERE d.{quote(OP_COLUMN)} = 'insert' "
            f"LIMIT {SAMPLE_ROWS}",
        )
    ]
    before_cols = quote_list(staged.columns, "t.")
    pairs = conn.exec_driver_sql(
        f"SELECT {before_cols}, {cols} FROM {quote(diff)} AS d JOIN {quote(target.table)} AS t "
        f"ON {_match(target.keys, 't', 'd')} WHERE d.{quote(OP_COLUMN)} = 'update' "
        f"LIMIT {SAMPLE_ROWS}"
    ).all()
    n = len(staged.columns)
    result.sample["updated"] = [
        {
            "before": dict(zip(staged.columns, map(jsonable, row[:n]), strict=True)),
            "after": dict(zip(staged.columns, map(jsonable, row[n:]), strict=True)),
        }
        for row in pairs
    ]


def _rows(conn: Connection, sql: str) -> list[dict[str, Any]]:
    result = conn.exec_driver_sql(sql)
    names = list(result.keys())
    return [dict(zip(names, map(jsonable, row), strict=True)) for row in result.all()]


def jsonable(value: Any) -> Any:
    """A database value as JSON can carry it."""
    if isinstance(value, dt.date | dt.time | dt.datetime):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return float(value)
    return value
