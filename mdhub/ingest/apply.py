"""The job transaction: read every part, validate, stage, merge, and record the new versions.

Everything a job changes in the dataset store (rows, change log, version rows with the
statistics) commits in ONE transaction, or not at all (invariant 1). A version row carries the
job id: it is the job's "applied" mark, so a crash after the commit is recovered exactly.
"""

from __future__ import annotations

import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, insert, select
from sqlalchemy.exc import IntegrityError

from mdhub.core.schema import Schema
from mdhub.db import dataset_tables
from mdhub.db.dialect import Dialect, dialect_for
from mdhub.db.engine import Databases
from mdhub.db.tables import versions
from mdhub.errors import (
    InputError,
    InternalError,
    JobCancelled,
    LeaseLost,
    MdhubError,
    RowErrors,
)
from mdhub.ingest import merge, pipeline
from mdhub.ingest.columns import Resolution
from mdhub.ingest.job import (
    ApplyOptions,
    ApplyOutcome,
    CommitGuard,
    DatasetRef,
    PartOutcome,
    PartSpec,
    Progress,
    Reporter,
    SilentReporter,
    empty_statistics,
)
from mdhub.ingest.loading import Loading, PartReader
from mdhub.ingest.model import ErrorCollector


@dataclass
class _DatasetState:
    ref: DatasetRef
    schema: Schema | None
    version: int
    row_count: int
    schema_changed: bool = False
    full_load: bool = False
    statistics: dict[str, int] = field(default_factory=empty_statistics)
    operations: list[str] = field(default_factory=list)


def apply_job(
    dbs: Databases,
    job_id: int,
    parts: list[PartSpec],
    options: ApplyOptions = ApplyOptions(),
    reporter: Reporter | None = None,
    guard: CommitGuard | None = None,
) -> ApplyOutcome:
    """Apply all parts atomically; failures are returned in `outcome.error`, never half-applied.

    `guard` wraps the commit (a worker's fencing check). A `JobCancelled` raised by the
    reporter, or a `LeaseLost` raised by the guard, propagates after the rollback.
    """
    reporter = reporter or SilentReporter()
    dialect = dialect_for(dbs.kind)
    outcome = ApplyOutcome()
    collector = ErrorCollector()
    progress = Progress(reporter)
    with dbs.data.connect() as conn:
        transaction = conn.begin()
        try:
            dialect.begin_job(conn)
            states: dict[int, _DatasetState] = {}
            for index, part in enumerate(parts):
                state = states.get(part.dataset.id)
                if state is None:
                    state = states[part.dataset.id] = _open_dataset(conn, dialect, part.dataset)
                part_outcome = PartOutcome(part.name, part.dataset.name, part.operation)
                outcome.parts.append(part_outcome)
                _apply_part(
                    conn,
                    dialect,
                    state,
                    part,
                    index,
                    options,
                    collector,
                    progress,
                    outcome,
                    part_outcome,
                )
                for name, value in part_outcome.statistics.items():
                    state.statistics[name] += value
                state.operations.append(part.operation)
                progress.bytes_done += part.path.stat().st_size
            _check_error_budget(collector, options)
            for state in states.values():
                outcome.versions[state.ref.name] = state.version
                outcome.row_counts[state.ref.id] = state.row_count
                if state.schema_changed and state.schema is not None:
                    outcome.schemas[state.ref.id] = state.schema
            if options.dry_run:
                transaction.rollback()
            else:
                _record_versions(conn, job_id, states.values())
                with guard(conn) if guard else nullcontext():
                    transaction.commit()
        except MdhubError as exc:
            transaction.rollback()
            if isinstance(exc, JobCancelled | LeaseLost):
                raise
            outcome.error = exc
        except Exception as exc:
            transaction.rollback()
            outcome.error = InternalError(f"unexpected error: {type(exc).__name__}: {exc}")
            raise
        finally:
            outcome.errors = collector.errors
            outcome.error_count = collector.count
            for part_outcome in outcome.parts:
                for name, value in part_outcome.statistics.items():
                    outcome.statistics[name] += value
    if outcome.error is not None:
        outcome.versions.clear()
    return outcome


def _check_error_budget(collector: ErrorCollector, options: ApplyOptions) -> None:
    if options.max_errors is not None and collector.count > options.max_errors:
        allowed = (
            "the job allows none"
            if options.max_errors == 0
            else f"the job allows {options.max_errors}"
        )
        first = collector.errors[0] if collector.errors else None
        where = (
            f"; first: part {first.part}, line {first.line}, column {first.column}: {first.message}"
            if first
            else ""
        )
        raise RowErrors(
            f"{collector.count} row error(s), {allowed}{where}",
            {"error_count": collector.count, "max_errors": options.max_errors},
        )


def _open_dataset(conn: Connection, dialect: Dialect, ref: DatasetRef) -> _DatasetState:
    """Lock the dataset for writing and read its current version and row count."""
    if ref.schema is not None:
        if not dataset_tables.table_exists(conn, ref.table):
            dataset_tables.create_tables(conn, dialect, ref.table, ref.schema)
        dialect.lock_table(conn, ref.table)
    last = conn.execute(
        select(versions.c.version, versions.c.row_count)
        .where(versions.c.dataset_id == ref.id)
        .order_by(versions.c.version.desc())
        .limit(1)
    ).first()
    version, row_count = (last[0], last[1]) if last else (0, 0)
    return _DatasetState(ref=ref, schema=ref.schema, version=version + 1, row_count=row_count)


