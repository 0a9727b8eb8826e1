"""Import QA pairs: a generic CSV, the UniVaR paper's per-model CSVs, and (through
`univar.catalog.instruments`) PVQ-RR items and ValuePrism situations.

Every file is validated in full first (`univar.ingest.validate`); then all its rows go in as one named
dataset in ONE transaction: all or nothing. A failed import leaves the database file as it was.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from univar import ids, quality, store
from univar.catalog import instruments, registry
from univar.elicit import translation
from univar.errors import UserError
from univar.ingest.validate import Validation, needs_translation, validate_bytes
from univar.llm.endpoints import check_reachable
from univar.paths import Db
from univar.store import runs
from univar.store.datasets import NAME_MAX, check_dataset_name, existing_datasets

FORMATS = ("csv", "univar-paper", "pvq-rr", "valueprism")
_QA_COLUMNS = (
    "qa_id, dataset, model, language, question_id, sample, question, answer, question_en, "
    "answer_en, value_code, framework, translator, run_id"
)

Translator = Callable[[list[dict]], int]  # fills question_en/answer_en in place; returns count


@dataclass
class ImportResult:
    dataset: str
    rows: int
    models: list[str] = field(default_factory=list)
    languages: list[str] = field(default_factory=list)
    translated: int = 0
    run_id: str = ""
    dropped: int = 0  # exact duplicate rows left out (--skip-duplicates)


def name_from_file(filename: str) -> str:
    """A usable default dataset name from an uploaded file's name."""
    stem = Path(filename or "upload").name.split(".")[0]
    stem = re.sub(r"[^\w.+-]+", "-", stem).strip("-._+ ")[:NAME_MAX]
    return stem or "upload"


def _question_id(row: dict, bank: dict[str, str]) -> str:
    english = row["question"] if row["language"] == "eng" else row["question_en"]
    if english and english in bank:  # a bank question keeps its value tags on the map
        return bank[english]
    text = english or row["question"]
    return ids.text_question_id(text)


def import_validation(
    v: Validation,
    db: Db = None,
    *,
    dataset: str,
    kind: str = "upload",
    accept_formulas: bool = False,
    translate: Translator | None = None,
    provenance: dict | None = None,
    description: str | None = None,
) -> ImportResult:
    """Write a validated file as a new dataset, all rows in one transaction."""
    v.check(accept_formulas)
    dataset = check_dataset_name(dataset)
    if dataset in existing_datasets(db):
        raise UserError(
            f"dataset {dataset!r} already exists; choose another name, or rename or delete it"
        )
    rows, translated = v.rows, 0
    if translate and any(map(needs_translation, rows)):
        # the translator fills the rows that need it: only those are copied, so `v` stays as
        # it was for another try and a big file's rows are not held twice
        rows = [dict(r) if needs_translation(r) else r for r in rows]
        translated = translate(rows)
    summary = Validation(rows=rows).summary()
    counts = {k: summary[k] for k in ("rows", "untranslated", "with_value")}
    prov = {"source": v.source, **(provenance or {}), **counts, "translated": translated}
    if v.dropped:
        prov["duplicates_dropped"] = v.dropped
    with store.transaction(db) as con:
        taken = con.execute("SELECT 1 FROM datasets WHERE dataset = ?", [dataset]).fetchall()
        if taken:  # another session took the name since the check above
            raise UserError(f"dataset {dataset!r} already exists")
        # the rows carry the run's id, so its row comes first; a rollback takes it back too
        run_id = runs.start_run(con, "import", prov, finished=counts)
        frame = _frame(con, rows, dataset, run_id)
        con.register("new_qa", frame)
        clash = con.execute("SELECT count(*) FROM qa_pairs JOIN new_qa USING (qa_id)").fetchall()[
            0
        ][0]
        if clash or frame["qa_id"].duplicated().any():
            raise UserError(
                "some rows repeat model, language, question and sample of other rows; "
                "give them distinct `sample` numbers"
            )
        con.execute(
            "INSERT INTO datasets (dataset, kind, description, provenance) VALUES (?, ?, ?, ?)",
            [dataset, kind, description, json.dumps(prov, ensure_ascii=False)],
        )
        con.execute(f"INSERT INTO qa_pairs ({_QA_COLUMNS}) SELECT {_QA_COLUMNS} FROM new_qa")
        con.unregister("new_qa")
    quality.check_new(db, datasets=[dataset])  # after the commit: a failure only logs
    return ImportResult(
        dataset, len(rows), summary["models"], summary["languages"], translated, run_id, v.dropped
    )


def _frame(con, rows: list[dict], dataset: str, run_id: str):
    import pandas as pd

    english = list({r["question"] if r["language"] == "eng" else r["question_en"] for r in rows})
    bank = dict(
        con.execute(
            "SELECT question, min(question_id) FROM questions "
            "WHERE question IN (SELECT unnest(?)) GROUP BY question",
            [[q for q in english if q]],
        ).fetchall()
    )
    # column by column, without touching the rows: no second set of per-row dicts
    question_ids = [r["question_id"] or _question_id(r, bank) for r in rows]
    columns = {
        "qa_id": [
            ids.qa_id(dataset, r["model"], r["language"], q, r["sample"])
            for r, q in zip(rows, question_ids, strict=True)
        ],
        "dataset": [dataset] * len(rows),
        "question_id": question_ids,
        "run_id": [run_id] * len(rows),
    }
    cols = [c.strip() for c in _QA_COLUMNS.split(",")]
    # object columns hold the rows' own str objects; pandas' default str dtype would copy all
    # the text into Arrow buffers (and .astype(object) back into new str objects)
    return pd.DataFrame(
        {
            c: pd.Series(
                columns[c] if c in columns else [r[c] for r in rows],
                dtype="int64" if c == "sample" else object,
            )
            for c in cols
        },
        columns=cols,
    )


