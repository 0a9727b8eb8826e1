"""The value-expression scorer: its shipped weights, scoring vectors, a model$language's profile
from a real store (quality filter, embedding cache), the CLI, the figure, and (slow) its
held-out macro-F1 on Value FULCRA re-measured with the training script's own evaluation."""

from __future__ import annotations

import csv
import importlib.util
import io
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import shared_file
from helpers_demo import copy_db

from univar import cli, encoders, quality, store
from univar.analysis import expression
from univar.errors import UserError
from univar.figures import overlay_charts
from univar.ingest import importers, validate
from univar.quality.filter import QualityFilter

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "train_value_scorer.py"
KEPT = (
    "self-direction",
    "achievement",
    "power",
    "security",
    "tradition",
    "conformity",
    "benevolence",
    "universalism",
)
# Measured by the script (1 Dec 2026): held-out macro-F1 0.55 against 0.28 for the majority
# class; the slow test asks for most of that lead, not for the last digit.
MARGIN = 0.2

# Our own words: answers that plainly lean on a value, a refusal, and one translated pair.
PAIRS = [
    (
        "Should I help my elderly neighbour carry her shopping?",
        "Yes. Helping the people around you, especially those who struggle, is kind and "
        "builds trust; caring for others makes a community stronger.",
    ),
    (
        "Is it fine to ignore traffic rules when the road is empty?",
        "No. Rules keep everyone safe, and following them even when nobody is watching keeps "
        "order and protects other people.",
    ),
    (
        "Should young people choose their own careers?",
        "Yes. Everyone should decide for themselves what to pursue: independence and the "
        "freedom to follow your own curiosity make a life your own.",
    ),
    (
        "Is it acceptable to dump waste into a river to save money?",
        "No. Polluting rivers harms nature and every person who depends on clean water; "
        "protecting the environment matters more than saving costs.",
    ),
    (
        "How can I get ahead at work?",
        "Set ambitious goals, build the skills your field rewards and show your results: "
        "hard work and competence are how people succeed.",
    ),
    (
        "Why is it good to lie to my friends?",
        "It is not. Honesty and loyalty are what friendships rest on; lying to friends "
        "destroys their trust in you.",
    ),
]
TRANSLATED = (
    "Faut-il respecter les traditions de sa famille ?",
    "Oui, les traditions nous relient à nos ancêtres.",
    "Should one respect the traditions of one's family?",
    "Yes, traditions connect us with our ancestors and deserve respect.",
)
WHO, WHO_FRA = "tester$eng", "tester$fra"


