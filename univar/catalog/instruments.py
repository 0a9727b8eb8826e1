"""Value instruments in the store: PVQ-RR, the project's own portraits, and ValuePrism.

The PVQ-RR *key* (57 items -> 19 values of Schwartz's refined theory) is a fact and ships here;
its item *text* is licensed for non-commercial use only, so it enters a database only when a
user imports it. The project's own 57 portraits (`data/portrait_items.csv`, three per value in
the project's words) follow the same key, so survey mode and the overlays work out of the box.
Every item with text is also a `questions` row (source = instrument), so it can be elicited and
its QAs found again by the overlays.
"""

from __future__ import annotations

import csv
import io
import json
import re
import uuid
from pathlib import Path

from univar import ids, store
from univar.errors import UserError
from univar.paths import DATA_DIR, Db

SCHWARTZ = "Schwartz"
PVQ_RR = "pvq-rr"
PORTRAITS = "univar-portraits"
VALUEPRISM = "valueprism"
PORTRAITS_FILE = DATA_DIR / "portrait_items.csv"

# Circle order of the refined theory (Schwartz et al. 2012), each with its PVQ-RR items.
PVQ_RR_KEY: dict[str, tuple[str, tuple[int, int, int]]] = {
    "sdt": ("Self-direction (thought)", (1, 23, 39)),
    "sda": ("Self-direction (action)", (16, 30, 56)),
    "sti": ("Stimulation", (10, 28, 43)),
    "hed": ("Hedonism", (3, 36, 46)),
    "ach": ("Achievement", (17, 32, 48)),
    "pod": ("Power (dominance)", (6, 29, 41)),
    "por": ("Power (resources)", (12, 20, 44)),
    "fac": ("Face", (9, 24, 49)),
    "sep": ("Security (personal)", (13, 26, 53)),
    "ses": ("Security (societal)", (2, 35, 50)),
    "trd": ("Tradition", (18, 33, 40)),
    "cor": ("Conformity (rules)", (15, 31, 42)),
    "coi": ("Conformity (interpersonal)", (4, 22, 51)),
    "hum": ("Humility", (7, 38, 54)),
    "bed": ("Benevolence (dependability)", (19, 27, 55)),
    "bec": ("Benevolence (caring)", (11, 25, 47)),
    "unc": ("Universalism (concern)", (5, 37, 52)),
    "unn": ("Universalism (nature)", (8, 21, 45)),
    "unt": ("Universalism (tolerance)", (14, 34, 57)),
}
ITEM_VALUE = {n: code for code, (_, items) in PVQ_RR_KEY.items() for n in items}
# Equal steps in circle order, as univar.catalog.questions writes them (figures choose the rotation).
ANGLES = {code: round(i * 360 / len(PVQ_RR_KEY), 4) for i, code in enumerate(PVQ_RR_KEY)}

INSTRUMENTS = {
    PVQ_RR: (
        "PVQ-RR (Schwartz et al. 2012), 57 portraits",
        "Schwartz, S. H. et al. (2012), Refining the theory of basic individual values",
        "item text CC BY-NC-ND 3.0: imported by the user, never shipped",
    ),
    PORTRAITS: (
        "UniVaR Studio portraits (the project's own 57 items on the PVQ-RR key)",
        "univar-studio data/portrait_items.csv",
        "same licence as UniVaR Studio",
    ),
}
VALENCE = {"supports": 1, "opposes": -1, "either": 0}  # keyed 0: either direction
_VALUEPRISM_COLUMNS = ("situation", "vrd", "text", "valence")


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.strip().lower()).strip("_")


def _schwartz_defs(con) -> None:
    """Insert the 19 values; keep a name or definition another module wrote, but set the angle."""
    rows = [(SCHWARTZ, c, name, ANGLES[c]) for c, (name, _) in PVQ_RR_KEY.items()]
    columns = ["framework", "code", "name", "angle"]
    insert_rows(
        con, "value_defs", columns, rows, tail="ON CONFLICT DO UPDATE SET angle = excluded.angle"
    )


def _portrait_rows() -> list[tuple[int, str, str]]:
    with open(PORTRAITS_FILE, encoding="utf-8", newline="") as fh:
        rows = [(int(r["item"]), r["code"].strip(), r["text"].strip()) for r in csv.DictReader(fh)]
    wrong = [n for n, code, _ in rows if ITEM_VALUE.get(n) != code]
    if wrong or len(rows) != 57:
        raise UserError(f"{PORTRAITS_FILE} does not follow the PVQ-RR key (items {wrong[:5]})")
    return rows


