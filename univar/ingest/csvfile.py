"""Read a CSV file's bytes into a header and rows, or say in one line why it cannot be read.

Size limit, compression, encoding (UTF-8 with or without a BOM; UTF-16, Latin-1, binaries and
workbooks are named as such), the separator and the quoting. Row checks are `univar.validate`'s.
"""

from __future__ import annotations

import csv
import gzip
import io
import os
import tomllib

from univar.errors import UserError
from univar.paths import PROJECT_ROOT

DEFAULT_MAX_MB = 50


def max_upload_bytes() -> int:
    """UNIVAR_MAX_UPLOAD_MB, else .streamlit/config.toml server.maxUploadSize, else 50 MB.

    Reading Streamlit's own setting keeps the CLI and the browser at one limit."""
    env = os.environ.get("UNIVAR_MAX_UPLOAD_MB")
    if env:
        try:
            return int(float(env) * 1024 * 1024)
        except ValueError:
            raise UserError(f"UNIVAR_MAX_UPLOAD_MB must be a number of MB, got {env!r}") from None
    conf = PROJECT_ROOT / ".streamlit" / "config.toml"
    try:
        mb = tomllib.loads(conf.read_text("utf-8")).get("server", {}).get("maxUploadSize")
    except (OSError, tomllib.TOMLDecodeError):
        mb = None
    return int((mb if isinstance(mb, int | float) and mb > 0 else DEFAULT_MAX_MB) * 1024 * 1024)


def human_size(n: int) -> str:
    for unit in ("bytes", "KB", "MB"):
        if n < 1024 or unit == "MB":
            return f"{n:,} bytes" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    return ""


def too_big(size: int, limit: int) -> str:
    return (
        f"the file is {human_size(size)}, over the {human_size(limit)} limit "
        "(raise UNIVAR_MAX_UPLOAD_MB, or split the file)"
    )


def decode(data: bytes, max_bytes: int) -> str:
    """Bytes -> text, or the one reason it cannot be read. UTF-8, with or without a BOM."""
    if len(data) > max_bytes:
        raise UserError(too_big(len(data), max_bytes))
    if data[:2] == b"\x1f\x8b":  # the paper's code also reads .csv.gz
        try:
            with gzip.GzipFile(fileobj=io.BytesIO(data)) as gz:
                data = gz.read(max_bytes + 1)
        except (OSError, EOFError) as exc:
            raise UserError(f"the file looks gzip-compressed but is damaged ({exc})") from None
        if len(data) > max_bytes:
            raise UserError(f"the file unpacks to over the {human_size(max_bytes)} limit")
    if not data.strip():
        raise UserError("the file is empty")
    if data[:2] in (b"\xff\xfe", b"\xfe\xff") or _looks_utf16(data[:400]):
        raise UserError(
            "the file is UTF-16 encoded; UTF-8 is expected (in Excel: Save As 'CSV UTF-8')"
        )
    if data[:4] == b"PK\x03\x04":
        raise UserError(
            "the file is an Excel workbook or a zip archive, not a CSV; "
            "save it as 'CSV UTF-8 (comma delimited)'"
        )
    head = data[:8192]  # text never holds NUL; a stray control character is a cell's problem
    if b"\x00" in head or sum(b < 9 or 13 < b < 32 for b in head) > len(head) // 20:
        raise UserError("the file is binary, not text; upload a CSV file")
    try:
        return data.decode("utf-8-sig")  # UTF-8, then UTF-8 with a BOM, in one step
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise UserError(
            f"the file is not UTF-8 (byte 0x{data[exc.start]:02X} on line {line}; it may be "
            "Latin-1 or Windows-1252); UTF-8 is expected: save it as 'CSV UTF-8'"
        ) from None


def _looks_utf16(sample: bytes) -> bool:
    """UTF-16 without a BOM: every other byte of ASCII text is NUL."""
    return len(sample) >= 8 and any(
        half.count(0) > 0.9 * len(half) for half in (sample[0::2], sample[1::2])
    )


def _delimiter(text: str) -> str:
    header = text.split("\n", 1)[0]
    return max((",", ";", "\t"), key=header.count)


def parse(text: str) -> tuple[list[str], list[tuple[int, list[str]]], str]:
    """Header and (spreadsheet row number, cells); malformed quoting raises UserError."""
    delim = _delimiter(text)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delim, strict=True)
    # the csv module's own cap (128 KB a cell) would stop huge cells before they can be
    # reported by row and column; the file size limit already bounds them
    csv.field_size_limit(max(csv.field_size_limit(), len(text) + 1))
    records: list[tuple[int, list[str]]] = []
    try:
        header = next(reader)
        for cells in reader:
            if cells and any(c.strip() for c in cells):
                records.append((len(records) + 2, cells))
    except csv.Error as exc:
        where = f"line {reader.line_num}"
        if "unexpected end of data" in str(exc):
            raise UserError(f"{where}: a quoted cell is never closed") from None
        raise UserError(
            f"{where}: bad quoting ({exc}); put the whole cell in quotes and double any quote "
            'inside it ("")'
        ) from None
    return [h.strip().lower() for h in header], records, delim
