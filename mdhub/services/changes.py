"""What changed in a dataset after a version: for each changed key its latest change, with the
row as it is now or a tombstone, as NDJSON lines read from one snapshot (see docs/sync.md).

Lines, ordered by version then key:

    {"op": "upsert", "version": 7, "key": {"id": "A"}, "record": {"id": "A", ...}}
    {"op": "delete", "version": 8, "key": {"id": "B"}, "record": null}
    {"op": "end", "version": 9, "count": 2}

Changes are collapsed per key: a key inserted, updated and deleted after `since` is one
`delete`. `end` carries the snapshot's version, the `since` of the next call; a stream without it
was cut short.
"""

from __future__ import annotations

import json
import math
from collections.abc import Generator
from contextlib import ExitStack
from typing import Any

from sqlalchemy import Connection

from mdhub.core.schema import Field, Schema
from mdhub.db import changes as db_changes
from mdhub.db.engine import Databases
from mdhub.db.snapshots import snapshot
from mdhub.errors import Gone, InvalidRequest
from mdhub.services.datasets import Dataset, get_dataset
from mdhub.services.records import json_value
from mdhub.services.streams import SnapshotStream

BATCH_ROWS = 1000


def open_changes(dbs: Databases, workspace: str, name: str, since: int) -> SnapshotStream:
    """Open a snapshot of dataset `name` and check that its changes since `since` can be told:
    InvalidRequest for a dataset without keys or a `since` newer than the dataset, Gone when
    history since `since` is no longer complete (a full load, or pruned)."""
    dataset = get_dataset(dbs, workspace, name)
    if not dataset.keys:
        raise InvalidRequest(
            f"dataset '{name}' has no keys, so no change log: download it whole with "
            f"GET /api/v1/datasets/{name}/export"
        )
    stack = ExitStack()
    try:
        conn = stack.enter_context(snapshot(dbs))
        history = db_changes.history(conn, dataset.id)
        _check_since(dataset, since, history)
        schema = (
            Schema.from_descriptor(history.schema, keys=list(dataset.keys))
            if history.schema
            else dataset.schema
        )
        lines = _lines(conn, dataset, schema, since, history)
        stack.callback(lines.close)
        return SnapshotStream(lines, stack, version=history.version)
    except BaseException:
        stack.close()
        raise


def _check_since(dataset: Dataset, since: int, history: db_changes.History) -> None:
    name = dataset.name
    if since > history.version:
        raise InvalidRequest(
            f"since {since} is newer than version {history.version}, the newest of dataset "
            f"'{name}' (was it deleted and created again? then download it again)",
            {"since": since, "version": history.version},
        )
    if since >= history.oldest_since:
        return
    oldest = history.oldest_since
    why = (
        f"version {oldest} was a full load, not logged key by key"
        if history.full_load
        else f"the change history up to version {oldest} was pruned (MDHUB_CHANGE_RETENTION_DAYS)"
    )
    export = f"/api/v1/datasets/{name}/export"
    raise Gone(
        f"changes of dataset '{name}' since version {since} can no longer be listed: {why}. "
        f"Download the whole dataset again (GET {export}) and follow its changes from there",
        {"since": since, "oldest_since": oldest, "version": history.version, "export": export},
    )


def _lines(
    conn: Connection,
    dataset: Dataset,
    schema: Schema | None,
    since: int,
    history: db_changes.History,
) -> Generator[bytes, None, None]:
    count = 0
    if schema is not None and history.version > since:
        fields = schema.fields
        key_fields = [schema.field(k) for k in dataset.keys]
        width = len(key_fields)
        present = schema.field_names.index(dataset.keys[0])
        for batch in db_changes.latest_changes(
            conn,
            dataset.table_name,
            dataset.keys,
            schema.field_names,
            since,
            BATCH_ROWS,
        ):
            chunk = []
            for row in batch:
                values = row[1 + width :]
                key = {
                    f.name: _json(f, v) for f, v in zip(key_fields, row[1 : 1 + width], strict=True)
                }
                record = (
                    {f.name: _json(f, v) for f, v in zip(fields, values, strict=True)}
                    if values[present] is not None
                    else None
                )
                op = "upsert" if record is not None else "delete"
                chunk.append(_line({"op": op, "version": row[0], "key": key, "record": record}))
            count += len(chunk)
            yield b"".join(chunk)
    yield _line({"op": "end", "version": history.version, "count": count})


def _json(field: Field, value: Any) -> Any:
    """A stored value as JSON, as `GET /records/{key}` gives it (NaN and infinities as null)."""
    out = json_value(field, value)
    return None if isinstance(out, float) and not math.isfinite(out) else out


def _line(value: dict[str, Any]) -> bytes:
    return (json.dumps(value, ensure_ascii=False, separators=(",", ":")) + "\n").encode()
