"""The model split: whole models held out of training, and the evaluation of a trained encoder
on LLMs it never saw (only the held-out identities are told apart, each fold's chance beside)."""

from __future__ import annotations

import dataclasses
import json

import pandas as pd
import pytest
from conftest import ROOT
from streamlit.testing.v1 import AppTest
from test_train import HEAD

from univar import encoders
from univar.analysis import evaluation
from univar.cli import main
from univar.config import field_default, stable_hash
from univar.errors import UserError
from univar.ingest import value_fulcra
from univar.training import loop, settings, splits, train

# six 'models' with answers that differ in wording, so TF-IDF tells them apart
STYLES = {
    "org/alpha": "Absolutely. {t} matters most, and I say so plainly.",
    "beta": "As an AI, I cannot take sides on {t}; it depends on many factors.",
    "gamma": "No way. {t} is overrated, honestly, and people should relax.",
    "delta": "Well, my grandmother always said {t} is the root of a good life.",
    "epsilon": "Statistically speaking, {t} correlates with outcomes in most surveys.",
    "zeta": "Hmm, {t}? Ask me tomorrow, I am busy dreaming about the sea.",
}
TOPICS = ["family", "freedom", "tradition", "wealth", "honesty", "safety", "nature", "power"]


def write_models(path, n_questions: int = 30, models=STYLES) -> None:
    """A small Value FULCRA file: every model answers every question in its own style."""
    with open(path, "w", encoding="utf-8") as fh:
        for i in range(n_questions):
            topic = TOPICS[i % len(TOPICS)]
            for model in models:
                answer = STYLES[model].format(t=topic)
                dialogue = f"Human: Q{i}: what about {topic}?\nBob: {answer}"
                fh.write(json.dumps({"dialogue": dialogue, "response_source": model}) + "\n")


@pytest.fixture
def six_db(tmp_db, tmp_path):
    src = tmp_path / "six.jsonl"
    write_models(src)
    value_fulcra.load_value_fulcra(src, tmp_db, dataset="six")
    return tmp_db


# --- the fold rule -----------------------------------------------------------------------------


def test_folds_are_deterministic_disjoint_and_cover_every_model():
    models = [f"m{i}" for i in range(7)]
    for folds in (2, 3):
        dealt = splits.model_folds(models, folds, seed=0)
        assert dealt == splits.model_folds(list(reversed(models)) * 2, folds, seed=0)
        flat = [m for fold in dealt for m in fold]
        assert sorted(flat) == models and len(flat) == len(set(flat))
        assert all(len(fold) >= 2 for fold in dealt)
        assert max(map(len, dealt)) - min(map(len, dealt)) <= 1
    assert splits.model_folds(models, 2, seed=1) != splits.model_folds(models, 2, seed=0)


def test_the_default_deal_holds_out_at_least_two_models_each_fold():
    folds = field_default(splits.Split, "folds")
    assert folds == field_default(settings.TrainConfig, "folds")
    for n in (4, 5, 15):
        dealt = splits.model_folds([f"m{i}" for i in range(n)], folds)
        assert all(len(fold) >= 2 for fold in dealt)


def test_test_mask_holds_out_every_qa_of_the_fold_models():
    frame = pd.DataFrame({"model": ["a", "b", "c", "d", "a", "b"], "qa_id": list("123456")})
    dealt = splits.model_folds("abcd", 2)
    for fold in (0, 1):
        mask = splits.Split("model", folds=2, fold=fold).test_mask(frame)
        assert set(frame["model"][mask]) == set(dealt[fold])
        assert not set(frame["model"][~mask]) & set(dealt[fold])


