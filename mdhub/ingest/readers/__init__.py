"""Streaming file readers (CSV/TSV, NDJSON, JSON array, Parquet; gzipped or not): `open_reader`."""

from __future__ import annotations

from pathlib import Path

from mdhub.errors import InvalidRequest
from mdhub.ingest.model import FORMATS, ReadOptions
from mdhub.ingest.readers.base import Reader
from mdhub.ingest.readers.csv_reader import CsvReader
from mdhub.ingest.readers.json_reader import JsonArrayReader, NdjsonReader
from mdhub.ingest.readers.parquet_reader import ParquetReader
from mdhub.ingest.readers.source import COMPRESSIONS, text_encoding

__all__ = ["Reader", "open_reader"]

_READERS: dict[str, type[Reader]] = {
    "csv": CsvReader,
    "ndjson": NdjsonReader,
    "json": JsonArrayReader,
    "parquet": ParquetReader,
}


def _check(options: ReadOptions) -> None:
    """Refuse options that cannot be carried out."""
    if options.format not in FORMATS:
        raise InvalidRequest(
            f"unknown format {options.format!r}; the formats are {', '.join(FORMATS)}",
            {"format": options.format, "formats": list(FORMATS)},
        )
    if options.compression not in COMPRESSIONS:
        raise InvalidRequest(
            f"unknown compression {options.compression!r}; use 'gzip', 'none' or leave it unset",
            {"compression": options.compression},
        )
    if options.format == "parquet" and options.compression == "gzip":
        raise InvalidRequest("a Parquet file cannot be gzip-compressed (it compresses itself)")
    if options.batch_rows < 1:
        raise InvalidRequest("batch_rows must be at least 1", {"batch_rows": options.batch_rows})
    text_encoding(options.encoding)
    if options.format == "csv":
        for name, char in (("delimiter", options.delimiter), ("quote_char", options.quote_char)):
            if len(char) != 1 or char in "\r\n":
                message = f"{name} must be one character, not a line break"
                raise InvalidRequest(message, {name: char})
        if options.delimiter == options.quote_char:
            raise InvalidRequest("delimiter and quote_char must differ")


def open_reader(
    path: Path,
    options: ReadOptions,
    *,
    column_names: list[str] | None = None,
    part: str | None = None,
) -> Reader:
    """Open `path` for reading with `options`; `columns` is known on return.

    `column_names` names the columns of a CSV file read with `header=False` (it is not used
    otherwise); `part` is what row errors name as their part (default: the file's name).
    """
    _check(options)
    reader = _READERS[options.format](path, options, part or path.name)
    try:
        reader._open(column_names)
    except BaseException:
        reader.close()
        raise
    return reader
