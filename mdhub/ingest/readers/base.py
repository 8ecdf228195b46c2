"""The Reader base class shared by the format readers."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType

import pyarrow as pa
import pyarrow.compute as pc

from mdhub.errors import InputError, MdhubError
from mdhub.ingest.model import RawBatch, ReadOptions
from mdhub.ingest.readers.source import CountingFile


class Reader:
    """Reads one file as RawBatches of at most `options.batch_rows` rows; a context manager.

    `columns` (source column names in file order) is known once `open_reader` returns;
    `bytes_total` is the file's size on disk.
    """

    columns: list[str]
    bytes_total: int

    def __init__(self, path: Path, options: ReadOptions, part: str) -> None:
        self.columns = []
        try:
            self.bytes_total = path.stat().st_size
        except OSError as error:
            raise InputError(f"the file cannot be read: {error.strerror}") from None
        self._path = path
        self._options = options
        self._part = part
        self._resources = contextlib.ExitStack()
        self._file: CountingFile | None = None  # set by `_open`; counts the bytes read

    def _open(self, column_names: list[str] | None) -> None:
        """Open the file and learn its columns (done by `open_reader`)."""
        raise NotImplementedError

    def _batches(self) -> Iterator[RawBatch]:
        """The file's batches; `bytes_read` is set by `__iter__`."""
        raise NotImplementedError

    def __iter__(self) -> Iterator[RawBatch]:
        # One batch is held back so that the last one can report the whole file as read.
        held: RawBatch | None = None
        for batch in self._batches():
            if held is not None:
                yield held
            read = self._file.count if self._file is not None else 0
            batch.bytes_read = min(read, self.bytes_total)
            held = batch
        if held is not None:
            held.bytes_read = self.bytes_total
            yield held

    def close(self) -> None:
        """Release the file; safe to call more than once."""
        self._resources.close()

    def __enter__(self) -> Reader:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


def check_names(names: list[str], error: type[MdhubError], what: str) -> None:
    """Refuse an empty or repeated column name, naming its 1-based position."""
    seen: dict[str, int] = {}
    for position, name in enumerate(names, 1):
        if not name.strip():
            raise error(f"column {position} of the {what} has no name", {"column": position})
        if name in seen:
            raise error(
                f"column {position} of the {what} repeats the name {name!r} of column {seen[name]}",
                {"column": position, "name": name},
            )
        seen[name] = position


_COUNTING_CACHE_MAX = 1 << 18  # the longest run 0, 1, 2, … that `counting_lines` keeps
_counting: pa.Array = pa.array([], pa.int64())


def counting_lines(first: int, count: int) -> pa.Array:
    """The int64 array first, first + 1, …, first + count - 1."""
    global _counting
    counting = _counting
    if len(counting) < count <= _COUNTING_CACHE_MAX:
        counting = _counting = pc.subtract(_ones(count), pa.scalar(1, pa.int64()))
    # Arrow scalars: a Python int operand costs pyarrow a failed import on every call.
    if count <= len(counting):
        return pc.add(counting.slice(0, count), pa.scalar(first, pa.int64()))
    return pc.add(_ones(count), pa.scalar(first - 1, pa.int64()))


def _ones(count: int) -> pa.Array:
    """The int64 array 1, 2, …, count."""
    return pc.cumulative_sum(pa.repeat(pa.scalar(1, pa.int64()), count))
