"""The toggle "Include flagged QA pairs" on Value map, Compare and Train & evaluate: off by
default, it leaves the QA pairs a quality check flagged out of what each page uses; on, it
brings them back. Verdicts are written into qa_quality directly (whatever the checker's rules)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers_demo import copy_db, demo_template
from streamlit.testing.v1 import AppTest
from test_app_compare import PAGE as COMPARE_PAGE
from test_app_compare import _build as build_compare_db
from test_app_train import PAGE as TRAIN_PAGE
from test_app_value_map import APP, CountingPCA, figure, qa_points
from test_quality_filters import clear_verdicts, flag
from test_train import write_fulcra

from univar import quality, store
from univar.analysis import projection
from univar.config import field_default
from univar.ingest import value_fulcra
from univar.quality.filter import QualityFilter

PER_MODEL = 12  # 5 real models: 60 QA pairs


def toggle_default() -> bool:
    return field_default(QualityFilter, "include_flagged")


def hovers(spec) -> dict[str, str]:
    """Each QA point's hover header (who answered, and its flags), by qa_id."""
    return {
        row[0]: row[1] for t in spec["data"] if t.get("meta") == "qa" for row in t["customdata"]
    }


@pytest.fixture
def umap(monkeypatch):
    fake = CountingPCA()
    monkeypatch.setitem(projection.PROJECTORS, "umap", fake)
    return fake


@pytest.fixture
def map_db(tmp_path_factory, tmp_path, monkeypatch):
    path = copy_db(demo_template(tmp_path_factory, PER_MODEL), tmp_path)
    monkeypatch.setenv("UNIVAR_DB", str(path))
    ids = list(store.query_df("SELECT qa_id FROM qa ORDER BY qa_id", path=path)["qa_id"])
    clear_verdicts(path)
    flag(path, ids[0], "not_english")
    flag(path, ids[1], "not_english", "echo")
    flag(path, ids[2], "refusal")
    flag(path, ids[3])  # checked, clean
    return path, ids


def test_value_map_toggle_brings_flagged_pairs_back_on_a_layout_of_their_own(map_db, umap):
    _, ids = map_db
    at = AppTest.from_file(APP, default_timeout=90)
    at.run()
    assert not at.exception, at.exception
    assert at.toggle(key="map_include_flagged").value is toggle_default() is False
    spec = figure(at)
    assert qa_points(spec) == 57 and not set(hovers(spec)) & set(ids[:3])
    header = [c.value for c in at.caption if "left out by the quality checks" in c.value]
    assert header and "3 QA pairs left out by the quality checks" in header[0]
    assert "2 not\\_english" in header[0] and "1 echo" in header[0] and "1 refusal" in header[0]
    assert umap.calls == 1

    at.toggle(key="map_include_flagged").set_value(True).run()
    assert not at.exception, at.exception
    spec = figure(at)
    heads = hovers(spec)
    assert qa_points(spec) == 60 and umap.calls == 2  # the layout of every pair is another fit
    assert "Flagged</b> not_english, echo" in heads[ids[1]] and "Flagged" not in heads[ids[3]]
    assert not any("left out by the quality checks" in c.value for c in at.caption)

    at.toggle(key="map_include_flagged").set_value(False).run()
    assert qa_points(figure(at)) == 57 and umap.calls == 2  # its layout is kept, not refitted


def texts(at) -> str:
    return "\n".join(str(e.value) for k in ("caption", "info", "warning") for e in at.get(k))


