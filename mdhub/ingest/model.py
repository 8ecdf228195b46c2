"""Values that travel through the ingest pipeline: read options, raw batches, row errors."""

from __future__ import annotations

from dataclasses import dataclass, field

import pyarrow as pa

FORMATS = ("csv", "ndjson", "json", "parquet")
# Name of the column that carries each row's source line through validation and staging.
LINE_COLUMN = "_mdhub_line"
MAX_STORED_ERRORS = 1000
MAX_ERROR_VALUE_CHARS = 200

# The in-memory (Arrow) type of each Table Schema type once a value is validated.
ARROW_TYPES: dict[str, pa.DataType] = {
    "string": pa.string(),
    "integer": pa.int64(),
    "number": pa.float64(),
    "boolean": pa.bool_(),
    "date": pa.date32(),
    "datetime": pa.timestamp("us", tz="UTC"),
    "time": pa.time64("us"),
    "year": pa.int64(),
    "duration": pa.string(),
    "object": pa.string(),  # canonical JSON text
    "array": pa.string(),  # canonical JSON text
    "any": pa.string(),
}


@dataclass(frozen=True)
class ReadOptions:
    """How to read one file. `compression=None` detects gzip from the file's first bytes."""

    format: str = "csv"
    compression: str | None = None
    encoding: str | None = None
    delimiter: str = ","
    quote_char: str = '"'
    header: bool = True
    batch_rows: int = 16_384
    max_decompressed_bytes: int = 100 * 1024**3
    # JSON only: where the records are; "records.item" reads `{"records": [...]}` bodies.
    json_items: str = "item"


@dataclass(frozen=True)
class RowError:
    """One failed check: where (part, line, column), on what value, and why."""

    part: str
    line: int | None
    column: str | None
    value: str | None
    message: str

    def to_dict(self) -> dict[str, object]:
        return {
            "part": self.part,
            "line": self.line,
            "column": self.column,
            "value": self.value,
            "message": self.message,
        }


def clip_value(value: object) -> str | None:
    """A value as it is shown in an error: text (a NUL shown as `\u0000`, which no database
    text can hold), cut to a readable length."""
    if value is None:
        return None
    text = (value if isinstance(value, str) else str(value)).replace("\x00", "\\u0000")
    if len(text) > MAX_ERROR_VALUE_CHARS:
        return text[:MAX_ERROR_VALUE_CHARS] + "…"
    return text


@dataclass
class RawBatch:
    """Rows as read, before validation.

    `columns` maps each source column name (in file order) to an Arrow array: strings for CSV and
    JSON input (JSON scalars rendered as text, objects and arrays as JSON), native types for
    Parquet. `lines` holds each row's line number (CSV, NDJSON) or record number (JSON array,
    Parquet), 1-based. `errors` are rows that could not be split into columns at all; they are not
    in `columns`. `bytes_read` counts source bytes consumed so far (compressed bytes for gzip).
    """

    columns: dict[str, pa.Array]
    lines: pa.Array
    errors: list[RowError] = field(default_factory=list)
    bytes_read: int = 0

    @property
    def num_rows(self) -> int:
        return len(self.lines)


@dataclass
class ErrorCollector:
    """Keeps the first `limit` row errors in full and counts the rest."""

    limit: int = MAX_STORED_ERRORS
    errors: list[RowError] = field(default_factory=list)
    count: int = 0

    def add(self, error: RowError) -> None:
        self.count += 1
        if len(self.errors) < self.limit:
            self.errors.append(error)

    def mark(self) -> tuple[int, int]:
        """A point to `reset` to, to forget what was collected after it."""
        return len(self.errors), self.count

    def reset(self, mark: tuple[int, int]) -> None:
        del self.errors[mark[0] :]
        self.count = mark[1]

    @property
    def room(self) -> int:
        """How many more errors would be kept in full."""
        return max(0, self.limit - len(self.errors))
