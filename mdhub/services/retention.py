"""Change-history retention: prune change-log rows of versions older than the retention period.

Per dataset, the newest version created before the cutoff and every version before it are
marked `changes_pruned`, and their change-log rows are deleted with one DELETE, in ONE
transaction. A reader's snapshot sees both or neither, so `/changes` either lists a pruned
version's changes or answers 410; it never silently skips them. Versions themselves are kept.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from mdhub.db import changes as db_changes
from mdhub.db.engine import Databases
from mdhub.db.tables import datasets

log = logging.getLogger("mdhub.retention")


def prune_changes(dbs: Databases, retention: timedelta, *, now: datetime | None = None) -> int:
    """Prune the change history older than `retention` of every dataset; returns how many
    change-log rows went."""
    cutoff = (now or datetime.now(UTC)) - retention
    with dbs.data.connect() as conn:
        due = db_changes.prunable(conn, cutoff)
    if not due:
        return 0
    with dbs.meta.connect() as conn:
        rows = conn.execute(
            select(datasets.c.id, datasets.c.table_name, datasets.c["keys"]).where(
                datasets.c.id.in_([dataset_id for dataset_id, _ in due])
            )
        ).all()
    # Datasets without keys have no change log: only their versions are marked.
    logged = {dataset_id: table if keys else None for dataset_id, table, keys in rows}
    pruned = 0
    for dataset_id, through in due:
        if dataset_id not in logged:
            continue  # deleted meanwhile
        with dbs.data.begin() as conn:
            count = db_changes.prune(conn, dataset_id, logged[dataset_id], through)
        pruned += count
        log.info(
            "dataset %s: change history through version %s pruned (%s rows)",
            dataset_id,
            through,
            count,
        )
    return pruned
