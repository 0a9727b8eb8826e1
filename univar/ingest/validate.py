"""Check a QA CSV completely before anything is written: bytes -> normalised rows + problems.

Pure (no database): `validate_bytes` reads the whole file, as a stream, and collects every
problem it can name, each with its row and column, so a user fixes a file in one round; a few
examples of each kind, then one line that counts the rest, so a hostile file cannot flood the
page. Rows are numbered as a spreadsheet shows them: the header is row 1, the first QA is row 2.
"""

from __future__ import annotations

import difflib
import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from univar import ids
from univar.catalog import registry
from univar.errors import UserError
from univar.ingest.csvfile import formula_start, max_upload_bytes, open_csv

REQUIRED = ("question", "answer", "model", "language")
OPTIONAL = ("question_en", "answer_en", "value", "framework", "sample", "question_id")
ALIASES = {"lang": "language"}  # the UniVaR paper's files say `lang`
PAPER_EXTRA = ("mt_lang",)  # the paper's translated files mark English text with mt_lang=eng
MAX_FIELD_CHARS = 50_000  # far beyond any encoder's window; guards memory and the preview
MAX_PER_KIND = 8  # examples of one kind of problem before "... and N more"
MAX_HEADER_PROBLEMS = 8  # problems with the header before "... and N more"
MAX_NAMES_SHOWN = 20  # column names listed in one message
MAX_SAMPLE = 9999  # a sample number is small: it is a repeat count, not an id
_SAMPLE = re.compile(r"[0-9]{1,4}")  # ASCII only: str.isdigit also takes '²' and '٣'
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
SHARED_COLUMNS = ("question", "question_en", "model", "value", "framework", "question_id")
TEXT_COLUMNS = (
    "question",
    "answer",
    "question_en",
    "answer_en",
    "model",
    "value",
    "framework",
    "question_id",
)


@dataclass
class Validation:
    """What a file would import as. `errors` block; `confirm` needs the user's yes."""

    rows: list[dict] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    confirm: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    source: str = ""
    merged: bool = False  # several files: each message already names its file
    dropped: int = 0  # exact duplicate rows left out (skip_duplicates)
    duplicates: int = 0  # rows refused as repeats of an earlier row

    @property
    def ok(self) -> bool:
        return not self.errors

    def check(self, accept_formulas: bool = False) -> None:
        """Raise UserError (first message, and how many more) unless the file may go in."""
        blocking = self.errors + ([] if accept_formulas else self.confirm)
        if blocking:
            more = f" (+{len(blocking) - 1} more problems)" if len(blocking) > 1 else ""
            where = "" if self.merged else f"{self.source}: "
            raise UserError(f"{where}{blocking[0]}{more}")

    def frame(self):
        import pandas as pd

        return pd.DataFrame(self.rows, columns=ROW_KEYS)

    def summary(self) -> dict:
        """Counts for the confirmation screen and the CLI."""
        by_identity: dict[tuple[str, str], int] = {}
        for r in self.rows:
            by_identity[(r["model"], r["language"])] = (
                by_identity.get((r["model"], r["language"]), 0) + 1
            )
        return {
            "rows": len(self.rows),
            "models": sorted({m for m, _ in by_identity if m}),
            "languages": sorted({lang for _, lang in by_identity if lang}),
            "identities": {ids.identity(m, lang): n for (m, lang), n in by_identity.items()},
            "untranslated": sum(1 for r in self.rows if needs_translation(r)),
            "with_value": sum(1 for r in self.rows if r["value_code"]),
        }


# the cells beside the duplicate key (model, language, question, answer, sample): an exact
# duplicate matches in these too; `translator` follows from them and the paper's mt_lang
OTHER_COLUMNS = ("question_en", "answer_en", "value", "framework", "question_id")
_OTHER_CELLS = ("question_en", "answer_en", "value_code", "framework", "question_id", "translator")

# one imported row: qa_pairs columns, plus the spreadsheet row number it came from
ROW_KEYS = tuple(
    "row model language question answer question_en answer_en value_code framework sample "
    "question_id translator".split()
)


def needs_translation(row: dict) -> bool:
    return row["language"] != "eng" and not (row["question_en"] and row["answer_en"])