def test_bad_model_splits_are_one_clear_user_error():
    cases = [
        (lambda: splits.Split("model", folds=2, fold=2), r"fold must be in 0\.\.1 \(2 folds\)"),
        (lambda: splits.Split("model", folds=1), r"folds must be in \[2"),
        (lambda: splits.Split("question", fold=0), "model split only"),
        (lambda: settings.TrainConfig(split="model", fold=5), r"fold must be in 0\.\.1"),
        (lambda: settings.TrainConfig(split="question", fold=1), "model split only"),
        (lambda: splits.model_folds(["solo"]), r"at least 2 models, found 1 \(solo\)"),
        (lambda: splits.model_folds("abc", 4), "4 model folds need at least 4 models, found 3"),
    ]
    for make, message in cases:
        with pytest.raises(UserError, match=message):
            make()


def test_split_dicts_of_old_cards_still_compare_equal():
    old = {"kind": "question", "holdout_fraction": 0.2, "seed": 0}
    assert splits.Split().to_dict() == old  # what new question-split cards store
    assert splits.Split.from_dict(old) == splits.Split("question", 0.2, 0)
    assert splits.Split("random", 0.3, 1).to_dict() == {
        "kind": "random",
        "holdout_fraction": 0.3,
        "seed": 1,
    }
    model = splits.Split("model", 0.2, 0, folds=3, fold=1).to_dict()
    assert model == {"kind": "model", "holdout_fraction": 0.2, "seed": 0, "folds": 3, "fold": 1}
    assert splits.Split.from_dict(model) == splits.Split("model", 0.2, 0, 3, 1)
    assert splits.Split.from_dict({"kind": "nope"}) is None
    assert splits.Split.from_dict(None) is None
    # a run from before model splits must still resume: its weights key is the one it had
    cfg = settings.TrainConfig(split="question")
    dropped = ("folds", "fold", "also_train")  # fields added since, at their defaults
    before = {k: v for k, v in dataclasses.asdict(cfg).items() if k not in dropped}
    assert cfg.weights_key() == stable_hash({**before, "epochs": None, "steps": None})


def test_the_shipped_card_is_honest_on_questions_and_marked_on_models(tmp_path):
    shipped = encoders.shipped_encoder()
    if shipped is None:
        pytest.skip("no encoder is shipped in assets/encoders/")
    card = json.loads((shipped / encoders.TRAINED_MARKER).read_text("utf-8"))
    split = splits.Split(**card["data"]["held_out"])
    assert evaluation._honesty(str(shipped), split, {"value_fulcra"}) == ""
    models = ["gemini", "gpt-35-turbo"]
    assert (
        evaluation._model_honesty(str(shipped), models, {"value_fulcra"})
        == "trained on these models"
    )
    assert evaluation._own_fold(str(shipped), splits.Split("model")) is None


# --- training without the held-out models -------------------------------------------------------


def test_train_frame_excludes_the_held_out_models(six_db):
    cfg = settings.TrainConfig(**HEAD, split="model", folds=3, fold=1)
    frame = loop._training_frame(cfg, six_db)
    dealt = splits.model_folds(STYLES, 3)
    assert set(frame["model"]) == set(STYLES) - set(dealt[1])
    assert len(frame) == 30 * 4
    assert cfg.held_out().to_dict() == {
        "kind": "model",
        "holdout_fraction": 0.2,
        "seed": 0,
        "folds": 3,
        "fold": 1,
    }
    assert cfg.weights_key() != settings.TrainConfig(**HEAD, split="model", fold=1).weights_key()


def test_also_train_adds_every_qa_of_its_datasets_outside_the_split(six_db, tmp_path):
    extra = tmp_path / "extra.jsonl"
    write_models(extra, n_questions=5, models=["zeta", "delta"])
    value_fulcra.load_value_fulcra(extra, six_db, dataset="extra")
    cfg = settings.TrainConfig(
        **(HEAD | {"datasets": ("six",)}), also_train=("extra",), split="model", folds=3, fold=1
    )
    frame = loop._training_frame(cfg, six_db)
    held = set(splits.model_folds(STYLES, 3)[1])
    six, extra_rows = frame[frame["dataset"] == "six"], frame[frame["dataset"] == "extra"]
    assert not held & set(six["model"])  # the split applies to the split's datasets only
    assert len(extra_rows) == 5 * 2  # every pair of the other dataset, held-out models too
    plain = settings.TrainConfig(**(HEAD | {"datasets": ("six",)}), split="model", fold=1)
    assert cfg.weights_key() != plain.weights_key()
    before = {**dataclasses.asdict(plain), "epochs": None, "steps": None}
    del before["also_train"]  # a run from before the field existed still resumes
    assert plain.weights_key() == stable_hash(before)


