"""Read a CSV file into a header and rows, or say in one line why it cannot be read.

Size limit, compression, encoding (UTF-8 with or without a BOM; UTF-16, Latin-1, binaries and
workbooks are named as such), the separator and the quoting. Row checks are `univar.ingest.validate`'s.
The file is read as a stream: rows come one at a time, decoded a chunk at a time, so reading it
never holds a second copy of it, nor a list of all its rows.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import io
import itertools
import unicodedata
import zlib
from collections.abc import Iterator
from typing import BinaryIO

from univar import policy
from univar.errors import UserError

CHUNK = 1 << 20  # bytes decoded at a time
HEAD = 8192  # bytes looked at to tell text from UTF-16, workbooks and binaries


def max_upload_bytes() -> int:
    """The operator's one limit for the app and the CLI: policy.max_upload_mb."""
    return policy.load(app=False).max_upload_bytes


def max_upload_mb() -> int:
    """The same limit in MB, as help texts state it."""
    return policy.load(app=False).max_upload_mb


def human_size(n: int) -> str:
    for unit in ("bytes", "KB", "MB"):
        if n < 1024 or unit == "MB":
            return f"{n:,} bytes" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    return ""


def too_big(size: int, limit: int) -> str:
    return (
        f"the file is {human_size(size)}, over the {human_size(limit)} limit "
        "(split the file, or raise the server's max_upload_mb, UNIVAR_MAX_UPLOAD_MB)"
    )


class _Counted(io.RawIOBase):
    """The file's (unpacked) bytes, counted: a gzip bomb stops at the limit, damage is named."""

    def __init__(self, inner: BinaryIO, max_bytes: int, gz: bool):
        self.inner, self.max_bytes, self.gz, self.count = inner, max_bytes, gz, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        try:
            n = self.inner.readinto(buffer)
        except (OSError, EOFError, zlib.error) as exc:
            if not self.gz:
                raise
            raise UserError(f"the file looks gzip-compressed but is damaged ({exc})") from None
        self.count += n
        if self.gz and self.count > self.max_bytes:
            raise UserError(f"the file unpacks to over the {human_size(self.max_bytes)} limit")
        return n


def _size(stream: BinaryIO) -> int:
    here = stream.tell()
    size = stream.seek(0, io.SEEK_END)
    stream.seek(here)
    return size


def _check_head(head: bytes, more: bool) -> None:
    if not head.strip() and not more:
        raise UserError("the file is empty")
    if head[:2] in (b"\xff\xfe", b"\xfe\xff") or _looks_utf16(head[:400]):
        raise UserError(
            "the file is UTF-16 encoded; UTF-8 is expected (in Excel: Save As 'CSV UTF-8')"
        )
    if head[:4] == b"PK\x03\x04":
        raise UserError(
            "the file is an Excel workbook or a zip archive, not a CSV; "
            "save it as 'CSV UTF-8 (comma delimited)'"
        )
    # text never holds NUL; a stray control character is a cell's problem
    if b"\x00" in head or sum(b < 9 or 13 < b < 32 for b in head) > len(head) // 20:
        raise UserError("the file is binary, not text; upload a CSV file")


def _not_utf8(stream: BinaryIO) -> UserError:
    """Where the first byte that is not UTF-8 is: one more pass, only when there is one."""
    stream.seek(0)
    decoder = codecs.getincrementaldecoder("utf-8")()
    line = 1
    while True:
        chunk = stream.read(CHUNK)
        try:
            decoder.decode(chunk, final=not chunk)
        except UnicodeDecodeError as exc:
            # exc.object is the decoder's few held-back bytes (never a newline) plus the chunk
            bad = exc.object
            line += bad[: exc.start].count(b"\n")
            return UserError(
                f"the file is not UTF-8 (byte 0x{bad[exc.start]:02X} on line {line}; it may be "
                "Latin-1 or Windows-1252); UTF-8 is expected: save it as 'CSV UTF-8'"
            )
        if not chunk:
            return UserError("the file is not UTF-8; UTF-8 is expected: save it as 'CSV UTF-8'")
        line += chunk.count(b"\n")


