"""AppTest of the Train & evaluate page: the hardware notice and estimate, an evaluation with its
table and confusion matrix, and a training run in the background thread."""

from __future__ import annotations

import time

import pytest
from conftest import ROOT
from streamlit.testing.v1 import AppTest
from test_train import write_fulcra

from univar.ingest import value_fulcra

PAGE = str(ROOT / "pages" / "train_evaluate.py")


def page(db) -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=600)
    at.session_state["db"] = str(db)
    return at


def charts(at: AppTest) -> set[str]:
    return {chart.key for chart in at.get("plotly_chart")}


@pytest.fixture
def small_db(tmp_db, tmp_path):
    src = tmp_path / "small.jsonl"
    write_fulcra(src, n_questions=30)
    value_fulcra.load_value_fulcra(src, tmp_db, dataset="small")
    return tmp_db


def test_empty_database_says_what_to_do(tmp_db):
    at = page(tmp_db).run()
    assert not at.exception
    assert any("no QA pairs" in w.value for w in at.warning)


def test_hardware_notice_estimate_and_evaluation(small_db):
    at = page(small_db).run()
    assert not at.exception
    notice = [m.value for m in [*at.info, *at.success]]
    assert any("GPU" in text for text in notice)
    assert any("steps" in c.value and "CPU time" in c.value for c in at.caption)
    at.multiselect(key="te_encoders").set_value([])  # TF-IDF alone: no model to load
    at.number_input(key="te_k").set_value(5)
    at.button(key="te_evaluate").click().run()
    assert not at.exception
    table = at.dataframe[-1].value  # the Evaluate tab comes last (a trained run may show one)
    assert list(table["encoder"]) == ["tfidf", "tfidf"] and (table["acc@1"] > 90).all()
    assert {"te_results", "te_confusion"} <= charts(at)
    at.radio(key="te_cm_method").set_value("linear").run()
    assert not at.exception


@pytest.mark.slow
def test_training_runs_in_the_background_and_reports(small_db, tmp_path):
    at = page(small_db).run()
    at.radio(key="te_mode").set_value("head").run()
    at.number_input(key="te_ep_head").set_value(2.0)
    at.text_input(key="te_out").set_value(str(tmp_path / "enc"))
    at.button(key="te_start").click().run()
    assert not at.exception
    job = at.session_state["te_job"]
    deadline = time.time() + 300
    while job.running and time.time() < deadline:
        time.sleep(0.5)
    at.run()
    assert not at.exception and job.error is None
    assert any("Training done" in s.value for s in at.success)
    assert (tmp_path / "enc" / "univar_encoder.json").exists()
    assert "te_curve" in charts(at)  # the loss curve
