"""The value map page (AppTest through app.py) and the data it is assembled from (mapdata)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers_demo import copy_db, demo_template
from streamlit.testing.v1 import AppTest

from univar import quality, store
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


def numbers(values) -> list[float]:
    """A figure's array: a list, or Plotly's typed array (base64 bytes and a dtype)."""
    if isinstance(values, dict):
        import base64

        import numpy as np

        return np.frombuffer(base64.b64decode(values["bdata"]), values["dtype"]).tolist()
    return list(values)


def coordinates(spec) -> dict[str, tuple[float, float]]:
    """(x, y) of each QA point of the figure, by qa_id."""
    return {
        row[0]: (x, y)
        for t in spec["data"]
        if t.get("meta") == "qa"
        for row, x, y in zip(t["customdata"], numbers(t["x"]), numbers(t["y"]), strict=True)
    }


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


def test_fewer_models_filter_the_same_layout_and_search_highlights(db, umap):
    at = run_app()
    before = coordinates(figure(at))
    models = at.multiselect(key="map_models")
    models.unselect("gemini").run()
    assert not at.exception
    after = coordinates(figure(at))
    assert len(after) == 48 and umap.calls == 1  # filtered, not refitted
    assert all(after[qa_id] == before[qa_id] for qa_id in after)  # nothing moved
    at.text_input(key="map_search").input("vandalism").run()
    spec = figure(at)
    (top,) = [t for t in spec["data"] if t.get("meta") == "highlight"]
    assert len(top["customdata"]) >= 1 and umap.calls == 1
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
    passing = store.query_df(
        f"SELECT count(*) AS n FROM qa WHERE {quality.passing_sql()}", path=empty
    )["n"][0]
    assert 0 < passing < 60  # real answers: the refusals among them are left out
    assert qa_points(figure(at)) == passing and umap.calls == calls  # the shipped map as is
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


# --- one layout: uploads placed on it, re-layout in the background, a light first view ---------


def upload_copies(db, model: str, n: int) -> list[dict]:
    """A CSV upload of `n` answers of `model` under a new model name: texts the layout already
    has, so nothing needs the encoder's model, and their place is known (their twins')."""
    import csv
    import io

    from univar.ingest import importers, validate
    from univar.quality import checks

    rows = [  # answers the quality checks pass, so every copy is on the map
        r
        for r in store.query_df(
            "SELECT question, answer FROM qa WHERE model = ? ORDER BY qa_id", [model], path=db
        ).to_dict("records")
        if not checks.check_pair("eng", r["question"], r["answer"], None, None).flags
    ][:n]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, ["question", "answer", "model", "language"])
    writer.writeheader()
    writer.writerows({**r, "model": "mine", "language": "eng"} for r in rows)
    data = buffer.getvalue().encode()
    checked = validate.validate_bytes(data, name="mine.csv", max_bytes=len(data) + 1)
    importers.import_validation(checked, db, dataset="mine")
    return rows


def test_an_upload_after_the_layout_appears_placed_without_a_refit(db, umap):
    at = run_app()
    before = coordinates(figure(at))
    upload_copies(db, "gemini", 3)
    at.switch_page("pages/about.py").run()  # as from the Upload page: the new model is chosen
    at.switch_page("pages/value_map.py").run()
    assert not at.exception
    spec = figure(at)
    after = coordinates(spec)
    assert len(after) == 63 and umap.calls == 1  # placed, not refitted
    assert all(after[qa_id] == xy for qa_id, xy in before.items())  # and nothing else moved
    heads = [row[1] for t in spec["data"] if t.get("meta") == "qa" for row in t["customdata"]]
    assert sum("placed on the layout" in h for h in heads) == 3
    (mine,) = [t for t in spec["data"] if t.get("meta") == "uploaded"]
    assert len(mine["customdata"]) == 3
    assert any("3 shown placed on it since" in c.value for c in at.caption)


class GatedPCA(CountingPCA):
    """A fit that waits until the test lets it finish, and mirrors the map (a new layout)."""

    def __init__(self):
        import threading

        super().__init__()
        self.entered, self.release = threading.Event(), threading.Event()

    def fit_transform(self, vectors, config):
        self.calls += 1
        self.entered.set()
        assert self.release.wait(60)
        return -projection.PCAProjector().fit_transform(vectors, config)


def test_relayout_fits_in_the_background_while_the_old_map_stays(db, umap, monkeypatch):
    from univar import encoders
    from univar.analysis import relayout

    at = run_app()
    before = coordinates(figure(at))
    gate = GatedPCA()
    monkeypatch.setitem(projection.PROJECTORS, "umap", gate)
    at.button(key="map_relayout").click().run()  # returns while the fit still waits
    assert gate.entered.wait(30) and not gate.release.is_set()
    assert not at.exception
    assert coordinates(figure(at)) == before  # the old layout, still on screen
    assert any("layout" in p.proto.text for p in at.get("progress"))  # its progress bar
    job = relayout.job_for(db, encoders.encoder_id(), ProjectionConfig())
    assert job.live and at.button(key="map_relayout").disabled is False  # this run drew it
    at.run()
    assert at.button(key="map_relayout").disabled  # one fit at a time
    gate.release.set()
    assert job.wait(60) and job.status == "done", job.error
    at.run()
    after = coordinates(figure(at))
    assert gate.calls == 1 and after.keys() == before.keys()
    assert all(abs(after[q][0] + before[q][0]) < 1e-4 for q in before)  # the new, mirrored map
    assert not at.get("progress")


def test_a_stored_map_imports_nothing_heavy(tmp_path):
    """Opening the Value map on the shipped demo (a fresh database: the app loads the demo and
    shows its stored layout) loads none of torch, sentence-transformers, umap or litellm; in
    a fresh interpreter, so that the imports of the rest of the suite do not count."""
    import os
    import subprocess
    import sys
    import textwrap

    if not demo.available():
        pytest.skip("no shipped demo in data/demo")
    script = textwrap.dedent(
        """
        import json, sys
        from streamlit.testing.v1 import AppTest
        at = AppTest.from_file(sys.argv[1], default_timeout=240)
        at.run()
        assert not at.exception, at.exception
        spec = json.loads(at.get("plotly_chart")[0].proto.spec)
        n = sum(len(t["customdata"]) for t in spec["data"] if t.get("meta") == "qa")
        heavy = ("torch", "sentence_transformers", "transformers", "umap", "numba", "litellm")
        print(json.dumps({"points": n, "heavy": [m for m in heavy if m in sys.modules]}))
        """
    )
    env = os.environ | {"UNIVAR_DB": str(tmp_path / "fresh.duckdb")}
    done = subprocess.run(
        [sys.executable, "-c", script, APP],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        cwd=Path(APP).parent,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    import pandas as pd

    shipped = len(pd.read_parquet(Path(APP).parent / "data" / "demo" / "projection.parquet"))
    assert json.loads(done.stdout.strip().splitlines()[-1]) == {"points": shipped, "heavy": []}


# --- the value profile: what the answers express, the question mix apart ---------------------

EXPRESSION_TITLE = "Values its answers express (scorer: macro-F1 "
QUESTION_MIX = "Questions asked per value (the bank's mix, not a finding)"


def chart_titles(block) -> list[str]:
    """The titles of a block's charts, a wrapped one on one line."""
    return [
        json.loads(c.proto.spec)["layout"].get("title", {}).get("text", "").replace("<br>", " ")
        for c in block.get("plotly_chart")
    ]


