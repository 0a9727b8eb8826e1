"""The hand-labelled QA pairs (tests/data/quality_labels.csv) and the checker's precision on
them (issue 14): the file is a seeded sample labelled by reading, and each flag with enough
support must keep its precision above a floor set a little under the figure measured."""

from __future__ import annotations

import csv
import importlib.util
import json
import sys

import pytest
from conftest import ROOT, SHARED_DATA, shared_file

SCRIPT = ROOT / "scripts" / "quality_eval.py"
FULCRA_NAME = "value_fulcra_trustworthy.jsonl"

# Precision floors per flag, a little under what scripts/quality_eval.py measured on the full
# 232 rows with checker version 1 (docs/quality.md, "Precision and recall"): one more false
# positive costs 2-5 points on these supports, so each floor leaves room for about two.
# Every flag with support >= MIN_SUPPORT needs one; empty (0) and truncated (3) have too few.
FLOORS = {
    "not_english": 0.95,  # measured 0.991 (108 of 109 flagged)
    "bad_translation": 0.90,  # measured 0.973 (36 of 37)
    "wrong_language": 0.85,  # measured 0.927 (38 of 41)
    "refusal": 0.85,  # measured 1.000 (19 of 19)
    "echo": 0.90,  # measured 0.974 (38 of 39)
    "degenerate": 0.90,  # measured 0.968 (30 of 31)
}
MIN_SUPPORT = 10


def _script():
    spec = importlib.util.spec_from_file_location("quality_eval", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    # dataclasses look their module up in sys.modules while the class is being built
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


qe = _script()


def _records() -> list[dict]:
    with qe.LABELS.open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_label_file_has_200_rows_with_every_flag_labelled_0_or_1():
    records = _records()
    assert len(records) >= 200
    assert tuple(records[0]) == qe.COLUMNS
    for rec in records:
        for flag in qe.FLAG_COLUMNS:
            assert rec[flag] in ("0", "1"), (rec["source"], rec["ref"], flag, rec[flag])
    refs = [(r["source"], r["ref"]) for r in records]
    assert len(set(refs)) == len(refs)


def test_demo_rows_cover_both_models_and_all_six_languages_and_carry_their_text():
    demo = [r for r in _records() if r["source"] == "demo"]
    assert len(demo) >= 160
    strata = {(r["model"], r["language"]) for r in demo}
    assert {m for m, _ in strata} == {"openai/gemma3", "openai/smollm2"}
    assert {lang for _, lang in strata} == {"eng", "fra", "deu", "spa", "zho", "ind"}
    assert len(strata) == 12
    assert all(r["question"] and r["question_en"] for r in demo)


def test_value_fulcra_rows_hold_a_line_number_and_labels_but_no_text():
    fulcra = [r for r in _records() if r["source"] == "value_fulcra"]
    assert len(fulcra) >= 60
    for r in fulcra:
        assert r["ref"].isdigit() and int(r["ref"]) >= 1
        assert r["language"] == "eng"
        # public data nobody here wrote: its text is read from ../shared/data, never copied
        assert not any(r[c] for c in (*qe.TEXT_COLUMNS, "model"))


def test_value_fulcra_refs_are_the_seeded_draw_and_resolve_to_a_prompt_and_a_reply():
    path = shared_file(FULCRA_NAME)
    lines = qe.fulcra_lines(path)
    refs = [int(r["ref"]) for r in _records() if r["source"] == "value_fulcra"]
    assert refs == qe.sample_fulcra(len(lines))
    for n in refs:
        question, answer = qe.fulcra_pair(json.loads(lines[n - 1]))
        assert question and answer and "\nBob:" not in answer


def test_demo_rows_are_the_seeded_draw_of_the_demo_they_were_labelled_on():
    pd = pytest.importorskip("pandas")
    shipped = pd.read_parquet(qe.DEMO)
    demo = [r for r in _records() if r["source"] == "demo"]
    if not {r["ref"] for r in demo} <= set(shipped["qa_id"]):
        pytest.skip("the demo was rebuilt since labelling: the labels keep the old rows' text")
    assert [r["ref"] for r in demo] == list(qe.sample_demo(shipped)["qa_id"])


def test_without_value_fulcra_its_rows_are_skipped_with_a_note(tmp_path):
    loaded = qe.load(qe.LABELS, tmp_path / "absent.jsonl")
    assert {r.source for r in loaded.rows} == {"demo"}
    assert loaded.notes and "skipped" in loaded.notes[0]


def test_evaluate_counts_true_and_false_positives_per_flag():
    rows = [
        qe.Row("demo", str(i), "eng", "m", "q", "a", "q", "a", labels=frozenset(lab))
        for i, lab in enumerate([{"echo"}, {"echo"}, set(), {"refusal"}])
    ]
    predicted = [{"echo"}, set(), {"echo", "refusal"}, {"refusal"}]
    result = qe.evaluate(rows, predicted, ["echo", "refusal", "language_unknown"])
    echo = result["flags"]["echo"]
    assert (echo["support"], echo["predicted"], echo["tp"], echo["fp"], echo["fn"]) == (
        2,
        2,
        1,
        1,
        1,
    )
    assert echo["precision"] == 0.5 and echo["recall"] == 0.5
    assert result["flags"]["refusal"]["precision"] == 0.5
    assert qe.wilson_low(36, 37) == pytest.approx(0.862, abs=0.001)
    assert qe.wilson_low(0, 0) is None
    assert result["flags"]["empty"]["precision"] is None
    assert result["pass_labels"] == 0.25 and result["pass_checker"] == 0.25
    assert result["unscored"] == ["language_unknown"]
    assert sorted((e["flag"], e["kind"], e["row"].ref) for e in result["errors"]) == [
        ("echo", "FN", "1"),
        ("echo", "FP", "2"),
        ("refusal", "FP", "2"),
    ]


def test_checker_precision_per_flag_stays_above_its_floor():
    pytest.importorskip("univar.quality.checks")
    loaded = qe.load(qe.LABELS, SHARED_DATA / FULCRA_NAME)
    check, checker_flags = qe.checker()
    result = qe.evaluate(loaded.rows, qe.predict(loaded.rows, check), checker_flags)
    scored = {f: s for f, s in result["flags"].items() if s["support"] >= MIN_SUPPORT}
    assert scored, "no flag has enough support to be scored"
    for flag, s in scored.items():
        assert flag in FLOORS, f"{flag} has support {s['support']} but no precision floor"
        # a flag the checker never raises has no precision; it hides nothing wrongly
        if s["predicted"]:
            assert s["precision"] >= FLOORS[flag], (flag, s)


def test_the_script_prints_the_table_and_json(capsys):
    pytest.importorskip("univar.quality.checks")
    assert qe.main(["--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out["flags"]) == set(qe.FLAG_COLUMNS)
    assert out["rows"] >= 160
    assert qe.main(["--errors"]) == 0
    text = capsys.readouterr().out
    assert all(f"\n{flag} " in text for flag in qe.FLAG_COLUMNS)
    assert "rows passing" in text and "\nFP (" in text and "\nFN (" in text
