"""Hostile input, fuzzed with hypothesis: CSV uploads and model, language and dataset names
full of SQL metacharacters, path traversal, control characters and huge fields. Only clear
UserErrors come out (one line each), the tables stay intact and hold exactly what was
accepted, and no file appears outside the test's own folder."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from univar import cli, store
from univar.catalog import registry
from univar.catalog.questions import Question
from univar.elicit.plan import prepare
from univar.elicit.settings import ElicitConfig
from univar.errors import UserError
from univar.ingest import importers
from univar.ingest.validate import validate_bytes
from univar.store import datasets

ROOT = Path(__file__).resolve().parent.parent
MARK = "zzfuzz"  # in every path-like payload, so a file written from one can be found
NASTY = (
    "'; DROP TABLE qa_pairs; --",
    '" OR 1=1 --',
    "Robert'); DELETE FROM datasets; --",
    "x' UNION SELECT * FROM requests --",
    "%",
    "_",
    "\\",
    "?",
    "$1",
    "${HOME}",
    f"$(touch {MARK})",
    f"`touch {MARK}`",
    f"../../{MARK}-up",
    f"..\\..\\{MARK}-win",
    f"/tmp/{MARK}-abs",
    f"~/{MARK}",
    f"C:\\{MARK}",
    f"data/../../{MARK}",
    "\x00",
    "\x1b[31m",
    "\r\n",
    "a\nb",
    "\u202e",
    "\ufeff",
    "😀",
    "中文",
    "=cmd|' /C calc'!A0",
    "+1",
    "-1",
    "@SUM(1)",
    " ",
    "",
)
TABLES = {
    "meta",
    "value_defs",
    "questions",
    "datasets",
    "runs",
    "requests",
    "qa_pairs",
    "embeddings",
    "projections",
    "projection_points",
    "instruments",
    "instrument_items",
    "survey_responses",
    "survey_scores",
}
FAST = settings(max_examples=150, deadline=None)
SLOW = settings(
    max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)

nasty = st.one_of(
    st.sampled_from(NASTY),
    st.text(max_size=30),
    st.tuples(st.sampled_from(NASTY), st.text(max_size=8)).map("".join),
)
huge = st.integers(50_001, 52_000).map(lambda n: "y" * n)
names = st.one_of(nasty, st.sampled_from(("ok name", "model-1", "eng", "a" * 65, "b" * 5000)))
good_models = st.sampled_from(("gpt-4o-mini", "openai/gpt-4o-mini", "aya-101"))
models = st.one_of(good_models, nasty)
languages = st.one_of(st.sampled_from(("eng", "fra", "zho", "English", "fre")), nasty)
cells = st.one_of(st.text(min_size=1, max_size=40), nasty, huge)
hostile_rows = st.lists(st.tuples(cells, cells, models, languages), min_size=1, max_size=4)
# rows that pass validation, so that hostile text (SQL, paths, odd Unicode) reaches the store
printable = st.text(st.characters(blacklist_categories=("Cc", "Cs")), min_size=1, max_size=40)
payload = st.one_of(
    printable, st.tuples(printable, st.sampled_from(NASTY[:18]), printable).map("".join)
)
valid_rows = st.lists(
    st.tuples(payload, payload, good_models, st.sampled_from(("eng", "fra"))),
    min_size=1,
    max_size=4,
)


def _one_line(message: str) -> None:
    assert message and "\n" not in message and "\r" not in message, repr(message[:200])
    assert len(message) <= 600, message[:200]


def _tables(db: Path) -> set[str]:
    with store.connect(db) as con:
        return {r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}


def _no_stray_files(tmp: Path) -> None:
    """Nothing outside `tmp` carries the marker (cwd, the project, data/, tmp's parents)."""
    for folder in (Path.cwd(), ROOT, ROOT / "data", tmp.parent, tmp.parent.parent, Path("/tmp")):
        stray = [p.name for p in folder.iterdir() if MARK in p.name]
        assert not stray, f"{folder}: {stray}"


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    return tmp_path_factory.mktemp("fuzz")


@FAST
@given(data=st.binary(max_size=2000))
def test_any_bytes_validate_to_problems_or_rows_never_a_crash(data):
    v = validate_bytes(data, name="upload.csv", max_bytes=1000)
    for message in v.errors + v.confirm:
        _one_line(message)
    assert v.ok or not v.rows or v.errors


@FAST
@given(model=models, language=languages, dataset=names)
def test_names_are_accepted_or_refused_with_a_user_error(model, language, dataset):
    for check, value in (
        (registry.check_model_string, model),
        (registry.language, language),
        (registry.parse_languages, language),
        (datasets.check_dataset_name, dataset),
    ):
        try:
            check(value)
        except UserError as exc:
            _one_line(str(exc))
    # an uploaded file's name always gives a usable dataset name, never a path
    derived = importers.name_from_file(f"{dataset}.csv")
    assert datasets.check_dataset_name(derived) == derived and "/" not in derived


def _csv(rows) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["question", "answer", "model", "language"])
    writer.writerows(rows)
    return out.getvalue().encode("utf-8")