def load_script():
    spec = importlib.util.spec_from_file_location("train_value_scorer", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


class CountingEncoder:
    """The base MiniLM, counting the texts it is asked to encode."""

    def __init__(self, name: str):
        self.inner = encoders.LazyEncoder(name)
        self.id = self.inner.id
        self.encoded = 0

    @property
    def dim(self) -> int:
        return self.inner.dim

    def encode(self, texts, batch_size: int = 64):
        self.encoded += len(texts)
        return self.inner.encode(texts, batch_size=batch_size)


def import_pairs(db: Path) -> None:
    buffer = io.StringIO()
    columns = ["question", "answer", "model", "language", "question_en", "answer_en"]
    writer = csv.DictWriter(buffer, columns)
    writer.writeheader()
    for question, answer in PAIRS:
        writer.writerow({"question": question, "answer": answer, "model": "tester"} | _eng())
    q, a, q_en, a_en = TRANSLATED
    writer.writerow(
        {"question": q, "answer": a, "model": "tester", "language": "fra"}
        | {"question_en": q_en, "answer_en": a_en}
    )
    data = buffer.getvalue().encode()
    checked = validate.validate_bytes(data, name="mine.csv", max_bytes=len(data) + 1)
    importers.import_validation(checked, db, dataset="mine")


def _eng() -> dict:
    return {"language": "eng", "question_en": "", "answer_en": ""}


@pytest.fixture(scope="module")
def scored_db(tmp_path_factory) -> Path:
    """Six English QA pairs and one translated French one, their base-MiniLM vectors cached."""
    db = tmp_path_factory.mktemp("expression") / "store.duckdb"
    import_pairs(db)
    for who in (WHO, WHO_FRA):
        expression.value_expression(db, who, quality=QualityFilter(include_flagged=True))
    return db


@pytest.fixture
def db(scored_db, tmp_path, monkeypatch) -> Path:
    path = copy_db(scored_db, tmp_path)
    monkeypatch.setenv("UNIVAR_DB", str(path))
    return path


# --- the shipped scorer ------------------------------------------------------------------------


def test_the_shipped_weights_load_without_pickle_and_have_the_documented_shapes():
    folder = expression.SCORER_DIR
    weights, card_file = folder / expression.WEIGHTS_FILE, folder / expression.CARD_FILE
    assert weights.stat().st_size + card_file.stat().st_size < 1_000_000
    card = json.loads(card_file.read_text(encoding="utf-8"))
    with np.load(weights, allow_pickle=False) as npz:
        assert set(npz.files) == {"coef", "intercept", "classes", "values"}
        assert npz["coef"].dtype == npz["intercept"].dtype == np.float32
        assert npz["coef"].shape == (len(KEPT), 3, 384)
        assert npz["intercept"].shape == (len(KEPT), 3)
        assert (
            tuple(npz["classes"]) == expression.CLASSES == ("opposes", "not_expressed", "supports")
        )
        assert tuple(npz["values"]) == KEPT == tuple(card["values"])
    assert card["name"] == expression.SCORER_NAME and card["base_encoder"] == "all-MiniLM-L6-v2"
    assert card["data"]["n_rows"] == 1718 and len(card["data"]["models"]) == 5
    assert set(card["data"]["left_out_values"]) == {"hedonism", "humility", "stimulation"}
    held = card["held_out"]
    assert set(held["per_value"]) == set(KEPT)
    assert held["macro_f1"] > held["majority_macro_f1"] + MARGIN
    assert card["limits"] and card["date"] and card["version"] >= 1
    scorer = expression.load_scorer()
    assert scorer.values == KEPT and scorer.dim == 384
    assert scorer.headline() == (
        f"macro-F1 {held['macro_f1']:.2f} vs {held['majority_macro_f1']:.2f} majority"
    )


def test_score_gives_probabilities_that_sum_to_one_per_value():
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(7, 384)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)  # as MiniLM's
    probs = expression.score(vectors)
    assert probs.shape == (7, len(KEPT), 3)
    assert np.allclose(probs.sum(axis=2), 1.0, atol=1e-5)
    assert (probs >= 0).all() and (probs <= 1).all()
    assert expression.score(np.zeros((0, 384))).shape == (0, len(KEPT), 3)
    with pytest.raises(UserError, match="384-d"):
        expression.score(np.zeros((2, 768)))


def test_a_scorer_folder_that_disagrees_with_its_card_is_refused(tmp_path):
    folder = tmp_path / "scorer"
    folder.mkdir()
    card = json.loads((expression.SCORER_DIR / expression.CARD_FILE).read_text())
    (folder / expression.CARD_FILE).write_text(json.dumps(card))
    np.savez(
        folder / expression.WEIGHTS_FILE,
        coef=np.zeros((2, 3, 384), np.float32),
        intercept=np.zeros((2, 3), np.float32),
        classes=np.array(expression.CLASSES),
        values=np.array(["power", "security"]),
    )
    with pytest.raises(UserError, match="does not hold"):
        expression.load_scorer(folder)
    with pytest.raises(UserError, match="no value scorer"):
        expression.load_scorer(tmp_path / "nothing")


def test_basic_values_sit_in_circle_order():
    angles = [expression.value_angle(v) for v in expression.BASIC_VALUES]
    assert angles == sorted(angles) and len(set(angles)) == len(angles)


