"""Projections: one layout per (encoder, settings), its cache (a rerun or another selection
never refits), points placed on it later, re-layout, and the projectors."""

from __future__ import annotations

import dataclasses
import hashlib
import json

import numpy as np
import pytest
from helpers_demo import build_demo_db, fulcra_rows

from univar import encoders, store
from univar.analysis import projection
from univar.analysis.projection import ProjectionConfig
from univar.errors import UserError
from univar.paths import layout_dir
from univar.quality.filter import QualityFilter

PCA = ProjectionConfig(method="pca")


class HashEncoder:
    """Deterministic vectors from a text's hash: no model, counts its calls."""

    id = "hash-encoder@test"
    dim = 16

    def __init__(self):
        self.calls = 0

    def encode(self, texts, batch_size=64):
        self.calls += 1
        seeds = [int(hashlib.sha256(t.encode()).hexdigest()[:8], 16) for t in texts]
        return np.stack([np.random.default_rng(s).normal(size=self.dim) for s in seeds]).astype(
            np.float32
        )


class Counting:
    """Wraps a projector and counts how often it really runs; `reducer=False` keeps no fitted
    reducer (as a layout shipped without one)."""

    def __init__(self, inner, reducer: bool = True):
        self.inner, self.calls, self.reducer = inner, 0, reducer

    def fit(self, vectors, config):
        self.calls += 1
        coords, reducer = self.inner.fit(vectors, config)
        return coords, reducer if self.reducer else None

    def fit_transform(self, vectors, config):
        return self.fit(vectors, config)[0]


@pytest.fixture
def db(tmp_db):
    return build_demo_db(tmp_db, per_model=8)


@pytest.fixture
def ids():
    return [r["qa_id"] for r in fulcra_rows(8)]


def test_one_layout_key_per_encoder_and_settings():
    key = projection.layout_key("enc", PCA)
    assert projection.layout_key("enc", ProjectionConfig(method="pca")) == key
    assert projection.layout_key("enc2", PCA) != key
    assert projection.layout_key("enc", ProjectionConfig(method="pca", seed=1)) != key
    assert projection.layout_key("enc", ProjectionConfig(n_neighbors=16)) != (
        projection.layout_key("enc", ProjectionConfig())
    )


def test_rerun_reads_the_cache_and_never_recomputes(db, ids):
    encoder, pca = HashEncoder(), Counting(projection.PCAProjector())
    first = projection.project(db, encoder, ids, PCA, projectors={"pca": pca})
    assert pca.calls == 1 and encoder.calls == 1
    assert list(first.columns) == ["qa_id", "x", "y"] and len(first) == len(ids)
    again = projection.project(db, encoder, list(reversed(ids)), PCA, projectors={"pca": pca})
    assert pca.calls == 1 and encoder.calls == 1  # neither the model nor the projector ran
    merged = first.merge(again, on="qa_id")
    assert np.allclose(merged["x_x"], merged["x_y"]) and np.allclose(merged["y_x"], merged["y_y"])
    with store.connect(db) as con:
        rows = con.execute("SELECT n_points, params FROM projections").fetchall()
    assert rows[0][0] == len(ids) and '"pca"' in rows[0][1]


def test_a_selection_filters_the_one_layout_and_new_settings_refit(db, ids):
    encoder, pca = HashEncoder(), Counting(projection.PCAProjector())
    everything = projection.project(db, encoder, ids, PCA, projectors={"pca": pca})
    some = projection.project(db, encoder, ids[:10], PCA, projectors={"pca": pca})
    assert pca.calls == 1  # a selection never refits ...
    same = some.merge(everything, on="qa_id", suffixes=("", "_all"))
    assert len(same) == 10 and (same["x"] == same["x_all"]).all()  # ... nor moves a point
    assert (same["y"] == same["y_all"]).all()
    projection.project(db, encoder, ids, ProjectionConfig("pca", seed=7), projectors={"pca": pca})
    assert pca.calls == 2  # other settings: their own layout
    assert encoder.calls == 1  # the vectors came from the embedding cache
    with store.connect(db) as con:  # one stored map per settings, none per selection
        assert con.execute("SELECT count(*) FROM projections").fetchall()[0][0] == 2
        assert con.execute("SELECT count(*) FROM layouts").fetchall()[0][0] == 2


