"""Projections: the cache key, the cache itself (a rerun never recomputes) and the projectors."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
from helpers_demo import build_demo_db, fulcra_rows

from univar import encoders, store
from univar.analysis import projection
from univar.analysis.projection import ProjectionConfig
from univar.errors import UserError

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
    """Wraps a projector and counts how often it really runs."""

    def __init__(self, inner):
        self.inner, self.calls = inner, 0

    def fit_transform(self, vectors, config):
        self.calls += 1
        return self.inner.fit_transform(vectors, config)


@pytest.fixture
def db(tmp_db):
    return build_demo_db(tmp_db, per_model=8)


@pytest.fixture
def ids():
    return [r["qa_id"] for r in fulcra_rows(8)]


def test_key_ignores_order_and_duplicates_but_not_inputs(ids):
    key = projection.projection_key("enc", ids, PCA)
    assert projection.projection_key("enc", list(reversed(ids)) + ids[:3], PCA) == key
    assert projection.projection_key("enc2", ids, PCA) != key
    assert projection.projection_key("enc", ids[1:], PCA) != key
    assert projection.projection_key("enc", ids, ProjectionConfig(method="pca", seed=1)) != key
    assert projection.projection_key("enc", ids, ProjectionConfig(n_neighbors=16)) != (
        projection.projection_key("enc", ids, ProjectionConfig())
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


def test_new_settings_or_selection_recompute_but_reuse_vectors(db, ids):
    encoder, pca = HashEncoder(), Counting(projection.PCAProjector())
    projection.project(db, encoder, ids, PCA, projectors={"pca": pca})
    projection.project(db, encoder, ids[:10], PCA, projectors={"pca": pca})
    projection.project(db, encoder, ids, ProjectionConfig("pca", seed=7), projectors={"pca": pca})
    assert pca.calls == 3
    assert encoder.calls == 1  # the vectors came from the embedding cache


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
