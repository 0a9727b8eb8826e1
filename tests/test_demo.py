"""The demo round trip: export from a database, load into an empty one, nothing changed."""

from __future__ import annotations

import pytest
from helpers_demo import copy_db, demo_template

from univar import ids, store
from univar.analysis import projection
from univar.analysis.projection import ProjectionConfig
from univar.catalog import instruments
from univar.elicit import survey
from univar.ingest import demo


def test_export_then_load_keeps_qas_map_and_survey_scores(tmp_path_factory, tmp_path, monkeypatch):
    monkeypatch.setitem(projection.PROJECTORS, "umap", projection.PCAProjector())
    source = copy_db(demo_template(tmp_path_factory), tmp_path)
    instruments.ensure(source)
    answers = [(ids.item_id(n), 0, f"{1 + n % 6}", None) for n in instruments.ITEM_VALUE]
    survey.record(source, instruments.PORTRAITS, "gemini", "eng", answers)
    before = survey.score(source, instruments.PORTRAITS, "gemini", "eng")

    provenance = demo.export_demo(source, tmp_path / "demo", config=ProjectionConfig())
    assert provenance["survey_answers"] == len(answers)
    fresh = tmp_path / "fresh.duckdb"
    assert demo.seed_if_empty(fresh, tmp_path / "demo")
    after = survey.survey_profile(fresh, ["gemini$eng"])
    assert len(after) == 19
    assert sorted(after["centred"].round(9)) == sorted(before["centred"].round(9))
    assert store.query_df("SELECT count(*) AS n FROM qa", path=fresh)["n"][0] == 150
    assert store.query_df("SELECT count(*) AS n FROM projection_points", path=fresh)["n"][0] == 150


def test_export_without_a_survey_ships_no_survey_file(tmp_path_factory, tmp_path, monkeypatch):
    monkeypatch.setitem(projection.PROJECTORS, "umap", projection.PCAProjector())
    source = copy_db(demo_template(tmp_path_factory), tmp_path)
    (tmp_path / "demo").mkdir()
    (tmp_path / "demo" / demo.SURVEY_FILE).write_bytes(b"stale")
    demo.export_demo(source, tmp_path / "demo", config=ProjectionConfig())
    assert not (tmp_path / "demo" / demo.SURVEY_FILE).exists()


def test_the_shipped_demo_loads_as_the_layout_of_its_encoder_and_settings(tmp_path):
    """The demo map is the one layout every selection filters, exactly as shipped."""
    import json

    import pandas as pd

    if not demo.available():
        pytest.skip("no shipped demo in data/demo")
    db = tmp_path / "demo.duckdb"
    demo.load_demo(db)
    provenance = json.loads((demo.DEMO_DIR / demo.PROVENANCE_FILE).read_text(encoding="utf-8"))
    config = ProjectionConfig(**provenance["projection"])
    layout = projection.current(db, provenance["encoder"], config)
    shipped = pd.read_parquet(demo.DEMO_DIR / demo.MAP_FILE)
    assert layout.source == "shipped" and layout.n_fitted == len(shipped)
    assert layout.reducer is None  # new points go by their neighbours (projection's docstring)
    points = projection.points_of(db, layout)
    assert sorted(map(tuple, points[["x", "y"]].to_numpy())) == sorted(
        map(tuple, shipped[["x", "y"]].to_numpy())
    )
    demo.load_demo(db, replace=True)  # renews the shipped layout, at the same coordinates
    again = projection.current(db, provenance["encoder"], config)
    assert again.source == "shipped" and projection.points_of(db, again)[["x", "y"]].equals(
        points[["x", "y"]]
    )