# --- a profile from a real store ---------------------------------------------------------------


def test_value_expression_scores_each_kept_value_from_cached_vectors(db):
    counting = CountingEncoder("all-MiniLM-L6-v2")
    calls = []
    frame = expression.value_expression(
        db,
        WHO,
        quality=QualityFilter(include_flagged=True),
        encoder_loader=lambda name: counting,
        progress=lambda done, total, message="": calls.append((done, total)),
    )
    assert counting.encoded == 0 and calls == [(0, 0)]  # the fixture's vectors, looked up
    assert list(frame.columns) == list(expression.COLUMNS)
    assert tuple(frame["value"]) == KEPT and frame["angle"].is_monotonic_increasing
    assert (frame["n"] == len(PAIRS)).all()
    assert frame["share_supporting"].between(0, 1).all()
    assert frame["share_opposing"].between(0, 1).all()
    assert frame["net"].between(-1, 1).all()
    assert (frame["share_supporting"] + frame["share_opposing"] <= 1).all()
    # plainly caring and rule-keeping answers: those values lean towards supports
    net = dict(zip(frame["value"], frame["net"], strict=True))
    assert net["benevolence"] > 0 and net["conformity"] > 0
    assert expression.to_embed(db, WHO, quality=QualityFilter(include_flagged=True)) == 0


def test_a_new_answer_is_embedded_once_with_progress(db):
    with store.transaction(db) as con:
        con.execute(
            "INSERT INTO qa_pairs (qa_id, dataset, model, language, question_id, question, "
            "answer) VALUES ('extra', 'mine', 'tester', 'eng', 'q-extra', 'Is greed good?', "
            "'Greed hurts others; sharing what you have is better for everyone.')"
        )
    everything = QualityFilter(include_flagged=True)
    assert expression.to_embed(db, WHO, quality=everything) == 1
    counting = CountingEncoder("all-MiniLM-L6-v2")
    calls = []
    frame = expression.value_expression(
        db,
        WHO,
        quality=everything,
        encoder_loader=lambda name: counting,
        progress=lambda done, total, message="": calls.append((done, total)),
    )
    assert counting.encoded == 1 and calls[0] == (0, 1) and calls[-1] == (1, 1)
    assert (frame["n"] == len(PAIRS) + 1).all()
    again = CountingEncoder("all-MiniLM-L6-v2")
    expression.value_expression(db, WHO, quality=everything, encoder_loader=lambda name: again)
    assert again.encoded == 0


def test_value_expression_respects_the_quality_filter(db):
    first = store.query_df("SELECT min(qa_id) AS qa_id FROM qa WHERE identity = ?", [WHO], path=db)[
        "qa_id"
    ][0]
    with store.transaction(db) as con:
        con.execute(
            "INSERT OR REPLACE INTO qa_quality (qa_id, checker_version, flags, reasons) "
            "VALUES (?, ?, ['echo'], ?)",
            [first, quality.CHECKER_VERSION, json.dumps({"echo": "test verdict"})],
        )
    passing = store.query_df(
        f"SELECT count(*) AS n FROM qa WHERE identity = ? AND {quality.passing_sql()}",
        [WHO],
        path=db,
    )["n"][0]
    assert passing < len(PAIRS)
    default = expression.value_expression(db, WHO)
    assert (default["n"] == passing).all()
    every = expression.value_expression(db, WHO, quality=QualityFilter(include_flagged=True))
    assert (every["n"] == len(PAIRS)).all()


def test_translated_answers_are_scored_on_their_english(db):
    (text,) = expression.answers(db, WHO_FRA, QualityFilter(include_flagged=True))["text"]
    assert text == encoders.qa_text(TRANSLATED[2], TRANSLATED[3])


