"""The job transaction: read every part, validate, stage, merge, and record the new versions.

Everything a job changes in the dataset store (rows, change log, version rows with the
statistics) commits in ONE transaction, or not at all (invariant 1). A version row carries the
job id: it is the job's "applied" mark, so a crash after the commit is recovered exactly.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import pyarrow as pa
from sqlalchemy import Connection, insert, select

from mdhub.core.schema import Constraints, Field, Schema
from mdhub.db import dataset_tables
from mdhub.db.dialect import Dialect, column_sql, dialect_for, quote
from mdhub.db.engine import Databases
from mdhub.db.tables import versions
from mdhub.errors import InputError, InternalError, MdhubError, RowErrors, UnsupportedOperation
from mdhub.ingest import merge
from mdhub.ingest.infer import describe_inference, infer_fields
from mdhub.ingest.model import LINE_COLUMN, ErrorCollector, RawBatch, ReadOptions, RowError
from mdhub.ingest.readers import open_reader
from mdhub.ingest.validate import validate_batch

STAT_NAMES = ("read", "inserted", "updated", "unchanged", "deleted", "failed")


@dataclass(frozen=True)
class DatasetRef:
    """What the engine needs to know of a dataset."""

    id: int
    name: str
    table: str
    schema: Schema | None
    keys: tuple[str, ...]
    schema_policy: str = "reject"


@dataclass(frozen=True)
class PartSpec:
    """One file to apply: its name in the job, target dataset, operation and how to read it."""

    name: str
    dataset: DatasetRef
    operation: str
    path: Path
    read: ReadOptions = field(default_factory=ReadOptions)


@dataclass(frozen=True)
class ApplyOptions:
    """`max_errors`: how many row errors a job may have and still apply its valid rows
    (0 = any error fails the job; None = no limit, i.e. skip invalid rows)."""

    dry_run: bool = False
    max_errors: int | None = 0


class Reporter(Protocol):
    """Where a running job reports progress and log lines, and learns it was cancelled."""

    def progress(self, rows_read: int, bytes_read: int) -> None: ...

    def log(self, message: str, level: str = "info") -> None: ...

    def check_cancelled(self) -> None: ...


class SilentReporter:
    def progress(self, rows_read: int, bytes_read: int) -> None:
        return None

    def log(self, message: str, level: str = "info") -> None:
        return None

    def check_cancelled(self) -> None:
        return None


def empty_statistics() -> dict[str, int]:
    return dict.fromkeys(STAT_NAMES, 0)


@dataclass
class PartOutcome:
    name: str
    dataset: str
    operation: str
    statistics: dict[str, int] = field(default_factory=empty_statistics)


@dataclass
class ApplyOutcome:
    """What a job did (or, for a dry run or a failure, would have done / got to)."""

    statistics: dict[str, int] = field(default_factory=empty_statistics)
    parts: list[PartOutcome] = field(default_factory=list)
    versions: dict[str, int] = field(default_factory=dict)
    schemas: dict[int, Schema] = field(default_factory=dict)
    row_counts: dict[int, int] = field(default_factory=dict)
    sample: dict[str, dict[str, list[dict[str, Any]]]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    error_count: int = 0
    error: MdhubError | None = None


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


class _Progress:
    """Totals across parts, reported to the Reporter."""

    def __init__(self, reporter: Reporter) -> None:
        self.reporter = reporter
        self.rows_read = 0
        self.bytes_done = 0

    def update(self, rows: int, bytes_read: int) -> None:
        self.rows_read += rows
        self.reporter.progress(self.rows_read, self.bytes_done + bytes_read)
        self.reporter.check_cancelled()


def apply_job(
    dbs: Databases,
    job_id: int,
    parts: list[PartSpec],
    options: ApplyOptions = ApplyOptions(),
    reporter: Reporter | None = None,
) -> ApplyOutcome:
    """Apply all parts atomically; failures are returned in `outcome.error`, never half-applied.

    A `JobCancelled` raised by the reporter propagates after the rollback.
    """
    reporter = reporter or SilentReporter()
    dialect = dialect_for(dbs.kind)
    outcome = ApplyOutcome()
    collector = ErrorCollector()
    progress = _Progress(reporter)
    with dbs.data.connect() as conn:
        transaction = conn.begin()
        try:
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
                transaction.commit()
        except MdhubError as exc:
            transaction.rollback()
            if exc.code == "cancelled":
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
    progress: _Progress,
    outcome: ApplyOutcome,
    result: PartOutcome,
) -> None:
    """Read, validate, stage and merge one part, counting into `result.statistics`."""
    if part.operation not in merge.OPERATIONS:
        raise UnsupportedOperation(
            f"unknown operation '{part.operation}' (one of {', '.join(merge.OPERATIONS)})"
        )
    stats = result.statistics
    column_names = None
    if not part.read.header:
        if state.schema is None:
            raise InputError(
                f"part {part.name}: a file without a header row needs a dataset with a schema"
            )
        column_names = state.schema.field_names
    with open_reader(part.path, part.read, column_names=column_names, part=part.name) as reader:
        batches = iter(reader)
        first = next(batches, None)
        columns = list(reader.columns)
        used = _resolve_columns(conn, dialect, state, part, columns, first, outcome)
        assert state.schema is not None
        schema = state.schema
        fields = [
            _as_required(schema.field(c)) if c in schema.primary_key else schema.field(c)
            for c in used
        ]
        staged_columns = tuple(schema.field_names) if part.operation == "overwrite" else tuple(used)
        staging = f"_mdhub_stage_{index}"
        conn.exec_driver_sql(
            dialect.create_staging_sql(
                staging,
                ", ".join(
                    [column_sql(dialect, schema.field(c)) for c in staged_columns]
                    + [f"{quote(LINE_COLUMN)} BIGINT"]
                ),
            )
        )
        loader = dialect.open_loader(conn, staging, [*used, LINE_COLUMN])
        staged_rows = 0
        try:
            for batch in _chain(first, batches):
                valid, failed = validate_batch(
                    fields,
                    _only(batch, used),
                    missing_values=schema.missing_values,
                    part=part.name,
                    collector=collector,
                )
                stats["read"] += batch.num_rows + len(batch.errors)
                stats["failed"] += failed
                if not _over_budget(collector, options):
                    loader.write(valid)
                    staged_rows += valid.num_rows
                progress.update(batch.num_rows + len(batch.errors), batch.bytes_read)
        except BaseException as exc:
            loader.close(exc)
            raise
        loader.close()
    _check_error_budget(collector, options)
    dialect.after_load(conn, staging)
    staged = merge.Staged(staging, staged_columns, part.name)
    target = merge.Target(
        table=part.dataset.table,
        changes=dataset_tables.changes_table(part.dataset.table) if schema.primary_key else None,
        keys=schema.primary_key,
        fields=tuple(schema.field_names),
    )
    dropped = 0
    for f in fields:
        if f.constraints.unique and f.name not in schema.primary_key:
            dropped += merge.reject_duplicates(conn, staged, (f.name,), collector, label="value")
    if schema.primary_key:
        dropped += merge.reject_duplicates(conn, staged, schema.primary_key, collector)
        if part.operation in ("insert", "update"):
            dropped += merge.reject_by_existence(
                conn, staged, target, collector, exists=part.operation == "insert"
            )
    stats["failed"] += dropped
    _check_error_budget(collector, options)
    progress.reporter.log(
        f"part {part.name}: {staged_rows - dropped:,} valid rows staged; "
        f"merging into {part.dataset.name} ({part.operation})"
    )
    merged = merge.merge(
        conn,
        dialect,
        part.operation,
        staged,
        target,
        version=state.version,
        staged_rows=staged_rows - dropped,
        want_sample=options.dry_run,
    )
    stats["inserted"] += merged.inserted
    stats["updated"] += merged.updated
    stats["unchanged"] += merged.unchanged
    stats["deleted"] += merged.deleted
    state.full_load = state.full_load or merged.full_load
    state.row_count += merged.inserted - merged.deleted
    if merged.sample:
        outcome.sample[part.name] = merged.sample


def _over_budget(collector: ErrorCollector, options: ApplyOptions) -> bool:
    return options.max_errors is not None and collector.count > options.max_errors


def _chain(first: RawBatch | None, rest: Iterator[RawBatch]) -> Iterator[RawBatch]:
    return rest if first is None else itertools.chain([first], rest)


def _only(batch: RawBatch, used: list[str]) -> RawBatch:
    return replace(batch, columns={c: batch.columns[c] for c in used})


def _as_required(f: Field) -> Field:
    return replace(f, constraints=replace(f.constraints, required=True))


def _resolve_columns(
    conn: Connection,
    dialect: Dialect,
    state: _DatasetState,
    part: PartSpec,
    columns: list[str],
    first: RawBatch | None,
    outcome: ApplyOutcome,
) -> list[str]:
    """Match the file's columns to the schema (inferring or extending it when allowed) and
    return the columns to load, in file order."""
    ref = state.ref
    sample = first.columns if first is not None else {c: _empty() for c in columns}
    if state.schema is None:
        inferred = infer_fields(sample, missing_values=("",))
        missing_keys = [k for k in ref.keys if k not in columns]
        if missing_keys:
            raise InputError(
                f"part {part.name}: key column(s) {missing_keys} missing from the file "
                f"(columns: {columns})",
                {"part": part.name, "missing": missing_keys},
            )
        state.schema = Schema(fields=tuple(inferred), primary_key=ref.keys)
        state.schema_changed = True
        dataset_tables.create_tables(conn, dialect, ref.table, state.schema)
        dialect.lock_table(conn, ref.table)
        sampled = first.num_rows if first else 0
        outcome.notes.append(f"dataset {ref.name}: schema {describe_inference(inferred, sampled)}")
        return list(columns)
    schema = state.schema
    if part.operation == "delete":
        _require(part, columns, list(schema.primary_key), "key")
        return [c for c in columns if c in schema.primary_key]
    unknown = [c for c in columns if not schema.has_field(c)]
    if unknown:
        if ref.schema_policy == "reject":
            positions = {c: columns.index(c) + 1 for c in unknown}
            raise InputError(
                f"part {part.name}: unknown column(s) {unknown} (at position "
                f"{', '.join(str(p) for p in positions.values())}); dataset {ref.name} has "
                f"fields {schema.field_names}. Its schema policy is 'reject'; "
                "use 'ignore' to skip such columns or 'add' to add them",
                {"part": part.name, "unknown": unknown, "positions": positions},
            )
        if ref.schema_policy == "add":
            added = infer_fields({c: sample[c] for c in unknown}, missing_values=("",))
            added = [replace(f, constraints=Constraints()) for f in added]
            dataset_tables.add_columns(conn, dialect, ref.table, added)
            state.schema = schema = schema.with_fields(added)
            state.schema_changed = True
            outcome.notes.append(
                f"dataset {ref.name}: added column(s) "
                + ", ".join(f"{f.name} ({f.type})" for f in added)
            )
        else:
            outcome.notes.append(f"part {part.name}: ignored unknown column(s) {unknown}")
    _require(part, columns, list(schema.primary_key), "key")
    if part.operation not in ("update", "upsert"):
        required = [f.name for f in schema.fields if f.required]
        _require(part, columns, required, "required")
    return [c for c in columns if schema.has_field(c)]


def _require(part: PartSpec, columns: list[str], needed: list[str], what: str) -> None:
    missing = [c for c in needed if c not in columns]
    if missing:
        raise InputError(
            f"part {part.name}: {what} column(s) {missing} missing from the file "
            f"(columns: {columns})",
            {"part": part.name, "missing": missing},
        )


def _empty() -> pa.Array:
    return pa.array([], pa.string())
