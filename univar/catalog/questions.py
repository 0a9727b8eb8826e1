"""The value taxonomy and the question bank (data/values.csv, data/questions.csv), and picking
the questions of a job: `all`, a value-balanced N, the non-value controls, or a user's CSV file.

The data files are the bank's source of truth, so a pick does not depend on what a database
happens to hold; `load_bank` copies them into `value_defs` and `questions` (an idempotent
upsert), and an elicitation registers the questions it asks before its first answer is stored.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from univar import ids, store
from univar.catalog import instruments
from univar.errors import UserError
from univar.paths import DATA_DIR, Db, db_path

VALUES_CSV = DATA_DIR / "values.csv"
QUESTIONS_CSV = DATA_DIR / "questions.csv"
VALUE_COLUMNS = ("framework", "value", "code", "definition")
# Non-value questions (facts, recipes, arithmetic, code): the control that tells whether an
# encoder separates LLMs by their values or by their style. Picked only when asked for.
CONTROL_FRAMEWORK = "control"
CONTROL_CODE = "none"
QUESTION_COLUMNS = ("question_id", "framework", "code", "question")

# Schwartz's 19 refined values in their usual order around the circle (Schwartz et al. 2012),
# evenly spaced: adjacent values are compatible, opposite ones conflict.
SCHWARTZ_CIRCLE = (
    ("SDT", "self-direction thought"),
    ("SDA", "self-direction action"),
    ("ST", "stimulation"),
    ("HE", "hedonism"),
    ("AC", "achievement"),
    ("POD", "power dominance"),
    ("POR", "power resources"),
    ("FAC", "face"),
    ("SEP", "security personal"),
    ("SES", "security societal"),
    ("TR", "tradition"),
    ("COR", "conformity rules"),
    ("COI", "conformity interpersonal"),
    ("HUM", "humility"),
    ("BED", "benevolence dependability"),
    ("BEC", "benevolence caring"),
    ("UNC", "universalism concern"),
    ("UNN", "universalism nature"),
    ("UNT", "universalism tolerance"),
)


def _norm(text: str) -> str:
    return re.sub(r"[^a-z]", "", (text or "").lower())


_ANGLES = {}
for _i, (_code, _name) in enumerate(SCHWARTZ_CIRCLE):
    _ANGLES[_norm(_code)] = _ANGLES[_norm(_name)] = round(_i * 360 / len(SCHWARTZ_CIRCLE), 4)


def schwartz_angle(framework: str, code: str, name: str = "") -> float | None:
    """Degrees on the Schwartz circle for one of the 19 refined values; None for the rest."""
    if "schwartz" not in (framework or "").lower():
        return None
    for candidate in (code, name, (code or "").split("_")[-1], (code or "").split(":")[-1]):
        angle = _ANGLES.get(_norm(candidate))
        if angle is not None:
            return angle
    return None


@dataclass(frozen=True)
class Question:
    question_id: str
    question: str  # English
    framework: str | None = None
    value_code: str | None = None
    source: str = "bank"


def _read_csv(
    path: Path, required: Iterable[str], data: bytes | None = None
) -> list[dict[str, str]]:
    """Rows of a CSV file; `data`: the file's bytes, already in memory (`path` only names it)."""
    path = Path(path)
    try:
        opened = (
            io.StringIO(data.decode("utf-8-sig"), newline="")
            if data is not None
            else path.open(newline="", encoding="utf-8-sig")
        )
        with opened as fh:
            reader = csv.DictReader(fh)
            columns = [c.strip().lower() for c in (reader.fieldnames or [])]
            missing = [c for c in required if c not in columns]
            if missing:
                raise UserError(
                    f"{path}: missing column {missing[0]!r} (columns found: "
                    f"{', '.join(columns) or 'none'})"
                )
            return [
                # extra cells come under the key None, as a list: they belong to no column
                {k.strip().lower(): (v or "").strip() for k, v in row.items() if k is not None}
                for row in reader
            ]
    except FileNotFoundError:
        raise UserError(f"{path}: file not found") from None
    except (UnicodeDecodeError, csv.Error) as exc:
        raise UserError(f"{path}: not a readable UTF-8 CSV file ({exc})") from None


def read_values(path: Path | None = None) -> list[dict]:
    """Rows of values.csv with their Schwartz angle (or None)."""
    rows = _read_csv(path or VALUES_CSV, VALUE_COLUMNS)
    for row in rows:
        row["angle"] = schwartz_angle(row["framework"], row["code"], row["value"])
    return [r for r in rows if r["framework"] and r["code"]]


