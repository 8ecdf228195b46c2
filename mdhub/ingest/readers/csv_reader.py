"""CSV and TSV reader: pyarrow's streaming parser, every column read as text."""

from __future__ import annotations

import contextlib
import csv
from collections.abc import Iterator

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv

from mdhub.errors import InputError, InvalidRequest
from mdhub.ingest.model import RawBatch, RowError, clip_value
from mdhub.ingest.readers.base import Reader, check_names, counting_lines
from mdhub.ingest.readers.source import TextSource, encoding_error, find_utf8_error

# Arrow parses blocks of this size and reads up to 32 blocks ahead (not configurable), so this
# bounds the memory in use and the longest row (and header) a file may have.
BLOCK_BYTES = 512 << 10
ONE = pa.scalar(1, pa.int64())
ZERO_LENGTH = pa.scalar(0, pa.int32())  # `binary_length` of a string array is int32


class CsvReader(Reader):
    """Reads a delimited text file; a row's line is the physical line where it starts.

    The header is parsed with Python's csv module, so that its names (which arrow needs to read
    every column as text) are known before arrow starts on the rest of the stream.
    Arrow counts records (rows, including the ones its `invalid_row_handler` skips); adding the
    newlines inside each record's fields turns that into physical lines. Those are counted only
    in the columns of a batch whose text holds a newline at all: in most batches none does, and
    their rows take one line each. Blank lines are read as rows (`ignore_empty_lines=False`,
    else arrow would drop them without a trace) and then dropped: a row that spans one line and
    whose fields are all empty is taken for a blank line.
    """

    def _open(self, column_names: list[str] | None) -> None:
        options = self._options
        self._source = TextSource(self._path, options)
        self._resources.callback(self._source.close)
        self._file = self._source.file
        if options.header:
            self.columns, header_lines = self._read_header()
            check_names(self.columns, InputError, "header")
        elif column_names is None:
            raise InvalidRequest("a CSV file without a header needs column names")
        else:
            check_names(column_names, InvalidRequest, "column names")
            self.columns, header_lines = list(column_names), 0
        self._schema = pa.schema([(name, pa.string()) for name in self.columns])
        self._next_line = header_lines + 1  # physical line of arrow's next record
        self._next_record = 1  # arrow's 1-based number of its next record
        self._skipped: list[pa_csv.InvalidRow] = []  # rows arrow skipped, not yet placed
        self._rows: list[pa.RecordBatch] = []
        self._lines: list[pa.Array] = []
        self._errors: list[RowError] = []
        self._arrow: pa_csv.CSVStreamingReader | None = None
        if not self._source.stream.peek(1):
            return
        with self._arrow_errors():
            self._arrow = pa_csv.open_csv(
                self._source.stream,
                read_options=pa_csv.ReadOptions(
                    use_threads=False,  # serial parsing is what gives skipped rows a number
                    block_size=BLOCK_BYTES,
                    column_names=self.columns,
                ),
                parse_options=pa_csv.ParseOptions(
                    delimiter=options.delimiter,
                    quote_char=options.quote_char,
                    newlines_in_values=True,
                    ignore_empty_lines=False,
                    invalid_row_handler=self._skip,
                ),
                convert_options=pa_csv.ConvertOptions(
                    column_types=self._schema,
                    strings_can_be_null=False,
                    quoted_strings_can_be_null=False,
                ),
            )
        self._resources.callback(self._arrow.close)

    def _read_header(self) -> tuple[list[str], int]:
        """The header's names (leading blank lines skipped) and the physical lines it took."""
        stream = self._source.stream
        lines = size = 0

        def physical_lines() -> Iterator[str]:
            nonlocal lines, size
            while raw := stream.readline(BLOCK_BYTES):
                lines += 1
                size += len(raw)
                if size > BLOCK_BYTES:
                    raise InputError(f"the header is longer than {BLOCK_BYTES} bytes")
                try:
                    text = raw.decode()
                except UnicodeDecodeError as error:
                    raise encoding_error(lines, error.start + 1, raw[error.start], None) from None
                yield text

        options = self._options
        records = csv.reader(
            physical_lines(), delimiter=options.delimiter, quotechar=options.quote_char
        )
        try:
            for record in records:
                if record:
                    return record, lines
        except csv.Error as error:
            raise InputError(f"the header cannot be parsed: {error}") from None
        raise InputError("the file is empty")

    def _skip(self, row: pa_csv.InvalidRow) -> str:
        self._skipped.append(row)
        return "skip"

    @contextlib.contextmanager
    def _arrow_errors(self) -> Iterator[None]:
        """Turn arrow's parse errors into InputErrors (locating a UTF-8 error ourselves)."""
        try:
            yield
        except pa.ArrowInvalid as error:
            message = str(error)
            if "invalid UTF8" in message:
                located = find_utf8_error(self._path, self._options)
                raise (located or InputError(f"the file is not UTF-8: {message}")) from None
            if "straddl" in message:
                raise InputError(f"a row is longer than the limit of {BLOCK_BYTES} bytes") from None
            raise InputError(f"the CSV file cannot be parsed: {message}") from None

    def _batches(self) -> Iterator[RawBatch]:
        if self._arrow is None:
            return
        while True:
            with self._arrow_errors():
                try:
                    batch = self._arrow.read_next_batch()
                except StopIteration:
                    break
            self._add(batch)
            yield from self._cut(final=False)
        # Rows skipped after the last good row.
        self._add(pa.RecordBatch.from_pylist([], schema=self._schema))
        yield from self._cut(final=True)

    def _add(self, batch: pa.RecordBatch) -> None:
        """Give each row its physical line, place the rows arrow skipped, drop blank lines."""
        rows = batch.num_rows
        # Only the columns whose text holds a newline can make a row span more than one line;
        # a byte search over each column's data finds them far faster than counting per value.
        multiline = [column for column in batch.columns if _may_hold_newline(column)]
        if multiline:
            spans = pa.repeat(ONE, rows)  # physical lines of each row
            for column in multiline:
                spans = pc.add(spans, pc.count_substring(column, "\n").cast(pa.int64()))
            ends = pc.cumulative_sum(spans)
            lines = pc.add(pc.subtract(ends, spans), pa.scalar(self._next_line, pa.int64()))
            spanned = pc.sum(spans).as_py() or 0
        else:  # one line per row
            lines = counting_lines(self._next_line, rows)
            ends, spanned = None, rows
        skipped_lines = placed = 0
        steps: list[tuple[int, int]] = []  # (good rows before it, lines skipped so far)
        for row in self._skipped:
            before = row.number - self._next_record - placed
            if before > rows:
                break
            # Lines taken by the good rows before it.
            start = before if ends is None else ends[before - 1].as_py() if before else 0
            self._errors.append(
                RowError(
                    self._part,
                    self._next_line + start + skipped_lines,
                    None,
                    clip_value(row.text),
                    f"expected {row.expected_columns} fields, found {row.actual_columns}",
                )
            )
            skipped_lines += 1 + row.text.count("\n")
            steps.append((before, skipped_lines))
            placed += 1
        del self._skipped[:placed]
        if steps:
            lines = pc.add(lines, _step_function(steps, rows))
        self._next_line += spanned + skipped_lines
        self._next_record += rows + placed
        blank = _blank_rows(batch)
        if blank is not None:
            keep = pc.invert(blank)
            batch, lines = batch.filter(keep), lines.filter(keep)
        self._rows.append(batch)
        self._lines.append(lines)

    def _cut(self, *, final: bool) -> Iterator[RawBatch]:
        """Batches of `batch_rows` rows from what was added; with `final`, the rest too."""
        size = self._options.batch_rows
        pending = sum(batch.num_rows for batch in self._rows)
        while pending >= size or len(self._errors) >= size or (final and (pending or self._errors)):
            table = pa.Table.from_batches(self._rows, self._schema)
            lines = pa.chunked_array(self._lines, pa.int64())
            take = min(size, pending)
            head = table.slice(0, take)
            yield RawBatch(
                {name: head.column(i).combine_chunks() for i, name in enumerate(self.columns)},
                lines.slice(0, take).combine_chunks(),
                self._errors[:size],
            )
            self._rows = table.slice(take).to_batches()
            self._lines = lines.slice(take).chunks
            del self._errors[:size]
            pending -= take


