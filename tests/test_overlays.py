"""Overlays as DuckDB queries, and their figures (checked on fig.to_dict())."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from helpers_demo import copy_db, demo_template
from streamlit.testing.v1 import AppTest

from univar import ids, store
from univar.analysis import overlays, projection
from univar.catalog import instruments
from univar.elicit import survey
from univar.figures import overlay_charts

VALUEPRISM_SAMPLE = Path(__file__).parent / "data" / "valueprism_sample.csv"
COLUMNS = "qa_id, dataset, model, language, question_id, question, answer, framework, value_code"


@pytest.fixture
def db(tmp_db):
    """Six QAs: two asked from portrait items, one from a ValuePrism situation, three tagged
    directly (two frameworks), and a map projection of four of them."""
    instruments.ensure(tmp_db)
    instruments.import_valueprism(VALUEPRISM_SAMPLE, tmp_db)
    rows = [
        ("a1", "d", "m1", "eng", "univar-portraits.01", "Q", "A", None, None),  # sdt
        ("a2", "d", "m1", "eng", "bank.x", "Q", "A", "Schwartz", "hed"),
        ("a3", "d", "m1", "eng", "bank.y", "Q", "A", "schwartz", "hed"),  # any case
        ("b1", "d", "m2", "fra", "bank.z", "Q", "A", "Hofstede", "individualism"),
        ("b2", "e", "m2", "fra", "univar-portraits.03", "Q", "A", None, None),  # hed
        ("b3", "e", "m2", "fra", "valueprism.00001", "Q", "A", None, None),  # kindness
    ]
    with store.transaction(tmp_db) as con:
        con.executemany(f"INSERT INTO qa_pairs ({COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?)", rows)
        con.execute(
            "INSERT INTO projection_points (proj_key, qa_id, x, y) VALUES "
            "('p','a1',1,1),('p','a2',2,2),('p','b1',3,3),('p','b2',4,4)"
        )
    return tmp_db


def test_frameworks_most_qas_first(db):
    assert overlays.frameworks(db) == ["Schwartz", "Hofstede", "ValuePrism"]


def test_qa_values_in_any_framework(db):
    sch = overlays.qa_values(db).set_index("qa_id")
    assert sch.loc["a1", "value"] == "sdt" and sch.loc["a1", "value_name"].startswith("Self")
    assert sch.loc["b2", "value"] == "hed" and sch.loc["a3", "value"] == "hed"
    assert pd.isna(sch.loc["b1", "value"]) and pd.isna(sch.loc["b3", "value"])
    vp = overlays.qa_values(db, "ValuePrism").set_index("qa_id")
    assert vp.loc["b3", "value"] == "kindness"  # the first value the situation supports
    hof = overlays.qa_values(db, "Hofstede", datasets=["d"], proj_key="p")
    assert list(hof["qa_id"]) == ["a1", "a2", "b1"] and list(hof["x"]) == [1, 2, 3]
    assert hof.set_index("qa_id").loc["b1", "value"] == "individualism"


def test_with_values_keeps_the_maps_rows_and_order(db):
    points = pd.DataFrame({"qa_id": ["b2", "zz", "a1"], "x": [1.0, 2.0, 3.0], "value": 1})
    out = overlays.with_values(db, points, "Schwartz")
    assert list(out["qa_id"]) == ["b2", "zz", "a1"] and list(out["x"]) == [1.0, 2.0, 3.0]
    assert out["value"].tolist()[0] == "hed" and pd.isna(out["value"][1])
    assert set(out["framework"]) == {"Schwartz"}


def test_instrument_qas_for_highlight(db):
    assert list(overlays.instrument_qas(db, "univar-portraits")["qa_id"]) == ["a1", "b2"]
    on_map = overlays.instrument_qas(db, "univar-portraits", proj_key="p")
    assert list(on_map["x"]) == [1, 4]
    assert list(overlays.instrument_qas(db, "valueprism")["qa_id"]) == ["b3"]
    points = pd.DataFrame({"qa_id": ["a1", "a2", "b2"], "x": [0.0, 1.0, 2.0], "y": 0.0})
    assert list(overlays.instrument_points(db, points, "univar-portraits")["qa_id"]) == [
        "a1",
        "b2",
    ]


def test_value_share_per_identity(db):
    share = overlays.value_share(db, "m1$eng")
    assert len(share) == 19 and list(share["angle"]) == sorted(share["angle"])
    s = share.set_index("value")
    assert s.loc["hed", "n"] == 2 and s.loc["sdt", "n"] == 1 and s.loc["ach", "n"] == 0
    assert s.loc["hed", "share"] == pytest.approx(2 / 3)
    hof = overlays.value_share(db, None, "Hofstede")  # values off the circle: only those seen
    assert list(hof["value"]) == ["individualism"] and hof["share"][0] == 1


def test_survey_profile_in_circle_order(db):
    answers = [(ids.item_id(n), 0, "4", None) for n in instruments.ITEM_VALUE]
    survey.record(db, "univar-portraits", "m1", "eng", answers)
    survey.score(db, "univar-portraits", "m1", "eng")
    assert overlays.survey_instruments(db) == ["univar-portraits"]
    assert overlays.survey_identities(db) == ["m1$eng"]
    profile = survey.survey_profile(db, "m1$eng")
    assert len(profile) == 19 and profile["value_code"].iloc[0] == "sdt"
    assert list(profile["angle"]) == sorted(profile["angle"]) and (profile["centred"] == 0).all()
    assert survey.survey_profile(db, ["other$eng"]).empty


def test_profile_figure():
    profile = pd.DataFrame(
        {
            "identity": ["m$eng"] * 3 + ["m$fra"] * 3,
            "value_name": ["B", "A", "C"] * 2,
            "angle": [20.0, 0.0, 40.0] * 2,
            "centred": [0.5, -1.0, 0.25, 0.0, 0.1, 0.2],
        }
    )
    fig = overlay_charts.profile_figure(profile).to_dict()
    eng, fra = fig["data"]
    assert eng["type"] == "scatterpolar" and eng["name"] == "m$eng"
    assert list(eng["theta"]) == ["A", "B", "C", "A"]  # circle order, closed
    assert list(eng["r"]) == [-1.0, 0.5, 0.25, -1.0]
    assert fig["layout"]["polar"]["angularaxis"]["direction"] == "clockwise"


def test_share_figure_on_the_circle_and_off_it():
    share = pd.DataFrame(
        {
            "value": ["a", "b"],
            "value_name": ["A", "B"],
            "angle": [0.0, 180.0],
            "n": [3, 1],
            "share": [0.75, 0.25],
        }
    )
    fig = overlay_charts.share_figure(share).to_dict()
    assert fig["data"][0]["type"] == "barpolar" and list(fig["data"][0]["r"]) == [0.75, 0.25]
    colors = fig["data"][0]["marker"]["color"]
    assert colors[0] != colors[1]
    off = overlay_charts.share_figure(share.assign(angle=None)).to_dict()
    assert off["data"][0]["type"] == "bar" and off["data"][0]["orientation"] == "h"


def test_instrument_highlight_rings_points():
    import plotly.graph_objects as go

    points = pd.DataFrame({"qa_id": ["a", "b"], "x": [1.0, 2.0], "y": [3.0, 4.0]})
    fig = overlay_charts.add_instrument_highlight(go.Figure(), points, "PVQ-RR").to_dict()
    trace = fig["data"][0]
    assert trace["name"] == "PVQ-RR (2)" and list(trace["customdata"]) == ["a", "b"]
    assert trace["marker"]["color"] == "rgba(0,0,0,0)"


@pytest.mark.slow
def test_overlays_on_the_value_map_page(tmp_path_factory, tmp_path, monkeypatch):
    """The real demo (five LLMs, MiniLM vectors): colour by Schwartz value, ring one
    instrument's QAs, and the profile panel of a surveyed identity."""
    db = copy_db(demo_template(tmp_path_factory), tmp_path)
    monkeypatch.setenv("UNIVAR_DB", str(db))
    monkeypatch.setitem(projection.PROJECTORS, "umap", projection.PCAProjector())
    instruments.ensure(db)
    with store.transaction(db) as con:  # two gemini answers count as asked from portrait 01
        con.execute(
            "UPDATE qa_pairs SET question_id = 'univar-portraits.01' WHERE qa_id IN "
            "(SELECT qa_id FROM qa_pairs WHERE model = 'gemini' ORDER BY qa_id LIMIT 2)"
        )
    answers = [(ids.item_id(n), 0, str(1 + n % 6), None) for n in instruments.ITEM_VALUE]
    survey.record(db, "univar-portraits", "gemini", "eng", answers)
    survey.score(db, "univar-portraits", "gemini", "eng")

    at = AppTest.from_file(str(Path(__file__).parent.parent / "app.py"), default_timeout=90)
    at.run()
    assert not at.exception, at.exception
    at.selectbox(key="map_color_by").set_value("value").run()
    at.selectbox(key="map_framework").set_value("Schwartz").run()
    at.selectbox(key="map_instrument").set_value("univar-portraits").run()
    at.selectbox(key="map_profile_identity").set_value("gemini$eng").run()
    assert not at.exception, at.exception
    specs = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    names = {t.get("name") for t in specs[0]["data"] if t.get("meta") == "qa"}
    assert "sdt" in names  # the two portrait QAs coloured by their item's value
    ring = [t for t in specs[0]["data"] if t.get("meta") == "instrument"]
    assert len(ring) == 1 and len(ring[0]["customdata"]) == 2
    kinds = {s["data"][0]["type"] for s in specs[1:] if s["data"]}
    assert {"scatterpolar", "barpolar"} <= kinds
    radar = next(s for s in specs if s["data"] and s["data"][0]["type"] == "scatterpolar")
    assert len(radar["data"][0]["theta"]) == 20  # 19 values, closed