def read_bank(path: Path | None = None) -> list[Question]:
    rows = _read_csv(path or QUESTIONS_CSV, QUESTION_COLUMNS)
    return [
        Question(r["question_id"], r["question"], r["framework"] or None, r["code"] or None)
        for r in rows
        if r["question_id"] and r["question"]
    ]


def is_control(q: Question) -> bool:
    return (q.framework or "").lower() == CONTROL_FRAMEWORK


def value_bank(path: Path | None = None) -> list[Question]:
    """The bank without its control questions: what `all` and a balanced N pick from."""
    return [q for q in read_bank(path) if not is_control(q)]


def _control_category(q: Question) -> str:
    # bank ids of controls read control.<category>.<nn>; the category is only used to balance
    parts = q.question_id.split(".")
    return parts[1] if len(parts) > 2 else ""


def control_questions(n: int | None = None, path: Path | None = None) -> list[Question]:
    """The bank's control questions: all of them, or the first n of a round-robin over their
    categories (geography, science, cooking, ...). Deterministic."""
    controls = [q for q in read_bank(path) if is_control(q)]
    if not controls:
        raise UserError(f"{path or QUESTIONS_CSV}: the question bank has no control questions")
    if n is None:
        return controls
    if not 1 <= n <= len(controls):
        raise UserError(f"asked for {n} control questions; the bank has {len(controls)}")
    by_category: dict[str, list[Question]] = {}
    for q in controls:
        by_category.setdefault(_control_category(q), []).append(q)
    lists = list(by_category.values())
    order = [lst[i] for i in range(max(map(len, lists))) for lst in lists if i < len(lst)]
    return order[:n]


def load_bank(db: Db = None, values_path: Path | None = None, questions_path: Path | None = None):
    """Upsert the taxonomy and the bank into the store; returns (values, questions) counts."""
    values = read_values(values_path)
    bank = read_bank(questions_path)
    with store.transaction(db) as con:
        _write_values(con, values)
        register(con, bank)
    return len(values), len(bank)


def _upsert(con, head: str, rows: list[list], n_key: int) -> None:
    """INSERT OR REPLACE in multi-row statements (executemany costs ~10 ms a row); the last
    row per key wins, as DuckDB refuses to replace one row twice in a statement."""
    rows = list({tuple(r[:n_key]): r for r in rows}.values())
    for i in range(0, len(rows), 500):
        chunk = rows[i : i + 500]
        row = "(" + ", ".join("?" * len(chunk[0])) + ")"
        con.execute(f"{head} VALUES {', '.join([row] * len(chunk))}", [v for r in chunk for v in r])


def _write_values(con, values: list[dict]) -> None:
    rows = [[v["framework"], v["code"], v["value"], v["definition"], v["angle"]] for v in values]
    head = "INSERT OR REPLACE INTO value_defs (framework, code, name, definition, angle)"
    _upsert(con, head, rows, 2)


def register(con, questions: Iterable[Question]) -> None:
    """Upsert questions on an open connection (the caller holds the transaction)."""
    rows = [[q.question_id, q.question, q.framework, q.value_code, q.source] for q in questions]
    head = "INSERT OR REPLACE INTO questions (question_id, question, framework, value_code, source)"
    _upsert(con, head, rows, 1)


def balanced(questions: list[Question], n: int) -> list[Question]:
    """The first n of a round-robin over values, values interleaved across frameworks, so a
    small pick covers as many values (and frameworks) as it can. Deterministic."""
    by_value: dict[tuple, list[Question]] = {}
    for q in questions:
        by_value.setdefault((q.framework, q.value_code), []).append(q)
    by_framework: dict[str | None, list[tuple]] = {}
    for key in by_value:
        by_framework.setdefault(key[0], []).append(key)
    value_order = [
        lst[i]
        for i in range(max((len(v) for v in by_framework.values()), default=0))
        for lst in by_framework.values()
        if i < len(lst)
    ]
    picked: list[Question] = []
    for depth in range(max((len(v) for v in by_value.values()), default=0)):
        for key in value_order:
            if depth < len(by_value[key]):
                picked.append(by_value[key][depth])
                if len(picked) == n:
                    return picked
    return picked


