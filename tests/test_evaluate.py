"""Evaluation as in the paper (k-NN, linear probe, acc@1/5/10, weighted F1, two splits), its
figures, and the Done-means check on the real Value FULCRA answers with the shipped encoder."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from conftest import shared_file
from test_train import HEAD, write_fulcra

from univar import encoders
from univar.analysis import evaluation
from univar.errors import UserError
from univar.figures import training_charts
from univar.ingest import value_fulcra
from univar.training import settings, train


@pytest.fixture
def small_db(tmp_db, tmp_path):
    src = tmp_path / "small.jsonl"
    write_fulcra(src, n_questions=40)
    value_fulcra.load_value_fulcra(src, tmp_db, dataset="small")
    return tmp_db


def test_scores_on_separable_vectors():
    rng = np.random.default_rng(0)
    y = np.repeat(np.array(["a", "b", "c"]), 40)
    x = rng.normal(size=(120, 3)) * 0.1 + (y[:, None] == np.array(["a", "b", "c"])) * 3.0
    train_mask = rng.random(120) < 0.7
    for method in evaluation.METHODS:
        row, pred = evaluation.score(x, y, train_mask, method, k=5)
        assert row["acc@1"] == row["f1_weighted"] == row["acc@5"] == 100.0
        assert (pred == y[~train_mask]).all()


def test_top_n_accuracy_counts_ranked_classes():
    proba = np.array([[0.5, 0.3, 0.2], [0.1, 0.2, 0.7], [0.6, 0.3, 0.1]])
    hits = evaluation._top_hits(proba, np.array(["a", "b", "c"]), np.array(["a", "b", "c"]))
    assert hits[1] == pytest.approx(1 / 3) and hits[5] == 1.0
    proba2 = np.array([[0.5, 0.3, 0.2, 0.0], [0.1, 0.2, 0.7, 0.0]])
    top2 = evaluation._top_hits(proba2, np.array(list("abcd")), np.array(["b", "a"]))
    assert top2[1] == 0.0


def test_tfidf_table_confusion_and_json(small_db):
    report = evaluation.evaluate([evaluation.TFIDF], small_db, split="question", k=10)
    table = report.table
    assert list(table["method"]) == ["knn", "linear"] and (table["encoder"] == "tfidf").all()
    cols = {"acc@1", "acc@5", "acc@10", "f1_weighted", "n_train", "n_test", "classes", "note"}
    assert cols <= set(table.columns)
    assert (table["acc@1"] > 90).all()  # three very different answer styles
    n_test = int(table["n_test"].iloc[0])
    cm = evaluation.confusion(report, "tfidf", "knn")
    assert cm.shape == (3, 3) and int(cm.to_numpy().sum()) == n_test
    parsed = json.loads(evaluation.to_json(report))
    assert parsed["split"]["kind"] == "question" and len(parsed["results"]) == 2
    by_model = evaluation.evaluate(["tfidf"], small_db, split="random", target="model")
    assert by_model.table["classes"].iloc[0] == 3


def test_bad_settings_are_user_errors(small_db):
    with pytest.raises(UserError, match="target"):
        evaluation.evaluate(["tfidf"], small_db, target="colour")
    with pytest.raises(UserError, match="k must"):
        evaluation.evaluate(["tfidf"], small_db, k=0)
    with pytest.raises(UserError, match="no QA pairs"):
        evaluation.evaluate(["tfidf"], small_db, datasets=["nope"])
    with pytest.raises(UserError, match="no predictions"):
        evaluation.confusion(evaluation.evaluate(["tfidf"], small_db), "other")


def test_cli_evaluate_json_and_errors(small_db, capsys):
    from univar.cli import main

    assert main(["evaluate", "--db", str(small_db), "--encoder", "tfidf", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert {r["method"] for r in out["results"]} == {"knn", "linear"}
    assert main(["evaluate", "--db", str(small_db), "--encoder", "tfidf", "--k", "0"]) == 2
    assert "k must be" in capsys.readouterr().err


def test_trained_encoder_brings_its_base_and_an_honesty_note(small_db, tmp_path):
    out = tmp_path / "head"
    train.train(settings.TrainConfig(**HEAD, split="question"), out, small_db)
    assert evaluation.encoder_list([str(out)]) == [str(out), encoders.DEFAULT_ENCODER, "tfidf"]
    honest = evaluation.evaluate([str(out)], small_db, split="question", tfidf=False, k=5)
    assert list(honest.table["encoder"].unique()) == [str(out), encoders.DEFAULT_ENCODER]
    assert (honest.table["note"] == "").all()
    leaky = evaluation.evaluate([str(out)], small_db, split="random", tfidf=False, k=5)
    assert leaky.table.loc[leaky.table["encoder"] == str(out), "note"].str.contains("test").all()
    before = encoders.load_trained(out).id
    evaluation.record_metrics(out, honest)
    card = json.loads((out / encoders.TRAINED_MARKER).read_text())
    assert "question-split/identity/k=5" in card["metrics"]
    assert encoders.load_trained(out).id == before


def test_figures():
    curve = [{"step": i, "loss": 5 - i / 10} for i in range(1, 31)]
    fig = training_charts.loss_curve_figure(curve, smooth=5)
    assert len(fig.data) == 2 and list(fig.data[0].x) == list(range(1, 31))
    assert fig.data[1].y[-1] == pytest.approx(np.mean([c["loss"] for c in curve[-5:]]))
    assert fig.to_dict()["layout"]["xaxis"]["title"]["text"] == "step"
    assert len(training_charts.loss_curve_figure([]).data) == 0
    table = pd.DataFrame(
        {
            "encoder": ["a/x", "a/x", "tfidf"],
            "method": ["knn", "linear", "knn"],
            "acc@1": [50.0, 60.0, 40.0],
        }
    )
    bars = training_charts.results_figure(table).data
    assert [b.name for b in bars] == ["knn", "linear"] and list(bars[0].x) == ["x", "tfidf"]
    cm = pd.DataFrame(
        [[8, 2], [0, 0]], index=["org/m1$eng", "m2$eng"], columns=["org/m1$eng", "m2$eng"]
    )
    heat = training_charts.confusion_figure(cm).data[0]
    assert np.allclose(np.asarray(heat.z), [[0.8, 0.2], [0, 0]])
    assert list(heat.x) == ["m1$eng", "m2$eng"]


@pytest.mark.slow
def test_shipped_encoder_beats_its_base_on_held_out_questions(tmp_db):
    """Done means: on the real answers of 5 LLMs, question-disjoint k-NN, at least +10 points."""
    shipped = encoders.shipped_encoder()
    if shipped is None:
        pytest.skip("no encoder is shipped in assets/encoders/")
    value_fulcra.load_value_fulcra(shared_file("value_fulcra_trustworthy.jsonl"), tmp_db)
    report = evaluation.evaluate(
        [str(shipped)], tmp_db, split="question", tfidf=False, methods=("knn",)
    )
    acc = dict(zip(report.table["encoder"], report.table["acc@1"], strict=True))
    assert (report.table["note"] == "").all()  # trained on the training questions only
    assert acc[str(shipped)] - acc[encoders.DEFAULT_ENCODER] >= 10, acc
