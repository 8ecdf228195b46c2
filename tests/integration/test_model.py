"""Random sequences of jobs against a plain-Python model of the dataset: the table, the
statistics and the change log must agree with the model exactly, on both databases."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mdhub.services.hub import Hub
from tests.helpers import change_log, table_rows, write_csv

SCHEMA = {
    "fields": [{"name": "k", "type": "string"}, {"name": "v", "type": "integer"}],
    "primaryKey": ["k"],
}
KEYS = [f"k{i}" for i in range(8)]
rows_strategy = st.dictionaries(st.sampled_from(KEYS), st.integers(0, 3), max_size=8)
step = st.tuples(
    st.sampled_from(["upsert", "overwrite", "delete", "insert", "update"]), rows_strategy
)
counter = itertools.count()


def expected(model: dict[str, int], operation: str, rows: dict[str, int]) -> tuple[dict, dict]:
    """What the operation should do: the new model and the statistics (None: rejected)."""
    stats = dict.fromkeys(("read", "inserted", "updated", "unchanged", "deleted", "failed"), 0)
    stats["read"] = len(rows)
    new = dict(model)
    if operation == "delete":
        for k in rows:
            if k in new:
                del new[k]
                stats["deleted"] += 1
            else:
                stats["unchanged"] += 1
        return new, stats
    if operation == "insert" and any(k in model for k in rows):
        return model, {}
    if operation == "update" and any(k not in model for k in rows):
        return model, {}
    for k, v in rows.items():
        if k not in model:
            stats["inserted"] += 1
        elif model[k] != v:
            stats["updated"] += 1
        else:
            stats["unchanged"] += 1
        new[k] = v
    if operation == "overwrite":
        for k in model:
            if k not in rows:
                del new[k]
                stats["deleted"] += 1
    return new, stats


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(steps=st.lists(step, min_size=1, max_size=6))
def test_jobs_agree_with_a_model(hub: Hub, tmp_path: Path, steps: list[Any]) -> None:
    name = f"m{next(counter)}"
    hub.create_dataset(name, schema=SCHEMA)
    model: dict[str, int] = {}
    version = 0
    log: list[tuple[int, str, str]] = []
    for index, (operation, rows) in enumerate(steps):
        header = ["k"] if operation == "delete" else ["k", "v"]
        lines = [[k] if operation == "delete" else [k, v] for k, v in rows.items()]
        path = write_csv(tmp_path / f"{name}-{index}.csv", lines, header=header)
        job = hub.apply(name, path, operation=operation)
        new_model, stats = expected(model, operation, rows)
        if not stats:
            assert job["status"] == "failed" and job["error"]["code"] == "row_errors"
        else:
            assert job["status"] == "succeeded", job
            assert job["statistics"] == stats
            version += 1
            assert job["version"] == version
            log += changes(model, new_model, version, full_load=operation != "delete" and not model)
            model = new_model
        assert table_rows(hub, name) == sorted(model.items(), key=repr)
        dataset = hub.dataset(name)
        assert (dataset.version, dataset.row_count) == (version, len(model))
    assert change_log(hub, name) == sorted(log)


def changes(
    old: dict[str, int], new: dict[str, int], version: int, *, full_load: bool
) -> list[tuple[int, str, str]]:
    """The change log a job should write (none for a load into an empty dataset)."""
    if full_load:
        return []
    out = [(version, "insert", k) for k in new if k not in old]
    out += [(version, "update", k) for k in new if k in old and old[k] != new[k]]
    out += [(version, "delete", k) for k in old if k not in new]
    return out
