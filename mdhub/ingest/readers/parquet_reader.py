"""Parquet reader: row groups in batches, columns keep their native Arrow types."""

from __future__ import annotations

from collections.abc import Iterator

import pyarrow as pa
import pyarrow.parquet as pq

from mdhub.errors import InputError
from mdhub.ingest.model import RawBatch
from mdhub.ingest.readers.base import Reader, check_names, counting_lines
from mdhub.ingest.readers.source import CountingFile


class ParquetReader(Reader):
    """Reads a Parquet file; a row's number is its 1-based position in the file."""

    def _open(self, column_names: list[str] | None) -> None:
        self._file = CountingFile(self._path)
        self._resources.callback(self._file.close)
        try:
            self._parquet = pq.ParquetFile(self._file)
        except (pa.ArrowException, OSError) as error:
            raise InputError(f"the file is not readable Parquet: {error}") from None
        self._resources.callback(self._parquet.close)
        self.columns = list(self._parquet.schema_arrow.names)
        check_names(self.columns, InputError, "file")

    def _batches(self) -> Iterator[RawBatch]:
        batches = self._parquet.iter_batches(batch_size=self._options.batch_rows)
        row = 1
        while True:
            try:
                batch = next(batches)
            except StopIteration:
                return
            except (pa.ArrowException, OSError) as error:
                raise InputError(f"the Parquet file is damaged: {error}") from None
            columns = dict(zip(self.columns, batch.columns, strict=True))
            yield RawBatch(columns, counting_lines(row, batch.num_rows))
            row += batch.num_rows