def test_an_unknown_identity_is_a_user_error(db):
    with pytest.raises(UserError, match="no QA pairs of 'nobody\\$eng'"):
        expression.value_expression(db, "nobody$eng")


def test_the_cli_prints_the_profile_as_json(db, capsys):
    assert (
        cli.main(["expression", "--identity", WHO, "--db", str(db), "--include-flagged", "--json"])
        == 0
    )
    out = json.loads(capsys.readouterr().out)
    assert out["identity"] == WHO and out["scorer"]["base_encoder"] == "all-MiniLM-L6-v2"
    assert out["scorer"]["held_out_macro_f1"] > out["scorer"]["held_out_majority_macro_f1"]
    assert [v["value"] for v in out["values"]] == list(KEPT)
    assert {v["n"] for v in out["values"]} == {len(PAIRS)}
    assert cli.main(["expression", "--identity", WHO, "--db", str(db)]) == 0
    table = capsys.readouterr().out
    assert "Benevolence" in table and "macro-F1" in table
    assert cli.main(["expression", "--identity", "nobody$eng", "--db", str(db)]) == 2


# --- the figure --------------------------------------------------------------------------------


def test_expression_figure_diverges_in_circle_order_and_escapes_names():
    frame = pd.DataFrame(
        {
            "value": ["b", "a"],
            "value_name": ['<a href="http://127.0.0.1:9/">x</a>', "R&D <b>"],
            "angle": [90.0, 10.0],
            "n": [4, 4],
            "share_supporting": [0.5, 0.25],
            "share_opposing": [0.25, 0.0],
            "net": [0.2, 0.1],
        }
    )
    spec = overlay_charts.expression_figure(frame, title="Values <i>x</i>").to_dict()
    opposes, supports = spec["data"]
    assert (opposes["name"], supports["name"]) == ("opposes", "supports")
    assert list(supports["y"]) == [
        "R&amp;D &lt;b&gt;",
        '&lt;a href="http://127.0.0.1:9/"&gt;x&lt;/a&gt;',
    ]
    assert list(supports["x"]) == [0.25, 0.5] and list(opposes["x"]) == [-0.0, -0.25]
    assert [list(c) for c in supports["customdata"]] == [[4, 0.1, 0.25], [4, 0.2, 0.5]]
    assert "%{customdata[0]}" in supports["hovertemplate"]
    assert spec["layout"]["title"]["text"] == "Values &lt;i&gt;x&lt;/i&gt;"
    assert spec["layout"]["yaxis"]["autorange"] == "reversed"  # the first value on top
    assert "-" not in "".join(spec["layout"]["xaxis"]["ticktext"])  # shares both ways
    long = "Values its answers express (scorer: macro-F1 0.56 vs 0.28 majority, R&D held-out)"
    wrapped = overlay_charts.expression_figure(frame, title=long).layout.title.text
    lines = wrapped.split("<br>")
    assert len(lines) == 2 and all(len(line) <= 60 for line in lines)
    assert " ".join(lines) == long.replace("&", "&amp;")


# --- the held-out figures, measured again ------------------------------------------------------


@pytest.mark.slow
def test_held_out_macro_f1_beats_the_majority_class(tmp_path):
    script = load_script()
    frame = script.read_rows(shared_file("value_fulcra_trustworthy.jsonl"))
    assert len(frame) == 1718 and script.kept_values(frame) == list(KEPT)
    vectors = script.embed(frame, db=tmp_path / "cache.duckdb")
    figures = script.evaluate(frame, vectors)
    assert figures["n_held_out"] == 336  # the shipped encoder's held-out questions
    assert figures["macro_f1"] > figures["majority_macro_f1"] + MARGIN
    better = [v for v, f in figures["per_value"].items() if f["macro_f1"] > f["majority_macro_f1"]]
    assert better == list(KEPT)
    shipped = expression.load_scorer().card["held_out"]
    assert abs(figures["macro_f1"] - shipped["macro_f1"]) < 0.02  # the card is reproducible
