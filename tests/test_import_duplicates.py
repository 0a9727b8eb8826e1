"""Repeated rows on import: refused by default as before; with --skip-duplicates (or the Upload
page's checkbox) exact repeats are left out and counted, the rest goes in in one transaction,
and a repeat that differs in any cell is still refused, naming both rows."""

from __future__ import annotations

import json
from pathlib import Path

from streamlit.testing.v1 import AppTest

from univar import store
from univar.cli import main
from univar.ingest import importers
from univar.ingest.validate import validate_bytes

PAGE = str(Path(__file__).resolve().parent.parent / "pages" / "upload.py")
HEADER = "question,answer,model,language,answer_en,value\n"
ROWS = [
    "Is honesty important?,Yes.,m1,eng,,honesty",
    "Is honesty important?,Yes.,m1,eng,,honesty",  # row 3: exact repeat of row 2
    "Is family first?,Often.,m1,eng,,family",
    "Is honesty important?,Yes.,m2,eng,,honesty",  # another model: not a repeat
    "Is family first?,Often.,m1,eng,,family",  # row 6: exact repeat of row 4
    "Is honesty important?,Yes.,m1,eng,,honesty",  # row 7: a third copy of row 2
]
REPEATS = (HEADER + "\n".join(ROWS) + "\n").encode()
# row 3 has row 2's key (model, language, question, answer, sample) but another value
DIFFERING = (
    HEADER + "Is honesty important?,Yes.,m1,eng,,honesty\n"
    "Is honesty important?,Yes.,m1,eng,,tradition\n"
    "Is family first?,Often.,m1,eng,,family\n"
).encode()


def _count(db: Path, dataset: str) -> int:
    sql = "SELECT count(*) AS n FROM qa WHERE dataset = ?"
    return int(store.query_df(sql, [dataset], path=db)["n"][0])


def test_cli_refuses_repeats_without_the_flag(tmp_path, tmp_db, capsys):
    path = tmp_path / "repeats.csv"
    path.write_bytes(REPEATS)
    assert main(["import", "--db", str(tmp_db), str(path), "--dataset", "r"]) == 2
    err = capsys.readouterr().err
    assert "row 3 duplicates row 2" in err and "nothing was written" in err
    assert "--skip-duplicates" in err  # the way out is named
    assert not tmp_db.exists()


def test_cli_skip_duplicates_drops_exact_repeats_and_imports_the_rest(tmp_path, tmp_db, capsys):
    path = tmp_path / "repeats.csv"
    path.write_bytes(REPEATS)
    argv = ["import", "--db", str(tmp_db), "--format", "csv", str(path), "--dataset", "r"]
    assert main([*argv, "--skip-duplicates"]) == 0
    out, err = capsys.readouterr()
    assert "3 exact duplicate rows dropped" in err
    assert "imported 3 rows into 'r' (3 exact duplicate rows dropped)" in out
    assert _count(tmp_db, "r") == 3
    rows = store.query_df(
        "SELECT model, question, value FROM qa WHERE dataset = 'r' ORDER BY model, question",
        path=tmp_db,
    )
    assert rows.values.tolist() == [
        ["m1", "Is family first?", "family"],
        ["m1", "Is honesty important?", "honesty"],
        ["m2", "Is honesty important?", "honesty"],
    ]
    with store.connect(tmp_db) as con:
        (prov,) = con.execute("SELECT provenance FROM datasets WHERE dataset = 'r'").fetchone()
    assert json.loads(prov)["duplicates_dropped"] == 3


def test_a_repeat_that_differs_is_still_refused_naming_both_rows(tmp_path, tmp_db, capsys):
    path = tmp_path / "differing.csv"
    path.write_bytes(DIFFERING)
    argv = ["import", "--db", str(tmp_db), str(path), "--dataset", "d", "--skip-duplicates"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "row 3 repeats row 2" in err and "not an exact duplicate" in err
    assert "nothing was written" in err and not tmp_db.exists()


def test_exact_means_every_cell_and_samples_keep_their_numbers():
    # the same answer as a distinct sample is no repeat; an answer_en that differs is
    v = validate_bytes(
        b"question,answer,model,language,sample,answer_en\n"
        b"Q?,A.,m,fra,0,A en\nQ?,A.,m,fra,1,A en\nQ?,A.,m,fra,0,A en\nQ?,A.,m,fra,1,other\n",
        skip_duplicates=True,
    )
    assert v.dropped == 1 and v.duplicates == 1
    assert v.errors == [
        "row 5 repeats row 3 (same model, language, question, answer and sample) but differs "
        "in another cell (question_en, answer_en, value, framework, question_id): not an exact "
        "duplicate; remove one of them or give them distinct samples"
    ]
    clean = validate_bytes(REPEATS, skip_duplicates=True)
    assert clean.ok and clean.dropped == 3 and len(clean.rows) == 3
    assert [r["row"] for r in clean.rows] == [2, 4, 5]  # the first of each is kept
    assert not validate_bytes(REPEATS).ok  # the default is unchanged


def test_several_files_count_their_drops_together(tmp_path, tmp_db):
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    a.write_bytes(REPEATS)
    b.write_bytes(REPEATS.replace(b"m1", b"m3").replace(b"m2", b"m4"))
    result = importers.import_files("csv", [a, b], tmp_db, dataset="ab", skip_duplicates=True)
    assert (result.rows, result.dropped) == (6, 6)


def _page(db: Path) -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=60)
    at.session_state["db"] = str(db)
    return at.run()


def _by_label(widgets, label: str):
    return next(w for w in widgets if w.label.startswith(label))


def test_upload_page_checkbox_skips_exact_duplicates(tmp_db):
    at = _page(tmp_db)
    at.get("file_uploader")[0].upload("repeats.csv", REPEATS, "text/csv").run()
    assert any("row 3 duplicates row 2" in e.value for e in at.error)
    assert not [b for b in at.button if b.label == "Import"]
    assert any("Skip exact duplicate rows" in i.value for i in at.info)  # the hint

    _by_label(at.checkbox, "Skip exact duplicate rows").check().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert any("3 exact duplicate rows dropped" in i.value for i in at.info)
    assert {m.label: m.value for m in at.metric}["QA pairs"] == "3"
    _by_label(at.checkbox, "Embed with the current encoder").uncheck()
    _by_label(at.text_input, "Dataset name").input("deduped")
    at.run()
    _by_label(at.button, "Import").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert "3 exact duplicate rows dropped" in at.success[0].value
    assert _count(tmp_db, "deduped") == 3


def test_upload_page_refuses_a_differing_repeat_even_with_the_checkbox(tmp_db):
    at = _page(tmp_db)
    at.get("file_uploader")[0].upload("differing.csv", DIFFERING, "text/csv").run()
    _by_label(at.checkbox, "Skip exact duplicate rows").check().run()
    assert any("row 3 repeats row 2" in e.value for e in at.error)
    assert not [b for b in at.button if b.label == "Import"]
    assert not tmp_db.exists()