def add_qa_pairs(db, n: int, *, same_text: bool = False) -> list[str]:
    """n QA pairs arriving after the layout (as an upload does); `same_text`: answers equal to
    existing ones, so their vectors are the existing ones too."""
    suffix = "" if same_text else " (asked again)"
    with store.transaction(db) as con:
        con.execute(
            "INSERT INTO qa_pairs (qa_id, dataset, model, language, question_id, question, "
            "answer) SELECT 'late-' || qa_id, 'late', 'latecomer', language, question_id, "
            "question, answer || ? FROM qa_pairs ORDER BY qa_id LIMIT ?",
            [suffix, n],
        )
        rows = con.execute("SELECT qa_id FROM qa_pairs WHERE dataset = 'late'").fetchall()
    return [r[0] for r in rows]


def test_new_qa_pairs_are_placed_with_the_fitted_reducer_without_a_refit(db, ids):
    encoder, pca = HashEncoder(), Counting(projection.PCAProjector())
    before = projection.project(db, encoder, ids, PCA, projectors={"pca": pca})
    late = add_qa_pairs(db, 5, same_text=True)
    after = projection.project(db, encoder, ids + late, PCA, projectors={"pca": pca})
    assert pca.calls == 1 and len(after) == len(ids) + 5
    kept = before.merge(after, on="qa_id", suffixes=("", "_after"))
    assert (kept["x"] == kept["x_after"]).all() and (kept["y"] == kept["y_after"]).all()
    layout = projection.current(db, encoder.id, PCA)
    points = projection.points_of(db, layout).set_index("qa_id")
    assert points.loc[late, "placed"].all() and not points.loc[ids, "placed"].any()
    # PCA's transform of the same vector lands where the fit put its twin
    twins = [qa_id.removeprefix("late-") for qa_id in late]
    assert np.allclose(points.loc[late, ["x", "y"]], points.loc[twins, ["x", "y"]], atol=1e-5)
    with store.connect(db) as con:
        assert con.execute(
            "SELECT DISTINCT placed FROM projection_points WHERE placed IS NOT NULL"
        ).fetchall() == [("transform",)]


def test_without_a_reducer_new_points_go_among_their_neighbours(db, ids):
    encoder, plain = HashEncoder(), Counting(projection.PCAProjector(), reducer=False)
    projection.project(db, encoder, ids, PCA, projectors={"pca": plain})
    late = add_qa_pairs(db, 3, same_text=True)
    projection.project(db, encoder, late, PCA, projectors={"pca": plain})
    assert plain.calls == 1
    layout = projection.current(db, encoder.id, PCA)
    assert layout.reducer is None
    points = projection.points_of(db, layout).set_index("qa_id")
    with store.connect(db) as con:
        rows = con.execute("SELECT DISTINCT placed FROM projection_points").fetchall()
    assert {r[0] for r in rows} == {None, "neighbours"}
    fitted = points.loc[ids, ["x", "y"]].to_numpy()
    for qa_id in late:  # nearer its twin than the layout's points are to one another
        twin = points.loc[qa_id.removeprefix("late-"), ["x", "y"]].to_numpy(dtype=float)
        gap = np.linalg.norm(points.loc[qa_id, ["x", "y"]].to_numpy(dtype=float) - twin)
        assert gap < np.linalg.norm(fitted - fitted.mean(0), axis=1).mean()


def test_neighbour_place_follows_the_embedding_space():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=16), rng.normal(size=16)
    base = np.vstack([a + 0.05 * rng.normal(size=(20, 16)), b + 0.05 * rng.normal(size=(20, 16))])
    coords = np.vstack([np.zeros((20, 2)) + [-10, 0], np.zeros((20, 2)) + [10, 0]])
    coords += 0.1 * rng.normal(size=coords.shape)
    new = np.vstack([a, b, a + 0.05 * rng.normal(size=16)])
    for metric in ("cosine", "euclidean", "manhattan", "correlation"):
        placed = projection.neighbour_place(new, base, coords, 15, metric)
        assert placed[0, 0] < -9 and placed[1, 0] > 9 and placed[2, 0] < -9, metric
    once = projection.neighbour_place(new, base, coords)
    assert np.array_equal(once, projection.neighbour_place(new, base, coords))  # deterministic


