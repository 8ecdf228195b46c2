"""Loading one part: its reader (which can start over) and the read → validate → bulk-load
pipeline into the dataset table or a staging table."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import replace

import pyarrow as pa
from sqlalchemy import Connection

from mdhub.core.schema import Field, Schema
from mdhub.db.dialect import Dialect, column_sql, quote
from mdhub.errors import InputError
from mdhub.ingest import merge, pipeline
from mdhub.ingest.columns import Resolution, resolve_columns
from mdhub.ingest.job import ApplyOptions, PartSpec, Progress
from mdhub.ingest.model import LINE_COLUMN, ErrorCollector, RawBatch
from mdhub.ingest.readers import open_reader
from mdhub.ingest.validate import validate_batch


class PartReader:
    """A part's open reader, its first batch (for inference) and the rest; can start over."""

    def __init__(self, part: PartSpec, schema: Schema | None) -> None:
        self.part = part
        self.schema = schema
        self.column_names: list[str] | None = None
        if not part.read.header:
            if schema is None:
                raise InputError(
                    f"part {part.name}: a file without a header row needs a dataset with a schema"
                )
            self.column_names = schema.field_names
        self._open()

    def _open(self) -> None:
        self.reader = open_reader(
            self.part.path, self.part.read, column_names=self.column_names, part=self.part.name
        )
        self._rest = iter(self.reader)
        self.first = next(self._rest, None)

    def reopen(self) -> None:
        self.reader.close()
        self._open()

    def resolve(self) -> Resolution:
        columns = list(self.reader.columns)
        sample = (
            self.first.columns
            if self.first is not None
            else {c: pa.array([], pa.string()) for c in columns}
        )
        ref = self.part.dataset
        return resolve_columns(
            self.schema,
            dataset=ref.name,
            keys=ref.keys,
            schema_policy=ref.schema_policy,
            part=self.part.name,
            operation=self.part.operation,
            columns=columns,
            sample=sample,
        )

    def batches(self) -> Iterator[RawBatch]:
        if self.first is None:
            return self._rest
        return itertools.chain([self.first], self._rest)

    def __enter__(self) -> PartReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.reader.close()


class Loading:
    """Runs the read → validate → bulk-load pipeline of one part into a table."""

    def __init__(
        self,
        conn: Connection,
        dialect: Dialect,
        part: PartSpec,
        resolution: Resolution,
        options: ApplyOptions,
        collector: ErrorCollector,
        progress: Progress,
    ) -> None:
        self.conn = conn
        self.dialect = dialect
        self.part = part
        self.resolution = resolution
        self.options = options
        self.collector = collector
        self.progress = progress
        schema = resolution.schema
        self.fields = [
            _as_required(schema.field(c)) if c in schema.primary_key else schema.field(c)
            for c in resolution.used
        ]
        # Overwrite compares whole rows: columns the file lacks are staged as NULL.
        self.staged_columns = (
            tuple(schema.field_names) if part.operation == "overwrite" else tuple(resolution.used)
        )
        self.staging = ""

    def direct(self, reading: PartReader, target: merge.Target) -> pipeline.StageCounts | None:
        """Load straight into the dataset table; None (and nothing loaded) if the file holds a
        repeated key or unique value, which the staging path then reports line by line."""
        mark = self.collector.mark()
        rows_mark = self.progress.rows_read
        savepoint = self.conn.begin_nested()
        try:
            counts = self._load(reading, target.table, self.resolution.used)
        except self.dialect.unique_violation:
            savepoint.rollback()
            self.collector.reset(mark)
            self.progress.rows_read = rows_mark
            self.progress.reporter.log(
                f"part {self.part.name}: a key or unique value repeats; checking line by line"
            )
            return None
        except BaseException:
            savepoint.rollback()
            raise
        savepoint.commit()
        return counts

    def into_staging(self, reading: PartReader, index: int) -> pipeline.StageCounts:
        self.staging = f"_mdhub_stage_{index}"
        schema = self.resolution.schema
        columns_sql = [column_sql(self.dialect, schema.field(c)) for c in self.staged_columns]
        self.conn.exec_driver_sql(
            self.dialect.create_staging_sql(
                self.staging, ", ".join([*columns_sql, f"{quote(LINE_COLUMN)} BIGINT"])
            )
        )
        return self._load(reading, self.staging, [*self.resolution.used, LINE_COLUMN])

    def _load(self, reading: PartReader, table: str, columns: list[str]) -> pipeline.StageCounts:
        used = self.resolution.used
        loader = self.dialect.open_loader(self.conn, table, columns)
        try:
            counts = pipeline.stage(
                reading.batches(),
                validate=lambda batch: validate_batch(
                    self.fields,
                    _only(batch, used),
                    missing_values=self.resolution.schema.missing_values,
                    part=self.part.name,
                    collector=self.collector,
                ),
                loader=loader,
                keep_loading=lambda: not over_budget(self.collector, self.options),
                on_batch=self.progress.update,
            )
        except BaseException as exc:
            loader.close(exc)
            raise
        loader.close()
        return counts


def over_budget(collector: ErrorCollector, options: ApplyOptions) -> bool:
    return options.max_errors is not None and collector.count > options.max_errors


def _only(batch: RawBatch, used: list[str]) -> RawBatch:
    return replace(batch, columns={c: batch.columns[c] for c in used})


def _as_required(f: Field) -> Field:
    return replace(f, constraints=replace(f.constraints, required=True))