@FAST
@given(rows=hostile_rows)
def test_hostile_csv_cells_get_one_line_problems_never_a_crash(rows):
    v = validate_bytes(_csv(rows), name="fuzz.csv", max_bytes=10**6)
    for message in v.errors + v.confirm + v.notes:
        _one_line(message)
    assert v.ok == (not v.errors)


valid_names = st.from_regex(r"[A-Za-z0-9][\w .+-]{0,20}", fullmatch=True)


@SLOW
@given(rows=valid_rows, dataset=st.one_of(valid_names, valid_names, names))
def test_hostile_text_imports_verbatim_or_is_refused_and_tables_stay_intact(workdir, rows, dataset):
    db = workdir / "fuzz.duckdb"
    v = validate_bytes(_csv(rows), name="fuzz.csv", max_bytes=10**6)
    for message in v.errors + v.confirm + v.notes:
        _one_line(message)
    try:
        result = importers.import_validation(v, db, dataset=dataset, accept_formulas=True)
    except UserError as exc:
        event("refused")
        _one_line(str(exc))
    else:
        event("imported")
        with store.connect(db) as con:
            stored = con.execute(
                "SELECT question, answer, model, language FROM qa_pairs WHERE dataset = ? "
                "ORDER BY sample, question, answer",
                [result.dataset],
            ).fetchall()
        wanted = [(r["question"], r["answer"], r["model"], r["language"]) for r in v.rows]
        assert sorted(stored) == sorted(wanted) and result.dataset == dataset.strip()
        assert datasets.delete_dataset(result.dataset, db)["qa_pairs"] == len(wanted)
    if db.exists():
        assert _tables(db) >= TABLES
        assert not datasets.existing_datasets(db)  # each example cleans up after itself
    _no_stray_files(workdir)


@FAST
@given(model=models, languages_=st.lists(languages, min_size=1, max_size=3), dataset=names)
def test_elicit_job_names_are_checked_before_anything_is_written(
    workdir, model, languages_, dataset
):
    db = workdir / "never.duckdb"
    question = Question("fuzz.01", "Is it fair?", None, None, "fuzz")
    try:
        config = ElicitConfig(
            model=model, languages=tuple(languages_), question_ids=("fuzz.01",), dataset=dataset
        )
        prepare(config, db, [question], reach=False)
    except UserError as exc:
        _one_line(str(exc))
    else:  # what a job accepts, an import and a rename accept too
        assert datasets.check_dataset_name(dataset)
    assert not db.exists()  # checks only: the job never started
    _no_stray_files(workdir)


@SLOW
@given(dataset=names, model=models)
def test_cli_import_exits_0_or_2_with_a_message(workdir, capsys, dataset, model):
    db, upload = workdir / "cli.duckdb", workdir / "upload.csv"
    upload.write_text("question,answer,language\nIs it fair?,It is.,eng\n", encoding="utf-8")
    code = cli.main(
        ["import", str(upload), f"--dataset={dataset}", f"--model={model}", "--db", str(db)]
    )
    out, err = capsys.readouterr()
    assert code in (0, 2)
    if code == 2:
        assert err.strip(), "a refusal says why"
    if db.exists():
        assert _tables(db) >= TABLES
    _no_stray_files(workdir)