def test_refit_makes_a_new_layout_and_the_old_one_goes(db, ids):
    encoder, pca = HashEncoder(), Counting(projection.PCAProjector())
    projection.project(db, encoder, ids, PCA, projectors={"pca": pca})
    old = projection.current(db, encoder.id, PCA)
    assert (layout_dir() / old.reducer).exists()
    new = projection.refit(db, encoder, PCA, projectors={"pca": pca})
    assert pca.calls == 2 and new.proj_key != old.proj_key and new.source == "fit"
    assert projection.current(db, encoder.id, PCA) == new
    assert not (layout_dir() / old.reducer).exists() and (layout_dir() / new.reducer).exists()
    with store.connect(db) as con:
        assert con.execute("SELECT count(*) FROM projections").fetchall() == [(1,)]
        assert con.execute(
            "SELECT count(DISTINCT proj_key), count(*) FROM projection_points"
        ).fetchall() == [(1, len(ids))]


def test_deleting_a_dataset_keeps_the_layout_and_every_other_point(db, ids):
    from univar.store import datasets

    encoder, pca = HashEncoder(), Counting(projection.PCAProjector())
    add_qa_pairs(db, 5)
    layout = projection.refit(db, encoder, PCA, projectors={"pca": pca})
    before = projection.points_of(db, layout)
    assert datasets.delete_dataset("late", db)["projections"] == 0
    after = projection.current(db, encoder.id, PCA)
    assert after.proj_key == layout.proj_key and after.n_fitted == len(ids)
    kept = projection.points_of(db, after)
    assert kept.equals(before[before["qa_id"].isin(ids)].reset_index(drop=True))
    projection.project(db, encoder, ids, PCA, projectors={"pca": pca})
    assert pca.calls == 1  # nothing to refit


def test_a_reducer_file_is_read_only_when_univar_named_and_hashed_it(db, ids):
    encoder = HashEncoder()
    projection.project(db, encoder, ids, PCA)
    layout = projection.current(db, encoder.id, PCA)
    assert isinstance(projection.load_reducer(layout), projection.LinearReducer)
    for reducer, digest in (
        ("../../elsewhere.pca.npz", layout.reducer_sha256),
        ("x" * 24 + ".pickle", layout.reducer_sha256),
        (layout.reducer, "0" * 64),
        (layout.reducer, None),
    ):
        forged = dataclasses.replace(layout, reducer=reducer, reducer_sha256=digest)
        assert projection.load_reducer(forged) is None
    path = layout_dir() / layout.reducer
    path.write_bytes(path.read_bytes() + b"changed")
    projection._LOADED.clear()
    assert projection.load_reducer(layout) is None  # new points then go by their neighbours
    late = add_qa_pairs(db, 2)
    projection.project(db, encoder, late, PCA)
    with store.connect(db) as con:
        assert con.execute(
            "SELECT DISTINCT placed FROM projection_points WHERE placed IS NOT NULL"
        ).fetchall() == [("neighbours",)]


def test_a_map_stored_before_layouts_becomes_the_layout(db, ids):
    """Schema v1 kept one map per selection; the largest one of the settings is adopted, as
    the layout of every QA pair: it was fitted before any quality filter existed."""
    encoder, pca = HashEncoder(), Counting(projection.PCAProjector())
    params = json.dumps({**dataclasses.asdict(PCA), "algorithm": projection.ALGORITHM_VERSION})
    with store.transaction(db) as con:
        for key, n in (("old-small", 5), ("old-big", 30)):
            con.execute(
                "INSERT INTO projections (proj_key, encoder_id, params, n_points) "
                "VALUES (?, ?, ?, ?)",
                [key, encoder.id, params, n],
            )
            for i, qa_id in enumerate(sorted(ids)[:n]):
                con.execute(
                    "INSERT INTO projection_points VALUES (?, ?, ?, ?, NULL)",
                    [key, qa_id, float(i), 0.0],
                )
    assert projection.current(db, encoder.id, PCA) is None  # not the unflagged pairs' layout
    everything = projection.EVERYTHING
    points = projection.project(db, encoder, ids, PCA, quality=everything, projectors={"pca": pca})
    layout = projection.current(db, encoder.id, PCA, everything)
    assert pca.calls == 0 and (layout.proj_key, layout.source) == ("old-big", "adopted")
    assert list(points["x"][:30]) == [float(i) for i in range(30)] and len(points) == len(ids)


def test_progress_reports_embedding_then_projection(db, ids):
    seen = []
    projection.project(
        db, HashEncoder(), ids, PCA, progress=lambda d, t, m="": seen.append((m, d / t))
    )
    assert seen[0][1] == 0.0 and seen[-1] == ("Map ready", 1.0)
    assert any("Embedding" in m for m, _ in seen) and any("PCA" in m for m, _ in seen)
    assert [f for _, f in seen] == sorted(f for _, f in seen)


