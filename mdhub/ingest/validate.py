"""Row validation of a raw batch: typed conversion and constraints, vectorized with pyarrow."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from mdhub.core.schema import Field
from mdhub.ingest.constraints import Failure, column_failures
from mdhub.ingest.model import (
    ARROW_TYPES,
    LINE_COLUMN,
    ErrorCollector,
    RawBatch,
    RowError,
    clip_value,
)
from mdhub.ingest.vectorized import convert_column


def validate_batch(
    fields: list[Field],
    batch: RawBatch,
    *,
    missing_values: tuple[str, ...],
    part: str,
    collector: ErrorCollector,
) -> tuple[pa.RecordBatch, int]:
    """The rows of `batch` that pass every check, one column per field (typed as ARROW_TYPES)
    plus LINE_COLUMN, and how many rows failed. Each failed check goes to `collector`, and so do
    the reader's structural errors (`batch.errors`, rows already left out of the columns)."""
    lines = pc.cast(batch.lines, pa.int64())
    columns = []
    failures: list[Failure] = []
    for field in fields:
        source = batch.columns[field.name]
        conv = convert_column(field, source, missing_values)
        columns.append(conv.values)
        failures += column_failures(field, conv, source)
    _report(failures, batch, lines, part, collector)

    schema = pa.schema(
        [pa.field(f.name, ARROW_TYPES[f.type]) for f in fields]
        + [pa.field(LINE_COLUMN, pa.int64())]
    )
    rows = pa.RecordBatch.from_arrays([*columns, lines], schema=schema)
    structural = len({e.line for e in batch.errors if e.line is not None})
    structural += sum(e.line is None for e in batch.errors)
    if not failures:
        return rows, structural
    failed = failures[0].mask
    for failure in failures[1:]:
        failed = pc.or_(failed, failure.mask)
    return rows.filter(pc.invert(failed)), failed.true_count + structural


def _report(
    failures: list[Failure],
    batch: RawBatch,
    lines: pa.Array,
    part: str,
    collector: ErrorCollector,
) -> None:
    """Store the first errors in line order, as many as the collector keeps; count all of them."""
    total = len(batch.errors) + sum(f.mask.true_count for f in failures)
    room = collector.room
    # (line, order, row, failure) or, for a structural error, (line, -1, 0, error).
    candidates: list[tuple[int, int, int, Failure | RowError]] = [
        (-1 if e.line is None else e.line, -1, 0, e) for e in batch.errors
    ]
    if room:
        # At most `room` of each check can be among the first `room` errors.
        for order, failure in enumerate(failures):
            rows = pc.indices_nonzero(failure.mask).slice(0, room).to_pylist()
            candidates += [(lines[row].as_py(), order, row, failure) for row in rows]
        candidates.sort(key=lambda c: (c[0], c[1], c[2]))
    kept = candidates[:room]
    for line, _, row, item in kept:
        if isinstance(item, RowError):
            collector.add(item)
            continue
        value = clip_value(batch.columns[item.field.name][row].as_py())
        collector.add(RowError(part, line, item.field.name, value, item.message(row)))
    collector.count += total - len(kept)