@pytest.mark.parametrize(
    "kw, words",
    [
        ({"datasets": ("six",), "also_train": ("six",)}, "both split and trained on whole"),
        ({"also_train": ("extra",)}, "needs the datasets"),
    ],
)
def test_bad_also_train_is_one_clear_user_error(kw, words):
    with pytest.raises(UserError, match=words):
        settings.TrainConfig(**(HEAD | kw))


# --- evaluation among the unseen models --------------------------------------------------------


def test_evaluate_model_split_per_fold_and_mean(six_db):
    report = evaluation.evaluate(["tfidf"], six_db, split="model", folds=3, k=10)
    dealt = splits.model_folds(STYLES, 3)
    assert report.fold_models == dict(enumerate(dealt))
    table = report.table
    assert sorted(set(table["fold"])) == [0, 1, 2] and len(table) == 3 * 2
    for fold, models in enumerate(dealt):
        rows = table[table["fold"] == fold]
        assert (rows["classes"] == len(models)).all()
        classes = set(report.predictions.loc[report.predictions["fold"] == fold, "true"])
        assert classes <= {f"{m}$eng" for m in models}  # only held-out identities
        assert (rows["chance_uniform"] == round(100 / len(models), 2)).all()
        assert (rows["chance"] >= rows["chance_uniform"]).all()
    assert (table["acc@1"] > 90).all() and (table["note"] == "").all()
    mean = report.mean
    assert list(mean["method"]) == ["knn", "linear"] and (mean["folds"] == 3).all()
    knn = table[table["method"] == "knn"]
    assert mean.loc[0, "acc@1"] == pytest.approx(knn["acc@1"].mean(), abs=0.01)
    assert mean.loc[0, "n_test"] == knn["n_test"].sum()
    one = evaluation.evaluate(["tfidf"], six_db, split="model", folds=3, fold=2, k=10)
    assert set(one.table["fold"]) == {2} and (one.mean["folds"] == 1).all()


def test_evaluate_model_split_refuses_a_single_model(tmp_db, tmp_path):
    src = tmp_path / "one.jsonl"
    write_models(src, 10, models=["beta"])
    value_fulcra.load_value_fulcra(src, tmp_db, dataset="one")
    with pytest.raises(UserError, match=r"at least 2 models, found 1 \(beta\)"):
        evaluation.evaluate(["tfidf"], tmp_db, split="model")