def test_bad_selections_are_refused_before_anything_is_written(db, ids):
    with pytest.raises(UserError, match="no QA pairs selected"):
        projection.project(db, HashEncoder(), [], PCA)
    with pytest.raises(UserError, match="1 selected QA ids are not usable"):
        projection.project(db, HashEncoder(), ids + ["nope"], PCA)
    with store.connect(db) as con:
        assert con.execute("SELECT count(*) FROM projections").fetchall()[0][0] == 0
        assert con.execute("SELECT count(*) FROM embeddings").fetchall()[0][0] == 0


@pytest.mark.parametrize("n", [1, 2, 3, 7])
def test_tiny_selections_still_get_a_layout(n):
    vectors = np.random.default_rng(0).normal(size=(n, 8)).astype(np.float32)
    for projector in projection.PROJECTORS.values():  # UMAP below 8 points falls back to PCA
        coords = projector.fit_transform(vectors, ProjectionConfig())
        assert coords.shape == (n, 2) and np.isfinite(coords).all()


@pytest.mark.slow
def test_umap_on_real_embeddings_is_cached(tmp_db, ids):
    """Real MiniLM vectors of real answers through real UMAP (numba compiles: ~30 s fresh)."""
    db = build_demo_db(tmp_db, per_model=8)
    encoder = encoders.load_encoder()
    umap = Counting(projection.UMAPProjector())
    config = ProjectionConfig(n_neighbors=10, seed=3)
    points = projection.project(db, encoder, ids, config, projectors={"umap": umap})
    again = projection.project(db, encoder, ids, config, projectors={"umap": umap})
    assert umap.calls == 1 and len(points) == len(ids) == len(again)
    assert points[["x", "y"]].std().min() > 0  # a spread-out map, not a collapsed one


def test_the_cli_writes_filtered_points_of_the_shipped_demo_layout(tmp_path, monkeypatch):
    """`project` on the shipped demo: all points, then one model in two languages; the second
    file holds exactly the coordinates of the first and nothing is fitted; --refit fits."""
    import pandas as pd

    from univar import cli
    from univar.ingest import demo

    if not demo.available():
        pytest.skip("no shipped demo in data/demo")
    db = tmp_path / "demo.duckdb"
    demo.load_demo(db)
    umap = Counting(projection.PCAProjector())  # stands in for UMAP: only --refit may run it
    monkeypatch.setitem(projection.PROJECTORS, "umap", umap)

    def project(*args: str) -> pd.DataFrame:
        out = tmp_path / f"points{len(list(tmp_path.iterdir()))}.csv"
        assert cli.main(["project", "--db", str(db), *args, "--out", str(out)]) == 0
        return pd.read_csv(out, dtype=str)  # as written: coordinates compared as text

    everything = project()
    sub = project("--model", "openai/smollm2", "--language", "eng", "--language", "fra")
    assert umap.calls == 0
    assert set(sub["model"]) == {"openai/smollm2"} and set(sub["language"]) == {"eng", "fra"}
    same = sub.merge(everything, on="qa_id", suffixes=("", "_all"))
    provenance = json.loads((demo.DEMO_DIR / demo.PROVENANCE_FILE).read_text(encoding="utf-8"))
    shown = QualityFilter().where()
    n_sub = store.query_df(
        "SELECT count(*) AS n FROM qa WHERE model = 'openai/smollm2' "
        f"AND language IN ('eng', 'fra') AND {shown}",
        path=db,
    )["n"][0]
    n_all = store.query_df(f"SELECT count(*) AS n FROM qa WHERE {shown}", path=db)["n"][0]
    assert n_all == provenance["quality"]["passing"] > n_sub > 0
    assert len(same) == len(sub) == n_sub and len(everything) == n_all  # what passes the checks
    assert (same["x"] == same["x_all"]).all() and (same["y"] == same["y_all"]).all()
    assert set(everything["placed"]) == {"False"}

    refitted = project("--refit", "--model", "openai/smollm2")
    assert umap.calls == 1 and set(refitted["model"]) == {"openai/smollm2"}
    layout = projection.current(db, encoders.encoder_id(), ProjectionConfig())
    assert layout.source == "fit" and layout.n_fitted == n_all
    moved = refitted.merge(everything, on="qa_id", suffixes=("", "_old"))
    assert (moved["x"] != moved["x_old"]).any()  # a new layout, written in full