def _may_hold_newline(column: pa.Array) -> bool:
    """Whether some value of a string column may hold a newline: its data buffer has one (the
    buffer may extend past the array's values, which can only give a false alarm)."""
    data = column.buffers()[2]
    return data is not None and b"\n" in data.to_pybytes()


def _blank_rows(batch: pa.RecordBatch) -> pa.Array | None:
    """The mask of rows whose fields are all empty (blank lines), or None when there is none.

    Such a row spans one line, as its fields hold no newline. Most files have a column that is
    never empty, which one look at its shortest value shows.
    """
    blank: pa.Array | None = None
    for column in batch.columns:
        length = pc.binary_length(column)
        if (pc.min(length).as_py() or 0) > 0:
            return None
        empty = pc.equal(length, ZERO_LENGTH)
        blank = empty if blank is None else pc.and_(blank, empty)
    return blank if blank is not None and pc.any(blank).as_py() else None


def _step_function(steps: list[tuple[int, int]], size: int) -> pa.Array:
    """An int64 array of `size` that is 0 up to the first step's index, then each step's value
    from its index on."""
    pieces = []
    position = value = 0
    for index, next_value in steps:
        pieces.append(pa.repeat(pa.scalar(value, pa.int64()), index - position))
        position, value = index, next_value
    pieces.append(pa.repeat(pa.scalar(value, pa.int64()), size - position))
    return pa.concat_arrays(pieces)