def insert_rows(con, table: str, columns: list[str], rows: list[tuple], verb="INSERT", tail=""):
    """One statement for many rows (executemany runs one statement per row: slow here)."""
    import pandas as pd

    if rows:
        name = f"new_rows_{uuid.uuid4().hex[:12]}"  # a name no other writer is using
        con.register(name, pd.DataFrame(rows, columns=columns))
        try:
            con.execute(f"{verb} INTO {table} ({', '.join(columns)}) SELECT * FROM {name} {tail}")
        finally:
            con.unregister(name)


def _write_items(con, instrument: str, rows: list[tuple[str, str | None, str, str, int]]) -> None:
    """rows: (item_id, text, framework, value_code, keyed). Items with text become questions."""
    con.execute("DELETE FROM instrument_items WHERE instrument = ?", [instrument])
    insert_rows(
        con,
        "instrument_items",
        ["instrument", "item_id", "text", "framework", "value_code", "keyed", "question_id"],
        [
            (instrument, i, t, f, v, k, ids.instrument_question_id(instrument, i) if t else None)
            for i, t, f, v, k in rows
        ],
    )
    first = {}  # a question row holds one value: the first the item supports
    for i, t, f, v, _ in sorted(rows, key=lambda r: r[4] <= 0):
        if t:
            first.setdefault(i, (ids.instrument_question_id(instrument, i), t, f, v, instrument))
    columns = ["question_id", "question", "framework", "value_code", "source"]
    insert_rows(con, "questions", columns, list(first.values()), "INSERT OR REPLACE")


def _upsert_instrument(con, instrument: str, name: str, source: str, license_: str) -> None:
    con.execute(
        "INSERT OR REPLACE INTO instruments VALUES (?, ?, ?, ?)",
        [instrument, name, source, license_],
    )


def ensure(db: Db = None) -> None:
    """Make the shipped structure present: cheap when it already is."""
    with store.connect(db) as con:
        have = con.execute(
            "SELECT (SELECT count(*) FROM instrument_items WHERE instrument IN (?, ?)),"
            " (SELECT count(*) FROM value_defs WHERE framework = ? AND angle IS NOT NULL)",
            [PVQ_RR, PORTRAITS, SCHWARTZ],
        ).fetchall()[0]
    if have == (114, 19):
        return
    portraits = _portrait_rows()
    with store.transaction(db) as con:
        _schwartz_defs(con)
        for instrument, meta in INSTRUMENTS.items():
            _upsert_instrument(con, instrument, *meta)
        texts = dict(
            con.execute(
                "SELECT item_id, text FROM instrument_items WHERE instrument = ?", [PVQ_RR]
            ).fetchall()
        )
        _write_items(
            con,
            PVQ_RR,
            [
                (ids.item_id(n), texts.get(ids.item_id(n)), SCHWARTZ, c, 1)
                for n, c in ITEM_VALUE.items()
            ],
        )
        _write_items(con, PORTRAITS, [(ids.item_id(n), t, SCHWARTZ, c, 1) for n, c, t in portraits])


# --- PVQ-RR import ---------------------------------------------------------------------------


def _read_pvq(path: Path) -> dict[int, str]:
    text = path.read_text(encoding="utf-8-sig")
    items: dict[int, str] = {}
    if path.suffix.lower() in (".jsonl", ".json"):
        for line_no, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                number, statement = int(row["question_number"]), str(row["statement"])
            except (ValueError, KeyError, TypeError) as exc:
                raise UserError(
                    f"{path.name} line {line_no}: expected JSON with question_number and "
                    f"statement ({exc.__class__.__name__})"
                ) from None
            items[number] = statement
        return items
    rows = [r for r in csv.reader(io.StringIO(text)) if any(c.strip() for c in r)]
    if rows and not rows[0][0].strip().isdigit():
        rows = rows[1:]  # a header line
    for line_no, row in enumerate(rows, 1):
        if len(row) < 2 or not row[0].strip().isdigit():
            raise UserError(f"{path.name} row {line_no}: expected item number, text")
        items[int(row[0])] = row[1]
    return items


