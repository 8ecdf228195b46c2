"""Byte sources for the readers: counted, gunzipped within a limit, transcoded to UTF-8."""

from __future__ import annotations

import codecs
import gzip
import io
import zlib
from pathlib import Path

from mdhub.errors import InputError, InvalidRequest
from mdhub.ingest.model import ReadOptions

CHUNK_BYTES = 1 << 20
GZIP_MAGIC = b"\x1f\x8b"
COMPRESSIONS = (None, "gzip", "none")


def text_encoding(name: str | None) -> str | None:
    """The codec to transcode from, or None when the file is UTF-8 (the default)."""
    if name is None:
        return None
    try:
        info = codecs.lookup(name)
    except LookupError:
        raise InvalidRequest(f"unknown encoding {name!r}", {"encoding": name}) from None
    if not getattr(info, "_is_text_encoding", True):
        raise InvalidRequest(f"{name!r} is not a text encoding", {"encoding": name})
    return None if info.name in ("utf-8", "utf-8-sig") else info.name


def is_gzip(path: Path, compression: str | None) -> bool:
    """Whether to gunzip the file: forced, disabled, or detected from its magic bytes."""
    if compression is not None:
        return compression == "gzip"
    with path.open("rb") as file:
        return file.read(len(GZIP_MAGIC)) == GZIP_MAGIC


def encoding_error(line: int, column: int, byte: int, encoding: str | None) -> InputError:
    """The error for the first byte that does not decode (`encoding` None: undeclared UTF-8)."""
    where = f"line {line}, column {column}"
    if encoding is None:
        message = (
            f"{where}: invalid UTF-8 byte 0x{byte:02x}; the file is not UTF-8 — "
            "declare its encoding (for example encoding=latin-1)"
        )
    else:
        message = f"{where}: byte 0x{byte:02x} is not valid {encoding}"
    return InputError(
        message,
        {"line": line, "column": column, "byte": f"0x{byte:02x}", "encoding": encoding or "utf-8"},
    )


class CountingFile(io.RawIOBase):
    """The file on disk; `count` is how many of its bytes were read so far."""

    def __init__(self, path: Path) -> None:
        super().__init__()
        try:
            self._file = path.open("rb", buffering=0)
        except OSError as error:
            raise InputError(f"the file cannot be read: {error.strerror}") from None
        self.count = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        return self._file.seek(offset, whence)

    def tell(self) -> int:
        return self._file.tell()

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        size = self._file.readinto(buffer) or 0
        self.count += size
        return size

    def close(self) -> None:
        self._file.close()
        super().close()


class _Gunzipped(io.RawIOBase):
    """The decompressed bytes of a gzip file, refused past `limit` bytes."""

    def __init__(self, source: CountingFile, limit: int) -> None:
        super().__init__()
        self._gzip = gzip.GzipFile(fileobj=source, mode="rb")
        self._limit = limit
        self._total = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        try:
            size = self._gzip.readinto(buffer)
        except (OSError, EOFError, zlib.error) as error:
            raise InputError(f"the gzip data is damaged: {error}") from None
        self._total += size
        if self._total > self._limit:
            raise InputError(
                f"the decompressed file is larger than the limit of {self._limit} bytes",
                {"limit": self._limit},
            )
        return size

    def close(self) -> None:
        self._gzip.close()
        super().close()


class _Transcoder(io.RawIOBase):
    """Decodes `encoding` and serves UTF-8; a byte that does not decode is an InputError that
    names its line and byte column. `declared` False means the file was assumed to be UTF-8."""

    def __init__(self, inner: io.RawIOBase, encoding: str, *, declared: bool) -> None:
        super().__init__()
        self._inner = inner
        self._encoding = encoding
        self._declared = declared
        self._decoder = codecs.getincrementaldecoder(encoding)()
        self._bom_bytes = len("".encode(encoding))
        self._line = 1
        self._column = 0  # bytes of the current line decoded so far
        self._out = memoryview(b"")
        self._done = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        while not self._out and not self._done:
            self._fill()
        size = min(len(buffer), len(self._out))
        buffer[:size] = self._out[:size]
        self._out = self._out[size:]
        return size

    def _fill(self) -> None:
        chunk = self._inner.read(CHUNK_BYTES) or b""
        final = not chunk
        try:
            text = self._decoder.decode(chunk, final)
        except UnicodeDecodeError as error:
            held = max(0, len(error.object) - len(chunk))  # bytes kept from the previous chunk
            self._advance(self._decoder.decode(chunk[: max(0, error.start - held)]))
            encoding = self._encoding if self._declared else None
            raise encoding_error(
                self._line, self._column + 1, error.object[error.start], encoding
            ) from None
        self._advance(text)
        self._out = memoryview(text.encode())
        self._done = final

    def _advance(self, text: str) -> None:
        newlines = text.count("\n")
        if newlines:
            self._line += newlines
            self._column = self._width(text[text.rindex("\n") + 1 :])
        else:
            self._column += self._width(text)

    def _width(self, text: str) -> int:
        return len(text.encode(self._encoding, "replace")) - self._bom_bytes

    def close(self) -> None:
        self._inner.close()
        super().close()


class TextSource:
    """A text file as a buffered stream of UTF-8 bytes without BOM: gunzipped if need be,
    transcoded from a declared encoding. `file.count` is the progress on disk."""

    def __init__(self, path: Path, options: ReadOptions, *, check_utf8: bool = False) -> None:
        encoding = text_encoding(options.encoding)
        self.file = CountingFile(path)
        raw: io.RawIOBase = self.file
        try:
            if is_gzip(path, options.compression):
                raw = _Gunzipped(self.file, options.max_decompressed_bytes)
            if encoding is not None:
                raw = _Transcoder(raw, encoding, declared=True)
            elif check_utf8:
                raw = _Transcoder(raw, "utf-8-sig", declared=False)
            self.stream = io.BufferedReader(raw, CHUNK_BYTES)
            untouched = encoding is None and not check_utf8  # else the decoder drops the BOM
            if untouched and self.stream.peek(3)[:3] == codecs.BOM_UTF8:
                self.stream.read(3)
        except BaseException:
            raw.close()
            self.file.close()
            raise

    def close(self) -> None:
        self.stream.close()
        self.file.close()


def find_utf8_error(path: Path, options: ReadOptions) -> InputError | None:
    """Re-read a file assumed to be UTF-8 to find where its first invalid byte is."""
    source = TextSource(path, options, check_utf8=True)
    try:
        while source.stream.read(CHUNK_BYTES):
            pass
    except InputError as error:
        return error
    finally:
        source.close()
    return None