def _looks_utf16(sample: bytes) -> bool:
    """UTF-16 without a BOM: every other byte of ASCII text is NUL."""
    return len(sample) >= 8 and any(
        half.count(0) > 0.9 * len(half) for half in (sample[0::2], sample[1::2])
    )


class Table:
    """An opened CSV file: its header and separator at once, its rows as they are read.

    `rows` yields (spreadsheet row number, cells) and raises UserError, naming the line, for
    bad quoting or a byte that is not UTF-8 wherever it comes."""

    def __init__(self, header: list[str], delimiter: str, rows: Iterator[tuple[int, list[str]]]):
        self.header, self.delimiter, self.rows = header, delimiter, rows


def open_csv(source: bytes | BinaryIO, max_bytes: int) -> Table:
    """A CSV from its bytes or a seekable binary file (read from its start); raises UserError
    with the one reason it cannot be read. Bytes are not copied: a BytesIO over them shares
    their buffer."""
    stream = io.BytesIO(source) if isinstance(source, bytes) else source
    size = _size(stream)
    if size > max_bytes:
        raise UserError(too_big(size, max_bytes))
    gz = stream.read(2) == b"\x1f\x8b"  # the paper's code also reads .csv.gz
    stream.seek(0)
    if gz:
        stream = gzip.GzipFile(fileobj=stream, mode="rb")
    counted = _Counted(stream, max_bytes, gz)
    head = bytearray(HEAD + 1)
    got = 0
    while got < len(head) and (n := counted.readinto(memoryview(head)[got:])):
        got += n
    _check_head(bytes(head[: min(got, HEAD)]), got > HEAD)
    stream.seek(0)
    counted.count = 0
    text = io.TextIOWrapper(io.BufferedReader(counted, CHUNK), encoding="utf-8-sig", newline="")
    try:
        first = text.readline()
    except UnicodeDecodeError:
        raise _not_utf8(stream) from None
    delim = max((",", ";", "\t"), key=first.count)
    # the csv module's own cap (128 KB a cell) would stop huge cells before they can be
    # reported by row and column; the file size limit already bounds them
    csv.field_size_limit(max(csv.field_size_limit(), max_bytes + 1))
    reader = csv.reader(itertools.chain([first], text), delimiter=delim, strict=True)
    rows = _rows(reader, stream)
    header = next(rows, None)
    if header is None:
        raise UserError("the file is empty")
    return Table([h.strip().lower() for h in header[1]], delim, rows)


def _rows(reader, stream: BinaryIO) -> Iterator[tuple[int, list[str]]]:
    """The header (as row 1), then each row that is not blank, numbered from 2."""
    number = 1
    try:
        yield 1, next(reader)
        for cells in reader:
            if cells and any(c.strip() for c in cells):
                number += 1
                yield number, cells
    except StopIteration:
        return
    except UnicodeDecodeError:
        raise _not_utf8(stream) from None
    except csv.Error as exc:
        where = f"line {reader.line_num}"
        if "unexpected end of data" in str(exc):
            raise UserError(f"{where}: a quoted cell is never closed") from None
        raise UserError(
            f"{where}: bad quoting ({exc}); put the whole cell in quotes and double any quote "
            'inside it ("")'
        ) from None


FORMULA_START = ("=", "+", "-", "@")
_INVISIBLE = ("Cc", "Cf")  # control and format characters (U+200B, U+FEFF, bidi marks ...)


def formula_start(text: str) -> str | None:
    """The character that makes `text` run as a formula in a spreadsheet, or None. One rule for
    the upload check (`ingest.validate`) and the CSV export (`output.export`): a spreadsheet skips leading blanks,
    and a tab or an invisible character is easy to slip in front of an `=`, so the test looks
    at the first character that is neither whitespace nor a control or format character."""
    for ch in text:
        if ch in FORMULA_START:
            return ch
        if ch.isalnum() or not (ch.isspace() or unicodedata.category(ch) in _INVISIBLE):
            return None
    return None
