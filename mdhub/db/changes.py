"""A keyed dataset's change history: the latest change of each key since a version, read from
one snapshot, and pruning of the change log past the retention period."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Connection, and_, column, delete, func, select, table, update

from mdhub.db.dataset_tables import VERSION_COLUMN, changes_table
from mdhub.db.tables import versions


@dataclass(frozen=True)
class History:
    """What a snapshot holds about a dataset's versions."""

    version: int  # the newest version (0: none yet)
    oldest_since: int  # the oldest `since` whose later changes are all in the change log
    full_load: bool  # `oldest_since` is a full load (else its history was pruned)
    schema: dict[str, Any] | None  # the newest schema a version recorded


def history(conn: Connection, dataset_id: int) -> History:
    mine = versions.c.dataset_id == dataset_id
    newest = conn.execute(select(func.max(versions.c.version)).where(mine)).scalar()
    oldest = conn.execute(
        select(versions.c.version, versions.c.full_load)
        .where(mine, versions.c.full_load | versions.c.changes_pruned)
        .order_by(versions.c.version.desc())
        .limit(1)
    ).first()
    schema = conn.execute(
        select(versions.c.schema)
        .where(mine, versions.c.schema.is_not(None))
        .order_by(versions.c.version.desc())
        .limit(1)
    ).scalar()
    return History(
        version=int(newest or 0),
        oldest_since=int(oldest[0]) if oldest else 0,
        full_load=bool(oldest[1]) if oldest else False,
        schema=schema,
    )


def latest_changes(
    conn: Connection,
    table_name: str,
    keys: Sequence[str],
    fields: Sequence[str],
    since: int,
    batch_rows: int,
) -> Iterator[Sequence[Any]]:
    """For each key changed after `since`, its latest change: (version, *key, *fields of its
    row now — all None when the row is gone), ordered by version then key, in batches from a
    server-side cursor."""
    log = table(
        changes_table(table_name), column(VERSION_COLUMN, BigInteger), *(column(k) for k in keys)
    )
    rows = table(table_name, *(column(f) for f in fields))
    latest = (
        select(*(log.c[k] for k in keys), func.max(log.c[VERSION_COLUMN]).label(VERSION_COLUMN))
        .where(log.c[VERSION_COLUMN] > since)
        .group_by(*(log.c[k] for k in keys))
        .subquery("latest")
    )
    query = (
        select(latest.c[VERSION_COLUMN], *(latest.c[k] for k in keys), *rows.c)
        .select_from(latest.outerjoin(rows, and_(*(rows.c[k] == latest.c[k] for k in keys))))
        .order_by(latest.c[VERSION_COLUMN], *(latest.c[k] for k in keys))
    )
    with conn.execute(query, execution_options={"yield_per": batch_rows}) as result:
        yield from result.partitions()


def prunable(conn: Connection, created_before: datetime) -> list[tuple[int, int]]:
    """(dataset id, newest version created before `created_before`) where that version's
    change history is still kept."""
    rows = conn.execute(
        select(versions.c.dataset_id, func.max(versions.c.version))
        .where(versions.c.created_at < created_before, ~versions.c.changes_pruned)
        .group_by(versions.c.dataset_id)
    ).all()
    return [(int(dataset_id), int(version)) for dataset_id, version in rows]


def prune(conn: Connection, dataset_id: int, table_name: str | None, through: int) -> int:
    """Delete the change-log rows of versions up to `through` (one DELETE) and mark those
    versions pruned, in the caller's transaction; returns how many rows went."""
    conn.execute(
        update(versions)
        .where(
            versions.c.dataset_id == dataset_id,
            versions.c.version <= through,
            ~versions.c.changes_pruned,
        )
        .values(changes_pruned=True)
    )
    if table_name is None:
        return 0
    log = table(changes_table(table_name), column(VERSION_COLUMN, BigInteger))
    return int(conn.execute(delete(log).where(log.c[VERSION_COLUMN] <= through)).rowcount)
