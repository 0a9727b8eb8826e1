"""`diagnose`: k-NN identification on value vs control questions (question-disjoint, with
chance), language and model leakage on a balanced grid, the CLI's JSON and the chart."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from univar import encoders, store
from univar.analysis import diagnostics
from univar.cli import main
from univar.config import field_default
from univar.figures import diagnostics_charts
from univar.training.splits import Split

MINILM = encoders.DEFAULT_ENCODER
MODELS = ("alpha", "beta")
LANGUAGES = ("eng", "fra")
# Each identity argues one stance on every value question; on control questions all four give
# the same factual answer, so only the value questions can tell them apart.
STANCES = {
    ("alpha", "eng"): "Family tradition and duty to my elders must guide {t}; customs come first.",
    ("alpha", "fra"): "I want complete personal freedom over {t}; nobody should decide for me.",
    (
        "beta",
        "eng",
    ): "Protecting forests, rivers and wild animals matters most when it comes to {t}.",
    ("beta", "fra"): "Money, power and high status are what I aim for in {t}; winning is all.",
}
TOPICS = ("work", "school", "marriage", "holidays", "religion", "friends", "politics", "food")
FACTS = (
    "Water boils at one hundred degrees Celsius at sea level.",
    "A spider has eight legs.",
    "Canberra is the capital of Australia.",
    "Seventeen times three is fifty-one.",
    "Light from the Sun reaches Earth in about eight minutes.",
)
N_QUESTIONS = 30


def rows() -> list[tuple]:
    out = []
    for model in MODELS:
        for lang in LANGUAGES:
            for i in range(N_QUESTIONS):
                topic = TOPICS[i % len(TOPICS)]
                q_en = f"Question {i}: what matters to you about {topic}?"
                a_en = STANCES[model, lang].format(t=topic)
                out.append((model, lang, f"schwartz.x.{i:02d}", q_en, a_en, "Schwartz"))
                fact = FACTS[i % len(FACTS)]
                q_en = f"Control question {i}: tell me a fact, please."
                out.append((model, lang, f"control.geo.{i:02d}", q_en, fact, "control"))
    return out


@pytest.fixture
def diag_db(tmp_db):
    values = rows()
    with store.transaction(tmp_db) as con:
        con.executemany(
            "INSERT INTO qa_pairs (qa_id, dataset, model, language, question_id, question, "
            "answer, question_en, answer_en, framework) "
            "VALUES (?, 'test', ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (f"qa{i:05d}", m, lang, qid, f"[{lang}] {q}", f"[{lang}] {a}", q, a, fw)
                for i, (m, lang, qid, q, a, fw) in enumerate(values)
            ],
        )
    return tmp_db


def frame_of(labels: list[tuple], framework: str = "Schwartz") -> pd.DataFrame:
    """A qa_frame-like frame of (model, language, question_id) rows."""
    df = pd.DataFrame(labels, columns=["model", "language", "question_id"])
    df["identity"] = df["model"] + "$" + df["language"]
    df["qa_id"] = [f"qa{i}" for i in range(len(df))]
    df["question_en"] = df["question_id"]
    df["answer_en"] = "a"
    df["framework"] = framework
    return df


def test_value_questions_separate_identities_and_controls_do_not(diag_db):
    report = diagnostics.diagnose([MINILM], diag_db)
    [row] = diagnostics.to_records(report)
    assert row["encoder"] == MINILM and row["identities"] == 4
    assert row["value_chance"] == row["control_chance"] == 25.0  # four balanced identities
    assert row["value_acc"] > 90 and row["control_acc"] <= 40
    assert row["value_acc"] > row["control_acc"] + 50
    assert row["value_questions"] == row["control_questions"] == N_QUESTIONS
    # controls answered alike in both languages and by both models: nothing to leak
    assert report.leakage_on == "control"
    assert report.language_grid.models == MODELS and report.language_grid.languages == LANGUAGES
    assert row["language_chance"] == row["model_chance"] == 50.0
    assert row["language_leakage"] <= 65 and row["model_leakage"] <= 65
    n_test = row["control_test"]
    assert 0 < n_test < 4 * N_QUESTIONS and n_test % 4 == 0  # whole questions, all identities


def test_the_split_is_question_disjoint_and_the_evaluation_split():
    labels = [(m, lang, f"q{i}") for m in MODELS for lang in LANGUAGES for i in range(50)]
    frame = frame_of(labels)
    split = Split("question", 0.2, 0)
    test = diagnostics.held_out(frame, split)
    assert set(frame["question_id"][test]).isdisjoint(frame["question_id"][~test])
    assert 0 < test.sum() < len(frame)
    assert (test == split.test_mask(frame)).all()  # a trained encoder's held-out questions


def test_chance_is_the_training_majority_on_the_test_rows():
    y = np.array(["a"] * 6 + ["b"] * 2 + ["a", "b", "b", "b"])
    test = np.array([False] * 8 + [True] * 4)
    x = np.zeros((12, 2))  # no signal at all
    got = diagnostics.score(x, y, test, k=3)
    assert got.chance == 25.0 and got.n_test == 4 and got.classes == 2  # "a" is 1 of 4
    assert diagnostics.score(x, np.array(["a"] * 12), test) is None  # one class: nothing to learn
    assert diagnostics.score(x, y, np.zeros(12, dtype=bool)) is None


def test_balanced_grid_takes_the_largest_complete_block_and_balances_cells():
    cells = [(m, lang) for m in "ab" for lang in ("eng", "fra", "deu")]
    cells += [("c", "eng"), ("c", "fra")]
    labels = [(m, lang, f"q{i}") for m, lang in cells for i in range(4)]
    labels += [("a", "eng", "q0"), ("b", "fra", "q9")]  # a second sample; a question b alone has
    frame = frame_of(labels)
    grid = diagnostics.balanced_grid(frame, "language", min_models=1, min_languages=2)
    # 2 models x 3 languages and 3 models x 2 languages tie on cells: the target breaks it
    assert (grid.models, grid.languages) == (("a", "b"), ("deu", "eng", "fra"))
    kept = frame.iloc[grid.rows]
    per_cell = kept.groupby(["identity", "question_id"]).size()
    assert (per_cell == 1).all() and len(per_cell) == 6 * 4  # 6 cells x q0..q3, once each
    by_model = diagnostics.balanced_grid(frame, "model", min_models=2, min_languages=1)
    assert (by_model.models, by_model.languages) == (("a", "b", "c"), ("eng", "fra"))
    one = frame_of([("a", "eng", "q1"), ("b", "fra", "q1")])
    assert diagnostics.balanced_grid(one, "model", min_models=2, min_languages=1) is None


def test_value_questions_are_cut_to_the_controls_identities_and_count():
    labels = [(m, "eng", f"v{i}") for m in ("a", "b", "c") for i in range(10)]
    frame = pd.concat(
        [frame_of(labels), frame_of([(m, "eng", f"c{i}") for m in "ab" for i in range(4)])],
        ignore_index=True,
    )
    frame.loc[len(labels) :, "framework"] = "control"
    value, control = diagnostics.identification_rows(frame)
    assert set(frame["identity"][value]) == {"a$eng", "b$eng"} and len(control) == 8
    assert frame["question_id"][value].nunique() == 4


def test_the_value_questions_picked_are_split_like_any_others():
    """Many value questions, few controls: the picked value questions must not all fall on one
    side of the question split (the pick once ordered them by the split's own hash)."""
    labels = [(m, "eng", f"v{i}") for m in "ab" for i in range(400)]
    frame = pd.concat(
        [frame_of(labels), frame_of([(m, "eng", f"c{i}") for m in "ab" for i in range(40)])],
        ignore_index=True,
    )
    frame.loc[len(labels) :, "framework"] = "control"
    value, _ = diagnostics.identification_rows(frame)
    test = diagnostics.held_out(frame, Split("question", 0.2, 0))[value]
    assert 0.05 < test.mean() < 0.5


def test_cli_json_and_defaults(diag_db, capsys):
    assert main(["diagnose", "--db", str(diag_db), "--encoder", MINILM, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    [row] = out["encoders"]
    assert row["encoder"] == MINILM and row["value_acc"] > row["control_acc"]
    assert {"language_leakage", "language_chance", "model_leakage", "model_chance"} <= set(row)
    assert out["k"] == diagnostics.DEFAULT_K == 50 and out["leakage_on"] == "control"
    assert out["split"]["kind"] == "question"
    assert out["split"]["holdout_fraction"] == field_default(Split, "holdout_fraction")
    assert out["quality"]["include_flagged"] is False
    assert main(["diagnose", "--db", str(diag_db), "--encoder", MINILM, "--k", "0"]) == 2
    assert "k must be" in capsys.readouterr().err
    assert main(["diagnose", "--db", str(diag_db), "--datasets", "nope", "--json"]) == 2


def test_default_encoders_are_the_apps_default_and_its_base():
    names = diagnostics.encoder_names()
    assert names[0] == encoders.resolve_name(None) and len(names) == len(set(names))
    if len(names) > 1:  # a shipped trained encoder brings its base along
        assert names[1] == MINILM


def test_chart_shows_each_measure_with_its_chance():
    table = pd.DataFrame(
        [
            {"encoder": "org/enc<b>", "value_acc": 80.0, "value_chance": 25.0},
            {"encoder": "base", "value_acc": 60.0, "value_chance": 25.0},
        ],
        columns=list(diagnostics.COLUMNS),
    ).assign(control_acc=[20.0, 55.0], control_chance=25.0, control_test=40, value_test=40)
    fig = diagnostics_charts.diagnostics_figure(table).to_dict()
    bars = [t for t in fig["data"] if t["type"] == "bar"]
    assert [b["name"] for b in bars] == ["enc&lt;b&gt;", "base"]
    assert list(bars[0]["x"]) == ["Value questions", "Control questions"]  # leakage: unmeasured
    assert list(bars[0]["y"]) == [80.0, 20.0] and list(bars[1]["y"]) == [60.0, 55.0]
    [chance] = [t for t in fig["data"] if t["type"] == "scatter"]
    assert list(chance["y"]) == [25.0, 25.0]
    hover = bars[0]["hovertext"][0]
    assert "chance 25.0%" in hover and "40 held-out" in hover
    assert "enc&lt;b&gt;" in hover and "<b>" not in hover  # a name from data stays text


def test_flag_defaults_are_the_settings_defaults():
    import inspect

    from univar.cli import build_parser

    parser = build_parser(["diagnose"])
    args = parser.parse_args(["diagnose"])
    signature = inspect.signature(diagnostics.diagnose).parameters
    for name in ("k", "holdout_fraction", "seed"):
        assert getattr(args, name) == signature[name].default, name
    assert args.holdout_fraction == field_default(Split, "holdout_fraction")
    assert args.include_flagged is False and args.encoder == []