class _Problems:
    """Collects messages per kind and keeps a few examples of each."""

    def __init__(self) -> None:
        self.kinds: dict[str, list[str]] = {}
        self.counts: dict[str, int] = {}

    def add(self, kind: str, message: str) -> None:
        self.counts[kind] = self.counts.get(kind, 0) + 1
        if self.counts[kind] <= MAX_PER_KIND:
            self.kinds.setdefault(kind, []).append(message)

    def messages(self) -> list[str]:
        out = []
        for kind, msgs in self.kinds.items():
            out += msgs
            extra = self.counts[kind] - len(msgs)
            if extra:
                out.append(f"... and {extra} more rows with the same kind of problem ({kind})")
        return out


def _short(name: str) -> str:
    return repr(name if len(name) <= 40 else name[:40] + "...")


def _names(names: list[str]) -> str:
    """Column names for a message: the first few, then how many more."""
    shown = ", ".join(n if len(n) <= 40 else n[:40] + "..." for n in names[:MAX_NAMES_SHOWN])
    more = len(names) - MAX_NAMES_SHOWN
    return (shown or "none") + (f" and {more:,} more" if more > 0 else "")


def _columns(header: list[str], layout: str, model: str | None, problems: list[str]) -> dict:
    """Column name -> index; problems with the header go into `problems`: the worst first, at
    most MAX_HEADER_PROBLEMS, then one line that counts the rest."""
    index: dict[str, int] = {}
    known = REQUIRED + OPTIONAL + (PAPER_EXTRA if layout == "univar-paper" else ())
    unknown, twice, nameless = [], [], []
    for i, name in enumerate(header):
        name = ALIASES.get(name, name)
        if not name:
            nameless.append(i + 1)
        elif name in index:
            twice.append(name)
        elif name in known:
            index[name] = i
        else:
            unknown.append(name)
    found: list[tuple[str, str]] = []  # (what, message)
    hints = unknown[:200]  # a typo sits among a file's few columns, not among thousands
    needed = [c for c in REQUIRED if not (c == "model" and model)]
    for col in needed:
        if col not in index:
            close = difflib.get_close_matches(col, hints, n=1, cutoff=0.75)
            hint = f" ({_short(close[0])} looks like a misspelling of it)" if close else ""
            found.append(
                (
                    "missing columns",
                    f"missing required column {col!r}{hint}; columns found: "
                    f"{_names([h for h in header if h])}",
                )
            )
    for name in hints:
        close = difflib.get_close_matches(name, OPTIONAL + REQUIRED, n=1, cutoff=0.75)
        if close and (close[0] in index or close[0] in needed):
            close = []  # beside the real column it is just extra; a missing one is reported
        if close and layout == "csv":  # a typo would silently drop data: stop here
            found.append(
                ("misspelt columns", f"unknown column {_short(name)}: did you mean {close[0]!r}?")
            )
    found += [("repeated columns", f"column {n!r} appears twice in the header") for n in twice]
    found += [("columns without a name", f"column {i} has no name in the header") for i in nameless]
    problems += [message for _, message in found[:MAX_HEADER_PROBLEMS]]
    rest: dict[str, int] = {}
    for what, _ in found[MAX_HEADER_PROBLEMS:]:
        rest[what] = rest.get(what, 0) + 1
    if rest:
        counts = ", ".join(f"{n:,} {what}" for what, n in rest.items())
        problems.append(f"... and {sum(rest.values()):,} more problems with the header ({counts})")
    index["_unknown"] = unknown  # type: ignore[assignment]
    return index