# --- files -----------------------------------------------------------------------------------


def merge(validations: Sequence[Validation]) -> Validation:
    """Several files as one import: each message is prefixed with its file's name."""
    if len(validations) == 1:
        return validations[0]
    out = Validation(source=", ".join(v.source for v in validations), merged=True)
    for v in validations:
        out.rows += v.rows
        out.dropped += v.dropped
        out.duplicates += v.duplicates
        out.errors += [f"{v.source}: {m}" for m in v.errors]
        out.confirm += [f"{v.source}: {m}" for m in v.confirm]
        out.notes += [f"{v.source}: {m}" for m in v.notes]
    return out


def validate_files(
    paths: Sequence[str | Path],
    *,
    layout: str = "csv",
    model: str | None = None,
    max_bytes: int | None = None,
    skip_duplicates: bool = False,
) -> Validation:
    """Validate one or more CSV files of one layout, as one import. skip_duplicates: leave out
    the exact duplicate rows of each file (`validate.validate_bytes`)."""
    if not paths:
        raise UserError("no file given")
    found = []
    for p in map(Path, paths):
        if not p.is_file():
            found.append(Validation(source=p.name, errors=["file not found"]))
            continue
        with p.open("rb") as fh:  # read as a stream: the file is never in memory whole
            found.append(
                validate_bytes(
                    fh,
                    name=p.name,
                    layout=layout,
                    model=model,
                    max_bytes=max_bytes,
                    skip_duplicates=skip_duplicates,
                )
            )
    return merge(found)


def _sha256(path: Path) -> str:
    with path.open("rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def import_files(
    fmt: str,
    paths: Sequence[str | Path],
    db: Db = None,
    *,
    dataset: str | None = None,
    model: str | None = None,
    accept_formulas: bool = False,
    translate: Translator | None = None,
    max_bytes: int | None = None,
    validation: Validation | None = None,
    skip_duplicates: bool = False,
) -> ImportResult:
    """What `python -m univar import` does: dispatch on the format, import in one go.

    `validation`: the files' validation when the caller already made it (saves a second read)."""
    if fmt not in FORMATS:
        raise UserError(f"unknown import format {fmt!r}; use one of {', '.join(FORMATS)}")
    paths = [Path(p) for p in paths]
    if fmt in ("pvq-rr", "valueprism"):
        return _import_instrument(fmt, paths, db, dataset)
    v = validation or validate_files(
        paths, layout=fmt, model=model, max_bytes=max_bytes, skip_duplicates=skip_duplicates
    )
    files = {p.name: _sha256(p) for p in paths if p.is_file()}
    return import_validation(
        v,
        db,
        dataset=dataset or name_from_file(paths[0].name),
        kind="upload" if fmt == "csv" else "import",
        accept_formulas=accept_formulas,
        translate=translate,
        provenance={"format": fmt, "files": files, "model_flag": model},
    )


def _import_instrument(fmt: str, paths: list[Path], db: Db, dataset: str | None) -> ImportResult:
    if len(paths) != 1:
        raise UserError(f"--format {fmt} takes one file")

    if fmt == "pvq-rr":
        n = instruments.import_pvq_rr(paths[0], db)
        return ImportResult("pvq-rr", n)
    name = dataset or instruments.VALUEPRISM
    n = instruments.import_valueprism(paths[0], db, dataset=name)
    return ImportResult(name, n)


# --- translation -----------------------------------------------------------------------------


def llm_translator(
    model: str,
    api_base: str | None = None,
    db: Db = None,
    progress=None,
    *,
    api_key: str | None = None,
    policy=None,
) -> Translator:
    """Translate non-English rows to English through the elicitation engine's translator
    (the same prompt and request cache), one language at a time. `api_key`: one typed for
    this endpoint; `policy` (default: the CLI's): allowed api_bases, where the operator's keys
    may go."""

    registry.check_model_string(model)
    if api_base:
        check_reachable(api_base, policy=policy)  # before anything is sent or written

    def run(rows: list[dict]) -> int:
        todo = [r for r in rows if needs_translation(r)]
        for lang in sorted({r["language"] for r in todo}):
            group = [r for r in todo if r["language"] == lang]
            texts = [r["question"] for r in group] + [r["answer"] for r in group]
            out = translation.translate_texts(
                texts,
                lang,
                "eng",
                model=model,
                api_base=api_base,
                db=db,
                api_key=api_key,
                progress=progress,
                policy=policy,
            )
            for i, r in enumerate(group):
                r["question_en"], r["answer_en"] = out[i], out[len(group) + i]
                r["translator"] = translation.label(model, api_base)
        return len(todo)

    return run
