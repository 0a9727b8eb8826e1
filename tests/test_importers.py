"""CSV validation and import: broken files each get their own message and change nothing;
real answers (Value FULCRA) import as one dataset; the paper's layout; dataset housekeeping."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pandas as pd
import pytest
from conftest import shared_file

from univar import store
from univar.cli import main
from univar.errors import UserError
from univar.ingest import importers
from univar.ingest.validate import validate_bytes
from univar.store import datasets

BAD_DIR = Path(__file__).parent / "bad_csv"
# file -> words its first message must hold (each names the problem, row and column)
BAD_FILES = {
    "empty.csv": "the file is empty",
    "header_only.csv": "header but no data rows",
    "missing_column.csv": "missing required column 'language'",
    "misspelt_column.csv": "unknown column 'answer_english': did you mean 'answer_en'?",
    "utf16.csv": "UTF-16 encoded; UTF-8 is expected",
    "latin1.csv": "not UTF-8 (byte 0xE9 on line 2",
    "unknown_language.csv": "row 3, column language: unknown language code 'fre'; did you mean 'fra'?",
    "empty_answer.csv": "row 3, column answer: empty",
    "duplicate_rows.csv": "row 3 duplicates row 2",
    "over_size_limit.csv": "over the 1.0 KB limit",
    "formula_cells.csv": "row 3, column answer: starts with '='",
    "bad_quoting.csv": "line 3: bad quoting",
    "unclosed_quote.csv": "line 3: a quoted cell is never closed",
    "ragged_rows.csv": "row 3 has 5 cells, the header has 4",
    "binary_garbage.csv": "binary, not text",
    "excel_workbook.csv": "Excel workbook",
    "control_chars.csv": "row 2, column answer: control character U+001B",
    "huge_field.csv": "row 2, column answer: 60,000 characters",
    "bad_sample.csv": "row 2, column sample: 'first' is not a whole number",
    "dollar_in_model.csv": "row 2, column model: '$' is not allowed",
}
GOOD = b"question,answer,model,language\nIs honesty important?,Yes.,demo-model,eng\n"


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def filled_db(tmp_path_factory) -> Path:
    """A database that already holds one dataset (so 'unchanged' means something)."""
    db = tmp_path_factory.mktemp("db") / "filled.duckdb"
    importers.import_validation(validate_bytes(GOOD), db, dataset="existing")
    return db


def fulcra_csv(path: Path, limit: int | None = None) -> Path:
    """Value FULCRA as the upload layout: model = response_source, language = eng."""
    rows = []
    for line in shared_file("value_fulcra_trustworthy.jsonl").read_text("utf-8").splitlines():
        rec = json.loads(line)
        question, answer = rec["dialogue"][len("Human: ") :].split("\nBob: ", 1)
        rows.append(
            {
                "question": question,
                "answer": answer,
                "model": rec["response_source"],
                "language": "eng",
            }
        )
    pd.DataFrame(rows[:limit]).to_csv(path, index=False)
    return path


def test_every_bad_file_is_covered():
    assert sorted(p.name for p in BAD_DIR.glob("*.csv")) == sorted(BAD_FILES)
    assert len(BAD_FILES) >= 12


@pytest.mark.parametrize("name", sorted(BAD_FILES))
def test_bad_csv_has_its_message_and_leaves_db_unchanged(name, filled_db):
    before = digest(filled_db)
    limit = 1024 if name == "over_size_limit.csv" else None
    with pytest.raises(UserError) as exc:
        importers.import_files("csv", [BAD_DIR / name], filled_db, dataset="x", max_bytes=limit)
    assert BAD_FILES[name] in str(exc.value)
    assert name in str(exc.value)  # the message names the file
    assert digest(filled_db) == before
    assert datasets.list_datasets(filled_db)["dataset"].tolist() == ["existing"]


def test_bad_messages_are_distinct():
    firsts = []
    for name in BAD_FILES:
        limit = 1024 if name == "over_size_limit.csv" else None
        v = validate_bytes((BAD_DIR / name).read_bytes(), name=name, max_bytes=limit)
        firsts.append((v.errors + v.confirm)[0])
    assert len(set(firsts)) == len(firsts)


def test_problems_are_all_collected_and_capped():
    body = "".join(f"Q{i}?,A,m,xx{i % 3}\n" for i in range(40)) + "Q,,m,eng\n"
    v = validate_bytes(b"question,answer,model,language\n" + body.encode())
    assert any("column answer: empty" in e for e in v.errors)
    assert sum("unknown language code" in e for e in v.errors) == 8  # examples, then a count
    assert any("... and 32 more rows" in e for e in v.errors)


def test_fulcra_csv_imports_as_one_dataset(tmp_path, tmp_db):
    path = fulcra_csv(tmp_path / "fulcra.csv")
    v = importers.validate_files([path])
    assert v.ok and len(v.rows) == 1718
    assert len(v.confirm) == 3  # three real answers start with '-': the user must say yes
    with pytest.raises(UserError, match="formula"):
        importers.import_validation(v, tmp_db, dataset="fulcra")
    result = importers.import_validation(v, tmp_db, dataset="fulcra", accept_formulas=True)
    assert result.rows == 1718 and result.languages == ["eng"]
    counts = store.query_df(
        "SELECT model, count(*) AS n FROM qa WHERE dataset = 'fulcra' GROUP BY model", path=tmp_db
    )
    assert dict(zip(counts["model"], counts["n"], strict=True)) == {
        "gemini": 432,
        "PKU-Alignment/alpaca-7b-reproduced": 370,
        "gpt-35-turbo": 323,
        "baichuan-inc/Baichuan2-7B-Chat": 297,
        "meta-llama/Llama-2-7b-chat-hf": 296,
    }
    kind = store.query_df("SELECT kind, provenance FROM datasets", path=tmp_db)
    assert kind["kind"][0] == "upload" and json.loads(kind["provenance"][0])["rows"] == 1718


def test_same_name_twice_is_refused_and_changes_nothing(tmp_db):
    importers.import_validation(validate_bytes(GOOD), tmp_db, dataset="mine")
    before = digest(tmp_db)
    with pytest.raises(UserError, match="already exists"):
        importers.import_validation(validate_bytes(GOOD), tmp_db, dataset="mine")
    assert digest(tmp_db) == before


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("", "empty"),
        ("../etc", "path characters"),
        ("a\\b", "path characters"),
        ("x" * 65, "limit is 64"),
        (".hidden", "letters, digits"),
        ("a\nb", "letters, digits"),
    ],
)
def test_bad_dataset_names(name, words):
    with pytest.raises(UserError, match=words):
        datasets.check_dataset_name(name)


def test_generic_csv_options_semicolons_bom_and_samples(tmp_db):
    data = (
        "\ufeffquestion;answer;model;language;value;question_en;answer_en\n"
        "Aimez-vous la liberté ?;Oui.;m;fra_Latn;SDA;Do you like freedom?;Yes.\n"
        "Q?;A1;m;ENG;;;\nQ?;A2;m;eng;;;\n"
    ).encode()
    v = validate_bytes(data)
    assert v.ok and any("separated by ';'" in n for n in v.notes)
    assert [(r["language"], r["sample"]) for r in v.rows] == [("fra", 0), ("eng", 0), ("eng", 1)]
    importers.import_validation(v, tmp_db, dataset="opts")
    qa = store.query_df("SELECT language, value, question_en, translator FROM qa", path=tmp_db)
    assert set(qa["language"]) == {"fra", "eng"} and "SDA" in set(qa["value"])
    assert v.summary()["untranslated"] == 0


def test_untranslated_rows_are_flagged():
    v = validate_bytes(b"question,answer,model,language\nQuoi ?,Oui.,m,fra\n")
    assert v.ok and v.summary()["untranslated"] == 1
    assert any("embedded as they are" in n for n in v.notes)


def test_bank_question_keeps_its_id_and_value(tmp_db):
    from univar.catalog import questions

    questions.load_bank(tmp_db)
    bank = questions.read_bank()[0]
    row = f'question,answer,model,language\n"{bank.question}",Sure.,m,eng\n'
    importers.import_validation(validate_bytes(row.encode()), tmp_db, dataset="b")
    qa = store.query_df("SELECT question_id, value FROM qa WHERE dataset = 'b'", path=tmp_db)
    assert qa["question_id"][0] == bank.question_id
    assert qa["value"][0] == bank.value_code


def test_univar_paper_layout_model_from_file_name(tmp_path, tmp_db):
    a = tmp_path / "aya-101.csv"
    a.write_text("question,answer,lang\nQ1?,A1,eng\nQ1 fr?,A1 fr,fra\nQ2?,-,eng\n", "utf-8")
    b = tmp_path / "chatglm3-6b.csv.gz"
    import gzip

    b.write_bytes(gzip.compress(b"question,answer,lang,mt_lang\nQ zh?,A zh,zho,eng\n"))
    result = importers.import_files("univar-paper", [a, b], tmp_db, dataset="paper")
    assert result.rows == 3 and result.models == ["aya-101", "chatglm3-6b"]
    qa = store.query_df("SELECT identity, question_en, translator FROM qa ORDER BY 1", path=tmp_db)
    assert list(qa["identity"]) == ["aya-101$eng", "aya-101$fra", "chatglm3-6b$zho"]
    assert qa["question_en"][2] == "Q zh?" and "NLLB" in qa["translator"][2]
    kinds = datasets.list_datasets(tmp_db)
    assert kinds["kind"][0] == "import" and kinds["rows"][0] == 3


def test_univar_paper_model_flag_wins(tmp_path):
    a = tmp_path / "whatever.csv"
    a.write_text("question,answer,lang\nQ1?,A1,eng\n", "utf-8")
    v = importers.validate_files([a], layout="univar-paper", model="Yi-34B-Chat")
    assert v.summary()["models"] == ["Yi-34B-Chat"]


def test_rename_and_delete_take_everything_along(tmp_db):
    importers.import_validation(validate_bytes(GOOD), tmp_db, dataset="one")
    importers.import_validation(validate_bytes(GOOD), tmp_db, dataset="two")
    with store.transaction(tmp_db) as con:  # a cached map that used dataset one's point
        con.execute("INSERT INTO projections VALUES ('p', 'e', '{}', 1, 0, now())")
        con.execute(
            "INSERT INTO projection_points (proj_key, qa_id, x, y) SELECT 'p', qa_id, 0, 0 "
            "FROM qa_pairs "
            "WHERE dataset = 'one'"
        )
    with pytest.raises(UserError, match="already exists"):
        datasets.rename_dataset("one", "two", tmp_db)
    datasets.rename_dataset("one", "uno", tmp_db)
    assert datasets.uploaded(tmp_db) == ["two", "uno"]
    assert datasets.delete_dataset("uno", tmp_db) == {
        "qa_pairs": 1,
        "questions": 0,
        "projections": 1,
    }
    left = store.query_df("SELECT count(*) AS n FROM projection_points", path=tmp_db)
    assert left["n"][0] == 0 and datasets.list_datasets(tmp_db)["dataset"].tolist() == ["two"]
    with pytest.raises(UserError, match="no dataset"):
        datasets.delete_dataset("uno", tmp_db)


def test_cli_import_check_then_import(tmp_path, tmp_db, capsys):
    path = tmp_path / "mine.csv"
    path.write_bytes(GOOD)
    assert main(["import", str(path), "--check"]) == 0
    assert not tmp_db.exists()  # --check writes nothing, not even an empty database
    assert main(["import", str(path), "--dataset", "cli set"]) == 0
    assert "imported 1 rows into 'cli set'" in capsys.readouterr().out
    assert main(["import", str(BAD_DIR / "latin1.csv")]) == 2
    assert "not UTF-8" in capsys.readouterr().err


def test_cli_dispatches_pvq_rr(tmp_db, capsys):
    items = shared_file("pvq_rr_items.jsonl")
    assert main(["import", "--format", "pvq-rr", str(items)]) == 0
    n = store.query_df(
        "SELECT count(*) AS n FROM instrument_items WHERE instrument = 'pvq-rr' "
        "AND text IS NOT NULL",
        path=tmp_db,
    )
    assert n["n"][0] == 57


def test_translation_fills_english_through_the_engine(tmp_db, fs):
    data = "question,answer,model,language\nQuoi ?,Oui.,m,fra\nWhy?,Because.,m,eng\n"
    translator = importers.llm_translator("openai/t", fs.api_base, db=tmp_db)
    importers.import_validation(
        validate_bytes(data.encode()), tmp_db, dataset="t", translate=translator
    )
    qa = store.query_df(
        "SELECT language, question_en, answer_en, coalesce(translator, '-') FROM qa ORDER BY 1",
        path=tmp_db,
    )
    assert qa.values.tolist() == [
        ["eng", "Why?", "Because.", "-"],
        ["fra", "[English] Quoi ?", "[English] Oui.", f"openai/t@{fs.api_base}"],
    ]
    assert fs.requests == 2  # question and answer of the one French row


def test_failed_translation_imports_nothing(tmp_db, fs):
    fs.mode = "500"
    data = b"question,answer,model,language\nQuoi ?,Oui.,m,fra\n"
    with pytest.raises(UserError, match="could not translate"):
        importers.import_validation(
            validate_bytes(data),
            tmp_db,
            dataset="t",
            translate=importers.llm_translator("openai/t", fs.api_base, db=tmp_db),
        )
    assert store.query_df("SELECT count(*) AS n FROM qa_pairs", path=tmp_db)["n"][0] == 0


def test_question_id_column_is_kept(tmp_db):
    data = (
        b"question,answer,model,language,question_id\nQ?,A,m,eng,my-q-1\nQ fr?,A fr,m,fra,my-q-1\n"
    )
    importers.import_validation(validate_bytes(data), tmp_db, dataset="ids")
    qa = store.query_df("SELECT DISTINCT question_id FROM qa", path=tmp_db)
    assert qa["question_id"].tolist() == ["my-q-1"]  # one question across two languages