def validate_bytes(
    data: bytes | BinaryIO,
    *,
    name: str = "upload.csv",
    layout: str = "csv",
    model: str | None = None,
    max_bytes: int | None = None,
    skip_duplicates: bool = False,
) -> Validation:
    """Every problem of one file, from its bytes or a seekable binary file, read as a stream.
    layout: 'csv' (generic) or 'univar-paper' (question, answer, lang; the model from `model`,
    from the file name, or from the `model` argument). skip_duplicates: a row that repeats an
    earlier one exactly (`_RowChecker.sample`) is left out and counted, not refused."""
    if layout not in ("csv", "univar-paper"):
        raise UserError(f"unknown CSV layout {layout!r} (use csv or univar-paper)")
    v = Validation(source=name)
    # the paper's files are named after their model: a `model` column or --model wins
    fallback_model = Path(name).name.split(".")[0] if layout == "univar-paper" else None
    try:
        table = open_csv(data, max_bytes if max_bytes is not None else max_upload_bytes())
    except UserError as exc:
        v.errors.append(str(exc))
        return v
    delim = table.delimiter
    if delim != ",":
        v.notes.append(f"cells are separated by {'tab' if delim == chr(9) else repr(delim)}")
    cols = _columns(table.header, layout, model or fallback_model, v.errors)
    if v.errors:
        return v
    unknown = cols.pop("_unknown")
    if unknown:
        v.notes.append(f"columns not used, ignored: {_names(unknown)}")
    checker = _RowChecker(v, table.header, cols, layout, model, fallback_model, skip_duplicates)
    try:
        for rownum, cells in table.rows:
            checker.check(rownum, cells)
    except UserError as exc:  # unreadable further down: that one reason, as for the whole file
        return Validation(source=name, errors=[str(exc)])
    if not checker.rows_seen:
        v.errors.append("the file has a header but no data rows")
        return v
    checker.finish()
    return v