def test_cli_evaluate_model_split_json_and_errors(six_db, capsys):
    argv = ["evaluate", "--db", str(six_db), "--encoder", "tfidf", "--split", "model"]
    assert main([*argv, "--folds", "3", "--k", "10", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    split = {"kind": "model", "holdout_fraction": 0.2, "seed": 0, "folds": 3, "fold": None}
    assert out["split"] == split and out["folds"] == 3
    assert set(out["fold_models"]) == {"0", "1", "2"}
    assert {r["fold"] for r in out["results"]} == {0, 1, 2}
    keys = {"acc@1", "acc@5", "classes", "chance", "chance_uniform", "n_test", "note"}
    assert keys <= set(out["results"][0]) and keys <= set(out["mean"][0])
    assert [(m["method"], m["folds"]) for m in out["mean"]] == [("knn", 3), ("linear", 3)]
    assert main([*argv, "--folds", "3"]) == 0
    text = capsys.readouterr().out
    assert "per fold:" in text and "mean over folds:" in text and "fold 2 holds out" in text
    assert main([*argv, "--fold", "2"]) == 2
    assert capsys.readouterr().err.strip() == "error: fold must be in 0..1 (2 folds), got 2"
    assert main([*argv, "--folds", "7"]) == 2
    assert "7 model folds need at least 7 models, found 6" in capsys.readouterr().err


def test_a_model_split_encoder_is_measured_on_its_own_fold(six_db, tmp_path, capsys):
    out = tmp_path / "head"
    argv = ["--db", str(six_db), "--out", str(out), "--mode", "head", "--steps", "30"]
    argv += ["--batch-size", "12", "--lambda", "3", "--split", "model", "--folds", "3"]
    assert main(["train", *argv, "--fold", "1"]) == 0
    card = train.read_record(out)
    dealt = splits.model_folds(STYLES, 3)
    assert card["data"]["held_out"] == {
        "kind": "model",
        "holdout_fraction": 0.2,
        "seed": 0,
        "folds": 3,
        "fold": 1,
    }
    assert {i.split("$")[0] for i in card["data"]["identities"]} == set(STYLES) - set(dealt[1])
    report = evaluation.evaluate(
        [str(out)], six_db, split="model", folds=3, k=5, tfidf=False, methods=("knn",)
    )
    mine = report.table[report.table["encoder"] == str(out)]
    base = report.table[report.table["encoder"] == encoders.DEFAULT_ENCODER]
    assert list(mine["fold"]) == [1] and list(mine["note"]) == [""]  # honest: never saw them
    assert sorted(base["fold"]) == [0, 1, 2] and (base["note"] == "").all()
    other = evaluation.evaluate(
        [str(out)], six_db, split="model", folds=3, fold=0, k=5, tfidf=False, methods=("knn",)
    )
    seen = other.table[other.table["encoder"] == str(out)]
    assert list(seen["note"]) == ["trained on these models"]
    question = evaluation.evaluate([str(out)], six_db, split="question", k=5, tfidf=False)
    assert (
        question.table.loc[question.table["encoder"] == str(out), "note"]
        .str.contains("test rows")
        .all()
    )
    evaluation.record_metrics(out, report)
    metrics = train.read_record(out)["metrics"]
    assert set(metrics["model-split/identity/k=5"]["mean"][0]) >= {"acc@1", "chance", "folds"}


# --- the page ----------------------------------------------------------------------------------


def test_the_page_offers_the_model_split_with_its_folds(six_db):
    at = AppTest.from_file(str(ROOT / "pages" / "train_evaluate.py"), default_timeout=300)
    at.session_state["db"] = str(six_db)
    at.run()
    assert not at.exception, at.exception
    assert "model" in at.radio(key="te_split").options
    assert not [w for w in at.selectbox if w.key == "te_fold"]  # only where it applies
    at.checkbox(key="te_hold_models").check().run()
    assert at.number_input(key="te_train_folds").value == field_default(
        settings.TrainConfig, "folds"
    )
    assert at.number_input(key="te_train_fold").value == field_default(settings.TrainConfig, "fold")
    held = ", ".join(splits.model_folds(STYLES, 2)[0])
    assert any(c.value == f"Held out of training: {held}" for c in at.caption)
    at.radio(key="te_split").set_value("model").run()
    assert at.number_input(key="te_folds").value == field_default(splits.Split, "folds")
    assert at.selectbox(key="te_fold").value == field_default(splits.Split, "fold")
    at.number_input(key="te_folds").set_value(3).run()
    at.multiselect(key="te_encoders").set_value([])  # TF-IDF alone: no model to load
    at.number_input(key="te_k").set_value(5)
    at.button(key="te_evaluate").click().run()
    assert not at.exception, at.exception
    per_fold = next(d.value for d in at.dataframe if "fold" in d.value.columns)
    assert sorted(set(per_fold["fold"])) == [0, 1, 2] and "chance" in per_fold.columns
    mean = at.dataframe[-1].value
    assert list(mean["method"]) == ["knn", "linear"] and (mean["folds"] == 3).all()