def _record_versions(conn: Connection, job_id: int, states: Any) -> None:
    now = datetime.now(UTC)
    conn.execute(
        insert(versions),
        [
            {
                "dataset_id": s.ref.id,
                "version": s.version,
                "job_id": job_id,
                "operation": "+".join(dict.fromkeys(s.operations)),
                "statistics": s.statistics,
                "row_count": s.row_count,
                "full_load": s.full_load,
                "schema": s.schema.to_descriptor() if s.schema_changed and s.schema else None,
                "created_at": now,
            }
            for s in states
        ],
    )


def _apply_part(
    conn: Connection,
    dialect: Dialect,
    state: _DatasetState,
    part: PartSpec,
    index: int,
    options: ApplyOptions,
    collector: ErrorCollector,
    progress: Progress,
    outcome: ApplyOutcome,
    result: PartOutcome,
) -> None:
    """Read, validate, stage and merge one part, counting into `result.statistics`."""
    with PartReader(part, state.schema) as reading:
        resolution = reading.resolve()
        merge.check_operation(part.operation, resolution.schema.primary_key)
        _apply_resolution(conn, dialect, state, resolution, outcome)
        target = merge.Target(
            table=part.dataset.table,
            changes=(
                dataset_tables.changes_table(part.dataset.table)
                if resolution.schema.primary_key
                else None
            ),
            keys=resolution.schema.primary_key,
            fields=tuple(resolution.schema.field_names),
        )
        loading = Loading(conn, dialect, part, resolution, options, collector, progress)
        started = time.monotonic()
        if _loads_directly(conn, part.operation, target):
            if part.operation == "overwrite" and not target.keys:
                result.statistics["deleted"] += merge.delete_all(conn, target)
            counts = loading.direct(reading, target)
            if counts is not None:
                _count_direct(state, result, counts)
                _check_error_budget(collector, options)
                progress.reporter.log(
                    f"part {part.name}: {counts.loaded:,} rows loaded into {part.dataset.name} "
                    f"in {time.monotonic() - started:.1f} s"
                )
                return
            reading.reopen()
        counts = loading.into_staging(reading, index)
    stats = result.statistics
    stats["read"] += counts.read
    stats["failed"] += counts.failed
    _check_error_budget(collector, options)
    staged = merge.Staged(loading.staging, loading.staged_columns, part.name)
    dropped = _reject_conflicts(conn, part, staged, target, resolution, collector)
    stats["failed"] += dropped
    _check_error_budget(collector, options)
    progress.reporter.log(
        f"part {part.name}: {counts.loaded - dropped:,} valid rows staged in "
        f"{time.monotonic() - started:.1f} s; merging into {part.dataset.name} ({part.operation})"
    )
    started = time.monotonic()
    try:
        merged = merge.merge(
            conn,
            dialect,
            part.operation,
            staged,
            target,
            version=state.version,
            staged_rows=counts.loaded - dropped,
            want_sample=options.dry_run,
        )
    except IntegrityError as exc:
        raise InputError(
            f"part {part.name}: a value of a unique field is already used by another row of "
            f"dataset {part.dataset.name}: {exc.orig}",
            {"part": part.name},
        ) from None
    progress.reporter.log(f"part {part.name}: merged in {time.monotonic() - started:.1f} s")
    stats["inserted"] += merged.inserted
    stats["updated"] += merged.updated
    stats["unchanged"] += merged.unchanged
    stats["deleted"] += merged.deleted
    state.full_load = state.full_load or merged.full_load
    state.row_count += merged.inserted - merged.deleted
    if merged.sample:
        outcome.sample[part.name] = merged.sample


def _apply_resolution(
    conn: Connection,
    dialect: Dialect,
    state: _DatasetState,
    resolution: Resolution,
    outcome: ApplyOutcome,
) -> None:
    """Create or extend the dataset's table as column resolution decided."""
    if resolution.created:
        dataset_tables.create_tables(conn, dialect, state.ref.table, resolution.schema)
        dialect.lock_table(conn, state.ref.table)
    if resolution.added:
        dataset_tables.add_columns(conn, dialect, state.ref.table, resolution.added)
    if resolution.created or resolution.added:
        state.schema_changed = True
    state.schema = resolution.schema
    outcome.notes.extend(n for n in resolution.notes if n not in outcome.notes)


def _loads_directly(conn: Connection, operation: str, target: merge.Target) -> bool:
    """Rows can go straight into the dataset table (no staging, no diff): a first load, or
    rows added to a dataset without keys."""
    if not target.keys:
        return operation in ("append", "insert", "overwrite")
    return operation in ("upsert", "insert", "overwrite") and merge.is_empty(conn, target.table)


def _count_direct(state: _DatasetState, result: PartOutcome, counts: pipeline.StageCounts) -> None:
    stats = result.statistics
    stats["read"] += counts.read
    stats["failed"] += counts.failed
    stats["inserted"] += counts.loaded
    state.row_count += counts.loaded - stats["deleted"]
    # A first load is not logged row by row: consumers that synced before it start over.
    state.full_load = True


def _reject_conflicts(
    conn: Connection,
    part: PartSpec,
    staged: merge.Staged,
    target: merge.Target,
    resolution: Resolution,
    collector: ErrorCollector,
) -> int:
    """Report and drop staged rows that cannot be applied: repeated keys or unique values,
    existing keys for insert, missing keys for update."""
    schema = resolution.schema
    dropped = 0
    for name in resolution.used:
        if schema.field(name).constraints.unique and name not in schema.primary_key:
            dropped += merge.reject_duplicates(conn, staged, (name,), collector, label="value")
    if schema.primary_key:
        dropped += merge.reject_duplicates(conn, staged, schema.primary_key, collector)
        if part.operation in ("insert", "update"):
            dropped += merge.reject_by_existence(
                conn, staged, target, collector, exists=part.operation == "insert"
            )
    return dropped