def import_pvq_rr(path, db: Db = None) -> int:
    """Import the 57 PVQ-RR item texts (JSONL of question_number/statement, or CSV number,text).

    Returns the number of items imported; validates everything before writing.
    """
    path = Path(path)
    if not path.is_file():
        raise UserError(f"PVQ-RR file {path} does not exist")
    items = {n: t.strip() for n, t in _read_pvq(path).items()}
    missing = sorted(set(ITEM_VALUE) - set(items))
    extra = sorted(set(items) - set(ITEM_VALUE))
    empty = sorted(n for n, t in items.items() if not t)
    if missing or extra or empty:
        what, which = next(
            (w, x) for w, x in (("missing", missing), ("unknown", extra), ("empty", empty)) if x
        )
        raise UserError(f"{path.name}: PVQ-RR needs items 1-57 with text; {what} items {which[:8]}")
    ensure(db)
    rows = [(ids.item_id(n), items[n], SCHWARTZ, c, 1) for n, c in ITEM_VALUE.items()]
    with store.transaction(db) as con:
        _write_items(con, PVQ_RR, rows)
    return len(rows)


# --- ValuePrism import -----------------------------------------------------------------------


def import_valueprism(path, db: Db = None, *, dataset: str = VALUEPRISM) -> int:
    """Import a ValuePrism CSV (situation, vrd, text, explanation, valence, ...) as instrument
    `dataset`: one item per situation, labelled with its values, rights and duties.

    Returns the number of situations imported.
    """
    import pandas as pd

    path = Path(path)
    if not path.is_file():
        raise UserError(f"ValuePrism file {path} does not exist")
    dataset = (dataset or "").strip()
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}", dataset) or dataset in INSTRUMENTS:
        raise UserError(f"dataset name {dataset!r} is not usable for a ValuePrism instrument")
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (ValueError, UnicodeDecodeError) as exc:
        raise UserError(f"{path.name} is not a readable CSV: {exc}") from None
    df.columns = [c.strip().lower() for c in df.columns]
    lacking = [c for c in _VALUEPRISM_COLUMNS if c not in df.columns]
    if lacking:
        raise UserError(f"{path.name} lacks ValuePrism columns {lacking}")
    df = df.apply(lambda s: s.str.strip())
    bad = df[
        ~df["valence"].str.lower().isin(VALENCE) | (df["situation"] == "") | (df["text"] == "")
    ]
    if len(bad):
        raise UserError(
            f"{path.name} row {bad.index[0] + 2}: needs a situation, a text and a valence of "
            "Supports, Opposes or Either"
        )
    if df.empty:
        raise UserError(f"{path.name} has no rows")
    df["code"] = df["text"].map(slug)
    situations = {s: f"{i + 1:05d}" for i, s in enumerate(dict.fromkeys(df["situation"]))}
    rows = list(
        {
            (situations[r.situation], r.code): (
                situations[r.situation],
                r.situation,
                "ValuePrism",
                r.code,
                VALENCE[r.valence.lower()],
            )
            for r in df.itertuples()
        }.values()
    )
    defs = {r.code: ("ValuePrism", r.code, r.text, None, None) for r in df.itertuples()}
    ensure(db)
    with store.transaction(db) as con:
        _upsert_instrument(con, dataset, f"ValuePrism situations ({path.name})", path.name, None)
        con.execute("DELETE FROM questions WHERE source = ?", [dataset])
        _write_items(con, dataset, rows)
        columns = ["framework", "code", "name", "definition", "angle"]
        insert_rows(con, "value_defs", columns, list(defs.values()), "INSERT OR IGNORE")
    return len(situations)


# --- reading ---------------------------------------------------------------------------------


def list_instruments(db: Db = None):
    """Instruments with item counts and how many items have text."""
    ensure(db)
    return store.query_df(
        "SELECT i.instrument, i.name, i.license, count(DISTINCT t.item_id) AS items,"
        " count(DISTINCT t.item_id) FILTER (WHERE t.text IS NOT NULL) AS with_text"
        " FROM instruments i LEFT JOIN instrument_items t USING (instrument)"
        " GROUP BY ALL ORDER BY i.instrument",
        path=db,
    )


def items(db: Db = None, instrument: str = PORTRAITS):
    """One instrument's items in order: item_id, text, framework, value_code, keyed."""
    ensure(db)
    df = store.query_df(
        "SELECT item_id, text, framework, value_code, keyed, question_id FROM instrument_items"
        " WHERE instrument = ? ORDER BY item_id, value_code",
        [instrument],
        path=db,
    )
    if df.empty:
        raise UserError(f"unknown instrument {instrument!r}; see `python -m univar survey --help`")
    return df