def read_question_file(path: Path, data: bytes | None = None) -> list[Question]:
    """A user's CSV: a `question` column, optional question_id, code or value, framework.
    `data`: its bytes when they are already in memory (an upload); `path` then only names it."""
    rows = _read_csv(path, ("question",), data)
    source = f"file:{Path(path).name}"
    out, seen = [], set()
    for line, row in enumerate(rows, start=2):
        text = row.get("question", "")
        if not text:
            raise UserError(f"{path}: row {line} has an empty question")
        qid = row.get("question_id") or ids.text_question_id(text)
        if qid in seen:
            raise UserError(f"{path}: question_id {qid!r} appears twice (row {line})")
        seen.add(qid)
        code = row.get("code") or row.get("value") or None
        out.append(Question(qid, text, row.get("framework") or None, code, source))
    if not out:
        raise UserError(f"{path}: no questions in the file")
    return out


def _check_ids_free(db: Db, questions: list[Question]) -> None:
    """A file's question_id must not name a different stored question (it would mislabel)."""
    path = db_path(db)
    if not path.exists():
        return
    with store.connect(path, read_only=True) as con:
        stored = dict(
            con.execute(
                "SELECT question_id, question FROM questions WHERE question_id IN "
                "(SELECT unnest(?))",
                [[q.question_id for q in questions]],
            ).fetchall()
        )
    for q in questions:
        if q.question_id in stored and stored[q.question_id] != q.question:
            raise UserError(
                f"question_id {q.question_id!r} already names a different question in the "
                "database; rename it in the file"
            )


def uploaded_questions(db: Db, name: str, data: bytes) -> list[Question]:
    """An uploaded question file, read from memory: no copy on disk, and messages name the
    file as the user knows it, never a server path."""
    questions = read_question_file(Path(Path(name).name), data)
    _check_ids_free(db, questions)
    return questions


def select_questions(db: Db, spec: str | int) -> list[Question]:
    """`all` (the value questions), a number N (value-balanced), `control` (the non-value
    control questions) or `control:N` (N of them, balanced over their categories),
    `instrument:NAME` (its items with text, asked as open questions, as the paper asks
    PVQ-RR's), or the path of a CSV file; raises UserError."""
    text = str(spec).strip()
    if text.lower().startswith("instrument:"):
        return instrument_questions(db, text.split(":", 1)[1].strip())
    if text.lower() == CONTROL_FRAMEWORK:
        return control_questions()
    if text.lower().startswith(CONTROL_FRAMEWORK + ":"):
        count = text.split(":", 1)[1].strip()
        if not count.isdigit():
            raise UserError(f"{text!r}: write control:N with N a whole number")
        return control_questions(int(count))
    if text.lower() == "all" or text.isdigit():
        bank = value_bank()
        if not bank:
            raise UserError(f"{QUESTIONS_CSV}: the question bank is empty")
        if text.lower() == "all":
            return bank
        n = int(text)
        if not 1 <= n <= len(bank):
            raise UserError(f"asked for {n} questions; the bank has {len(bank)} value questions")
        return balanced(bank, n)
    path = Path(text)
    if not path.is_file():
        raise UserError(
            f"question file {text!r} not found (use all, a number, control, control:N, "
            "instrument:NAME or a CSV file)"
        )
    questions = read_question_file(path)
    _check_ids_free(db, questions)
    return questions


def instrument_questions(db: Db, instrument: str) -> list[Question]:
    """An instrument's items that have text, in item order; the map can then ring their QAs."""

    instruments.ensure(db)
    with store.connect(db, read_only=True) as con:
        known = [
            r[0] for r in con.execute("SELECT instrument FROM instruments ORDER BY 1").fetchall()
        ]
        rows = con.execute(
            "SELECT q.question_id, q.question, q.framework, q.value_code FROM questions q "
            "JOIN (SELECT DISTINCT question_id, item_id FROM instrument_items "
            "WHERE instrument = ? AND question_id IS NOT NULL) i USING (question_id) "
            "ORDER BY i.item_id",
            [instrument],
        ).fetchall()
    if instrument not in known:
        raise UserError(f"unknown instrument {instrument!r}; known: {', '.join(known)}")
    if not rows:
        raise UserError(
            f"instrument {instrument!r} has no item text in this database; import it first "
            f"(python -m univar import --format {instrument} FILE)"
        )
    return [Question(qid, q, fw, code, f"instrument:{instrument}") for qid, q, fw, code in rows]
