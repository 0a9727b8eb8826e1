"""The value map page (AppTest through app.py) and the data it is assembled from (mapdata)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers_demo import copy_db, demo_template
from streamlit.testing.v1 import AppTest

from univar import store
from univar.analysis import mapdata, projection
from univar.analysis.projection import ProjectionConfig
from univar.ingest import demo

TIMEOUT = 90
PER_MODEL = 12  # 5 real models: 60 QA pairs
APP = str(Path(__file__).resolve().parent.parent / "app.py")


class CountingPCA:
    """Stands in for UMAP in fast tests (real UMAP compiles for ~30 s) and counts its runs."""

    def __init__(self):
        self.calls = 0

    def fit_transform(self, vectors, config):
        self.calls += 1
        return projection.PCAProjector().fit_transform(vectors, config)


@pytest.fixture(autouse=True)
def umap(monkeypatch):
    fake = CountingPCA()
    monkeypatch.setitem(projection.PROJECTORS, "umap", fake)
    return fake


@pytest.fixture
def db(tmp_path_factory, tmp_path, monkeypatch):
    """60 real QA pairs of 5 real LLMs, embedded with the real MiniLM (built once)."""
    path = copy_db(demo_template(tmp_path_factory, PER_MODEL), tmp_path)
    monkeypatch.setenv("UNIVAR_DB", str(path))
    return path


def run_app() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.run()
    assert not at.exception, at.exception
    return at


def figure(at) -> dict:
    return json.loads(at.get("plotly_chart")[0].proto.spec)


def qa_points(spec) -> int:
    return sum(len(t["customdata"]) for t in spec["data"] if t.get("meta") == "qa")


def test_opens_on_the_map_and_a_rerun_never_recomputes(db, umap):
    at = run_app()
    assert at.title[0].value == "Value map"
    spec = figure(at)
    assert qa_points(spec) == 60
    metas = {t.get("meta") for t in spec["data"]}
    assert {"language-centroids", "identity-centroids", "centroid-lines"} <= metas
    assert any("60 QA pairs · 5 models · 1 languages" in c.value for c in at.caption)
    assert umap.calls == 1
    assert any("60 QA pairs" in c.value for c in at.sidebar.caption)  # the shared sidebar
    at.run()  # (AppTest drops st.navigation apps' sidebars on reruns; a browser does not)
    at.run()
    assert umap.calls == 1 and qa_points(figure(at)) == 60


def test_fewer_models_give_a_new_map_and_search_highlights(db, umap):
    at = run_app()
    models = at.multiselect(key="map_models")
    models.unselect("gemini").run()
    assert not at.exception
    assert qa_points(figure(at)) == 48 and umap.calls == 2
    at.text_input(key="map_search").input("vandalism").run()
    spec = figure(at)
    (top,) = [t for t in spec["data"] if t.get("meta") == "highlight"]
    assert len(top["customdata"]) >= 1 and umap.calls == 2
    assert any("match “vandalism”" in c.value for c in at.caption)


def test_pca_and_colour_by_model(db, umap):
    at = run_app()
    at.radio(key="map_method").set_value("pca").run()
    at.selectbox(key="map_color_by").set_value("model").run()
    assert not at.exception
    spec = figure(at)
    assert spec["layout"]["legend"]["title"]["text"] == "Model"
    assert umap.calls == 1  # only the first (UMAP) map ran the stand-in


def test_clearing_all_models_explains_instead_of_failing(db, umap):
    at = run_app()
    at.multiselect(key="map_models").set_value([]).run()
    assert not at.exception
    assert any("choose at least one model" in w.value for w in at.warning)


def test_an_empty_database_gets_the_shipped_demo(tmp_path_factory, tmp_path, monkeypatch, umap):
    source = copy_db(demo_template(tmp_path_factory, PER_MODEL), tmp_path)
    demo.export_demo(source, tmp_path / "demo")  # the default map: UMAP (the stand-in here)
    monkeypatch.setattr(demo, "DEMO_DIR", tmp_path / "demo")
    empty = tmp_path / "fresh" / "univar.duckdb"
    monkeypatch.setenv("UNIVAR_DB", str(empty))
    calls = umap.calls
    at = run_app()
    assert qa_points(figure(at)) == 60 and umap.calls == calls  # shipped map, not recomputed
    assert mapdata.options(empty).datasets == ["demo"]


def test_an_empty_database_without_a_demo_says_what_to_do(tmp_path, monkeypatch):
    monkeypatch.setattr(demo, "DEMO_DIR", tmp_path / "no-demo")
    monkeypatch.setenv("UNIVAR_DB", str(tmp_path / "empty.duckdb"))
    at = run_app()
    assert "no QA pairs yet" in at.info[0].value


# --- the data behind the page ------------------------------------------------------------------


def test_selection_search_and_details(db):
    everything = mapdata.Selection()
    assert len(mapdata.selected_ids(db, everything)) == 60
    one = mapdata.Selection(models=("gemini",), languages=("eng",))
    assert len(mapdata.selected_ids(db, one)) == 12
    assert mapdata.selected_ids(db, mapdata.Selection(models=())) == []
    hits = mapdata.search(db, everything, "VANDALISM")
    assert hits and set(hits) <= set(mapdata.selected_ids(db, everything))
    assert mapdata.search(db, everything, "100%_no_such") == []  # wildcards are literal
    rows = mapdata.details(db, hits[:2])
    assert list(rows.columns[:4]) == ["model", "language", "value", "question"]
    assert rows["answer"].str.len().max() > 300  # full texts, not the map's cut ones


def test_map_points_cut_texts_and_carry_tags(db):
    config = ProjectionConfig(method="pca")
    encoder = projection_encoder(db)
    points = mapdata.map_points(db, encoder, mapdata.Selection(), config)
    assert len(points) == 60 and {"x", "y", "identity", "value", "answer_en"} <= set(points)
    assert points["answer"].str.len().max() <= mapdata.HOVER_CHARS
    assert mapdata.is_cached(db, encoder, mapdata.Selection(), config)
    assert mapdata.summary(points, "enc").startswith("60 QA pairs · 5 models · 1 languages")


def projection_encoder(db):
    from univar.encoders import LazyEncoder

    encoder = LazyEncoder()  # the template's vectors are cached under this id: no model loads
    return encoder


def test_selected_from_event_reads_qa_ids_and_skips_centroids():
    event = {
        "selection": {
            "points": [
                {"curve_number": 0, "customdata": ["qa1", "head", "q", "a", ""]},
                {"curve_number": 0, "customdata": ["qa1", "head", "q", "a", ""]},
                {"curve_number": 3, "customdata": "qa2"},
                {"curve_number": 9, "x": 1.0},  # a centroid marker: no qa_id
            ]
        }
    }
    assert mapdata.selected_from_event(event) == ["qa1", "qa2"]
    assert mapdata.selected_from_event(None) == []
    assert mapdata.selected_from_event({"selection": {"points": []}}) == []


def test_about_page_lists_datasets_with_their_provenance(db):
    at = run_app()
    at.switch_page(str(Path(APP).parent / "pages" / "about.py")).run()
    assert not at.exception
    assert at.title[0].value == "Data & provenance"
    assert any(m.value == "#### demo · demo" for m in at.markdown)
    assert any("60 QA pairs · 5 models · 1 languages" in c.value for c in at.caption)
    assert at.json[0].value  # the provenance, as stored


def test_model_choice_survives_other_pages_and_new_models_join_it(db):
    at = run_app()
    at.multiselect(key="map_models").unselect("gemini").run()
    at.switch_page("pages/compare.py").run()
    at.switch_page("pages/value_map.py").run()
    assert not at.exception
    assert qa_points(figure(at)) == 4 * PER_MODEL  # still without gemini
    with store.transaction(db) as con:  # a new model arrives meanwhile (an upload, a run)
        con.execute(
            "INSERT INTO qa_pairs (qa_id, dataset, model, language, question_id, question, "
            "answer) SELECT 'new-' || qa_id, dataset, 'newcomer', language, question_id, "
            "question, answer FROM qa_pairs WHERE model = 'gemini'"
        )
    at.switch_page("pages/compare.py").run()
    at.switch_page("pages/value_map.py").run()
    assert "newcomer" in at.multiselect(key="map_models").value
    assert "gemini" not in at.multiselect(key="map_models").value