def test_the_profile_panel_shows_what_its_answers_express_and_the_question_mix_apart(db):
    at = run_app()
    (mix,) = [e for e in at.expander if e.label == QUESTION_MIX]
    assert not chart_titles(mix)  # closed, its chart is neither built nor sent to the browser
    at.session_state["map_mix"] = True  # the reader opens it
    at.run()
    assert not at.exception, at.exception
    (mix,) = [e for e in at.expander if e.label == QUESTION_MIX]
    assert any(t.startswith("Share of its QAs per value") for t in chart_titles(mix))
    # the map's vectors are the shipped encoder's: the scorer's base needs its own, on request
    assert not any(t.startswith(EXPRESSION_TITLE) for t in chart_titles(at))
    at.button(key="map_expression_score").click().run()
    assert not at.exception, at.exception
    (title,) = [t for t in chart_titles(at) if t.startswith(EXPRESSION_TITLE)]
    assert title.endswith(" majority, Value FULCRA held-out)")
    assert any("trained on English Value FULCRA answers of 5 LLMs" in c.value for c in at.caption)
    at.run()  # its vectors are cached now: the chart comes without the button
    assert not at.exception
    assert any(t.startswith(EXPRESSION_TITLE) for t in chart_titles(at))
    assert "map_expression_score" not in [b.key for b in at.button]