def test_compare_toggle_changes_the_groups_distances_rest_on(tmp_db):
    build_compare_db(tmp_db)
    german = store.query_df("SELECT qa_id FROM qa WHERE language = 'deu'", path=tmp_db)["qa_id"]
    clear_verdicts(tmp_db)
    for qa_id in german:
        flag(tmp_db, qa_id, "wrong_language")
    at = AppTest.from_file(COMPARE_PAGE, default_timeout=60)
    at.session_state["db"] = str(tmp_db)
    at.session_state["encoder"] = "all-MiniLM-L6-v2"
    at.run()
    assert not at.exception, at.exception
    assert at.toggle(key="cmp_include_flagged").value is toggle_default()

    def heatmap_labels() -> set[str]:
        specs = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
        heat = next(s for s in specs if s["data"] and s["data"][0]["type"] == "heatmap")
        return set(heat["data"][0]["x"])

    assert heatmap_labels() == {"English", "French"}
    said = texts(at)
    assert "2 QA pairs left out by the quality checks" in said and "2 wrong\\_language" in said
    at.toggle(key="cmp_include_flagged").set_value(True).run()
    assert not at.exception, at.exception
    assert heatmap_labels() == {"English", "French", "German"}
    assert "left out by the quality checks" not in texts(at)


def test_train_toggle_changes_what_training_and_evaluation_use(tmp_db, tmp_path):
    src = tmp_path / "small.jsonl"
    write_fulcra(src, n_questions=30)  # 90 QA pairs of three 'models'
    value_fulcra.load_value_fulcra(src, tmp_db, dataset="small")
    ids = list(store.query_df("SELECT qa_id FROM qa ORDER BY qa_id", path=tmp_db)["qa_id"])
    clear_verdicts(tmp_db)
    for qa_id in ids[:10]:
        flag(tmp_db, qa_id, "echo")
    at = AppTest.from_file(TRAIN_PAGE, default_timeout=600)
    at.session_state["db"] = str(tmp_db)
    at.run()
    assert not at.exception, at.exception
    assert at.toggle(key="te_include_flagged").value is toggle_default()

    def estimate() -> str:
        return next(c.value for c in at.caption if "CPU time" in c.value)

    def evaluated() -> int:
        at.multiselect(key="te_encoders").set_value([])  # TF-IDF alone: no model to load
        at.number_input(key="te_k").set_value(5)
        at.button(key="te_evaluate").click().run()
        assert not at.exception, at.exception
        table = at.dataframe[-1].value
        return int(table["n_train"].iloc[0] + table["n_test"].iloc[0])

    assert estimate().startswith("80 QA pairs")
    assert evaluated() == 80
    at.toggle(key="te_include_flagged").set_value(True).run()
    assert not at.exception, at.exception
    assert estimate().startswith("90 QA pairs")
    assert evaluated() == 90


def test_provenance_shows_the_quality_table_and_examples_on_click(map_db, umap):
    path, ids = map_db
    with store.transaction(path) as con:  # a dataset with neither description nor provenance
        con.execute("INSERT INTO datasets (dataset, kind) VALUES ('bare', 'upload')")
    at = AppTest.from_file(APP, default_timeout=90)
    at.run()
    at.switch_page(str(Path(APP).parent / "pages" / "about.py")).run()
    assert not at.exception, at.exception
    assert any(m.value == "#### bare · upload" for m in at.markdown)
    assert not any("nan" in m.value for m in at.markdown)
    table = next(d.value for d in at.dataframe if "share_passing" in d.value)
    assert list(table.columns[:4]) == ["identity", "qa_pairs", "checked", "share_passing"]
    assert set(quality.FLAGS) <= set(table.columns)
    assert table["qa_pairs"].sum() == 60 and table["checked"].sum() == 4
    assert table["not_english"].sum() == 2 and table["echo"].sum() == 1
    assert table["refusal"].sum() == 1 and table["degenerate"].sum() == 0
    who = store.query_df("SELECT qa_id, identity FROM qa", path=path).set_index("qa_id")
    who = who["identity"].to_dict()
    pairs = {(who[ids[0]], "not_english"), (who[ids[1]], "not_english")}
    pairs |= {(who[ids[1]], "echo"), (who[ids[2]], "refusal")}
    picker = at.selectbox(key="quality_examples")
    assert picker.value is None and len(picker.options) == len(pairs)  # flags that occur
    picker.set_value((who[ids[1]], "echo")).run()
    assert not at.exception, at.exception
    shown = at.dataframe[-1].value
    assert list(shown["qa_id"]) == [ids[1]] and "reason" in shown