class _RowChecker:
    """Checks rows one by one; remembers what it saw to find duplicates and number samples."""

    def __init__(self, v: Validation, header, cols, layout, model, fallback_model, skip=False):
        self.v, self.width, self.cols, self.layout = v, len(header), cols, layout
        self.model, self.fallback_model, self.skip = model, fallback_model, skip
        self.errors, self.confirm = _Problems(), _Problems()
        self.languages: dict[str, str | None] = {}
        self.seen: dict[tuple, int] = {}  # (model, language, question, answer, sample) -> row
        self.digests: dict[tuple, bytes] = {}  # the same key -> its other cells' (skip only)
        self.keys: dict[tuple, int] = {}  # (model, language, question, sample) -> row
        self.next_sample: dict[tuple, int] = {}
        self.skipped = self.rows_seen = 0
        # one object per distinct value of the columns that repeat row after row (a model's
        # name, a question asked of every model): a big file's rows then share them
        self.shared: dict[str, str] = {}

    def check(self, rownum: int, cells: list[str]) -> None:
        self.rows_seen += 1
        if len(cells) != self.width:
            self.errors.add(
                "cell count",
                f"row {rownum} has {len(cells)} cells, the header has {self.width} "
                "(an unquoted comma or line break inside a cell?)",
            )
            return
        get = {c: cells[i] for c, i in self.cols.items()}
        if self.layout == "univar-paper" and get["answer"].strip() in ("", "-"):
            self.skipped += 1  # the paper's loader drops rows without an answer ('-': its NaN)
            return
        row = dict.fromkeys(ROW_KEYS)
        row["row"] = rownum
        for col in TEXT_COLUMNS:
            if col in get:
                text = self.cell(rownum, col, get[col])
                if text is not None and col in SHARED_COLUMNS:
                    text = self.shared.setdefault(text, text)
                row["value_code" if col == "value" else col] = text
        row["model"] = self.model or row["model"] or self.fallback_model
        for col in ("question", "answer", "model"):
            if not row[col]:
                self.errors.add(f"empty {col}", f"row {rownum}, column {col}: empty")
        if row["model"] and ids.SEP in row["model"]:
            self.errors.add(
                "model name",
                f"row {rownum}, column model: '{ids.SEP}' is not allowed "
                "(it joins model and language)",
            )
        row["language"] = self.language(rownum, get.get("language", "").strip())
        if self.layout == "univar-paper" and get.get("mt_lang", "").strip().lower() == "eng":
            row["question_en"], row["answer_en"] = row["question"], row["answer"]
            row["translator"] = "UniVaR paper (NLLB-200)"
        elif row["question_en"] or row["answer_en"]:
            row["translator"] = "uploaded"
        if self.sample(rownum, row, get.get("sample", "").strip()):
            self.v.rows.append(row)

    def cell(self, rownum: int, col: str, raw: str) -> str | None:
        where = f"row {rownum}, column {col}"
        if len(raw) > MAX_FIELD_CHARS:
            self.errors.add(
                "field size",
                f"{where}: {len(raw):,} characters, over the {MAX_FIELD_CHARS:,} limit",
            )
            raw = raw[:100]  # keeps the preview small; the import is blocked anyway
        bad = _CONTROL.search(raw)
        if bad:
            self.errors.add(
                "control character", f"{where}: control character U+{ord(bad.group()):04X}"
            )
        start = formula_start(raw)
        if start:
            hidden = "" if raw[:1] == start else " after blank or invisible characters"
            self.confirm.add(
                "formula-like",
                f"{where}: starts with {start!r}{hidden}, which a spreadsheet runs as a formula; "
                "it is stored as it is and neutralised in CSV exports",
            )
        return raw.strip() or None

    def language(self, rownum: int, code: str) -> str | None:
        if code not in self.languages:
            try:
                self.languages[code] = registry.language(code).code
            except UserError:
                self.languages[code] = None
        if self.languages[code] is None:
            self.errors.add("language", f"row {rownum}, column language: {_lang_message(code)}")
        return self.languages[code]

    def sample(self, rownum: int, row: dict, text: str) -> bool:
        """Numbers the row's sample; False for a duplicate or a bad number.

        A duplicate has an earlier row's model, language, question, answer and sample. With
        `skip` one that also matches in every other cell is exact and left out; one that differs
        anywhere is still refused, naming both rows: which one is right is the user's call."""
        key = (row["model"], row["language"], row["question"])
        seen_key = (*key, row["answer"], text)
        digest = _digest(row) if self.skip else b""
        if seen_key in self.seen:
            first = self.seen[seen_key]
            if not self.skip:
                self.v.duplicates += 1
                self.errors.add("duplicate", f"row {rownum} duplicates row {first}")
            elif digest == self.digests[seen_key]:
                self.v.dropped += 1
            else:
                self.v.duplicates += 1
                self.errors.add(
                    "differing repeat",
                    f"row {rownum} repeats row {first} (same model, language, question, answer "
                    f"and sample) but differs in another cell ({', '.join(OTHER_COLUMNS)}): "
                    "not an exact duplicate; remove one of them or give them distinct samples",
                )
            return False
        self.seen[seen_key] = rownum
        if self.skip:
            self.digests[seen_key] = digest
        if text and not _SAMPLE.fullmatch(text):
            self.errors.add(
                "sample",
                f"row {rownum}, column sample: {text[:20]!r} is not a whole number from 0 to "
                f"{MAX_SAMPLE}",
            )
            return False
        # without a sample column, repeated answers to one question are samples 0, 1, 2 ...
        row["sample"] = int(text) if text else self.next_sample.get(key, 0)
        self.next_sample[key] = max(self.next_sample.get(key, 0), row["sample"]) + 1
        if (*key, row["sample"]) in self.keys:
            self.errors.add(
                "same sample",
                f"row {rownum} has the same model, language, question and sample as row "
                f"{self.keys[(*key, row['sample'])]}",
            )
        self.keys[(*key, row["sample"])] = rownum
        return True

    def finish(self) -> None:
        v = self.v
        v.errors += self.errors.messages()
        v.confirm += self.confirm.messages()
        if self.skipped:
            v.notes.append(f"{self.skipped} rows without an answer skipped (as the paper does)")
        if v.dropped:
            v.notes.append(dropped_note(v.dropped))
        untranslated = sum(1 for r in v.rows if r["language"] and needs_translation(r))
        if untranslated:
            v.notes.append(
                f"{untranslated} non-English rows have no question_en/answer_en: they are "
                "embedded as they are unless you ask for translation"
            )


def _digest(row: dict) -> bytes:
    """The cells beside the duplicate key, hashed: 16 bytes a row, not a second copy of them."""
    cells = "\x1f".join(row[c] or "" for c in _OTHER_CELLS)
    return hashlib.blake2b(cells.encode("utf-8", "surrogatepass"), digest_size=16).digest()


def dropped_note(n: int) -> str:
    return (
        f"{n:,} exact duplicate row{'s' if n != 1 else ''} dropped (the same model, language, "
        "question, answer, sample and every other cell as an earlier row)"
    )


def _lang_message(code: str) -> str:
    if not code:
        return "empty (use ISO 639-3 codes such as eng, fra, zho)"
    hint = registry.suggest_language(code)
    return f"unknown language code {code[:40]!r}" + (
        f"; did you mean {hint!r}?" if hint else " (use ISO 639-3 codes such as eng, fra, zho)"
    )
