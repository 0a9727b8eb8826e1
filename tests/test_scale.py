"""Scale, at small sizes: a layout fitted on a sample keeping every model$language with the
rest placed by their neighbours, the sample a big selection sends to the browser (centroids
and counts from every point), and cuML's UMAP only where it imports."""

from __future__ import annotations

import hashlib
import re
import sys
import types

import numpy as np
import pandas as pd
import pytest

from univar import store
from univar.analysis import mapdata, projection, sampling
from univar.analysis.projection import ProjectionConfig
from univar.figures import value_map

SMALL = ProjectionConfig(fit_sample=400, seed=3)
TINY = ("model-9", "lang-x")  # an identity of 3 QA pairs: a sample must keep it


class ClusterEncoder:
    """Vectors clustered by the model$language named in the answer, noise from the text."""

    id = "cluster-encoder@test"
    dim = 16

    def encode(self, texts, batch_size=64):
        out = []
        for text in texts:
            group = int(re.search(r"group (\d+)", text).group(1))
            centre = np.random.default_rng(group).normal(size=self.dim) * 3
            seed = int(hashlib.sha256(text.encode()).hexdigest()[:8], 16)
            noise = np.random.default_rng(seed).normal(size=self.dim)
            out.append(centre + noise)
        return np.asarray(out, dtype=np.float32)


class SampledPCA:
    """PCA that, as UMAP does, is fitted on a sample above `fit_sample`; records what it fit."""

    fits_a_sample = True

    def __init__(self):
        self.fitted: list[np.ndarray] = []

    def fit(self, vectors, config):
        self.fitted.append(np.array(vectors))
        return projection.PCAProjector().fit(vectors, config)[0], None


def fill(db, sizes: dict[tuple[str, str], int]) -> list[str]:
    """QA pairs of each (model, language), in groups the encoder clusters."""
    rows = []
    for group, ((model, language), n) in enumerate(sizes.items()):
        for i in range(n):
            qa_id = f"{model}-{language}-{i:05d}"
            rows.append((qa_id, "scale", model, language, f"Question {i}?", f"group {group} #{i}"))
    frame = pd.DataFrame(rows, columns=["qa_id", "dataset", "model", "language", "q", "a"])
    with store.transaction(db) as con:
        con.register("rows", frame)
        con.execute(
            "INSERT INTO qa_pairs (qa_id, dataset, model, language, question, answer) "
            "SELECT * FROM rows"
        )
    return sorted(frame["qa_id"])


def sizes(models: int = 4, languages: int = 5) -> dict:
    out = {
        (f"model-{m}", f"lang-{chr(97 + lang)}"): 40 + 37 * m + 11 * lang
        for m in range(models)
        for lang in range(languages)
    }
    return out | {TINY: 3}


@pytest.fixture
def big(tmp_db):
    fill(tmp_db, sizes())
    return tmp_db


def stored_points(db, config=SMALL):
    layout = projection.current(db, ClusterEncoder.id, config)
    with store.connect(db) as con:
        return con.execute(
            "SELECT p.qa_id, q.identity, p.x, p.y, p.placed FROM projection_points p "
            "JOIN qa q USING (qa_id) WHERE proj_key = ? ORDER BY qa_id",
            [layout.proj_key],
        ).df()


# --- samples ---------------------------------------------------------------------------------


def test_quotas_keep_every_group_and_the_size():
    counts = [5000, 3000, 40, 3, 1200]
    take = sampling.quotas(counts, 1000, 100)
    assert take.sum() == 1000 and (take >= np.minimum(counts, 100)).all()
    assert (take <= counts).all() and take[3] == 3 and take[2] == 40
    assert take[0] > take[1] > take[4]  # beyond the floors, in proportion
    assert list(sampling.quotas(counts, 20_000, 100)) == counts  # small enough: everything
    crowded = sampling.quotas([50] * 30, 300, 100)  # floors alone would pass the size
    assert crowded.sum() == 300 and set(crowded) == {10}
    assert list(sampling.quotas([5, 5, 5], 2, 100)) == [1, 1, 1]  # one each, at least


def test_stratified_rows_are_seeded_and_keep_every_group():
    groups = ["a"] * 900 + ["b"] * 90 + ["c"] * 2
    rows = sampling.stratified_rows(groups, 100, 10, seed=1)
    assert len(rows) == 100 and list(rows) == sorted(rows)
    assert {groups[i] for i in rows} == {"a", "b", "c"}
    assert np.array_equal(rows, sampling.stratified_rows(groups, 100, 10, seed=1))
    assert not np.array_equal(rows, sampling.stratified_rows(groups, 100, 10, seed=2))


# --- a layout fitted on a sample ---------------------------------------------------------------


def test_a_large_layout_is_fitted_on_a_sample_and_the_rest_placed(big):
    fake = SampledPCA()
    layout = projection.refit(big, ClusterEncoder(), SMALL, projectors={"umap": fake})
    points = stored_points(big)
    n = sum(sizes().values())
    assert len(points) == n and np.isfinite(points[["x", "y"]].to_numpy()).all()
    fitted = points[points["placed"].isna()]
    assert len(fitted) == SMALL.fit_sample == layout.n_sample and layout.n_fitted == n
    assert set(points["placed"].dropna()) == {projection.FIT_PLACED}
    assert set(fitted["identity"]) == set(points["identity"])  # every identity is in the sample
    assert (fitted["identity"] == "$".join(TINY)).sum() == 3
    # the sampled points are the fitted ones: the projector saw exactly their vectors, in order
    assert len(fake.fitted) == 1 and len(fake.fitted[0]) == SMALL.fit_sample
    again = projection.PCAProjector().fit(fake.fitted[0], SMALL)[0]
    assert np.allclose(fitted[["x", "y"]].to_numpy(), again)
    # placed points land among their own identity's fitted points
    centres = fitted.groupby("identity")[["x", "y"]].mean()
    rest = points[points["placed"].notna()]
    own = centres.loc[rest["identity"]].to_numpy()
    gap = np.linalg.norm(rest[["x", "y"]].to_numpy() - own, axis=1)
    spread = np.linalg.norm(centres.to_numpy() - centres.to_numpy().mean(0), axis=1).mean()
    assert np.median(gap) < spread / 2
    # on the map none of them counts as placed after the fit, and the note names the sample
    assert not projection.points_of(big, layout)["placed"].any()
    assert "fitted on a sample of 400 keeping every model$language" in mapdata.layout_note(
        layout, projection.points_of(big, layout)
    )


def test_a_sampled_fit_is_deterministic_for_its_seed(big):
    projection.refit(big, ClusterEncoder(), SMALL, projectors={"umap": SampledPCA()})
    first = stored_points(big)
    projection.refit(big, ClusterEncoder(), SMALL, projectors={"umap": SampledPCA()})
    assert stored_points(big).equals(first)
    other = ProjectionConfig(fit_sample=400, seed=4)
    projection.refit(big, ClusterEncoder(), other, projectors={"umap": SampledPCA()})
    assert not stored_points(big, other)["placed"].isna().equals(first["placed"].isna())


def test_below_the_threshold_and_for_pca_everything_is_fitted(big):
    wide = ProjectionConfig(fit_sample=10_000)
    projection.refit(big, ClusterEncoder(), wide, projectors={"umap": SampledPCA()})
    assert stored_points(big, wide)["placed"].isna().all()
    pca = ProjectionConfig(method="pca", fit_sample=400)
    projection.refit(big, ClusterEncoder(), pca)  # PCA is linear in n: no sample
    assert stored_points(big, pca)["placed"].isna().all()


def test_later_points_are_placed_among_the_fitted_sample(big):
    layout = projection.refit(big, ClusterEncoder(), SMALL, projectors={"umap": SampledPCA()})
    late = fill(big, {("model-0", "lang-a2"): 5})
    assert projection.place(big, ClusterEncoder(), layout, late) == "neighbours"
    points = projection.points_of(big, layout).set_index("qa_id")
    assert points.loc[late, "placed"].all() and points["placed"].sum() == 5
    assert projection.current(big, ClusterEncoder.id, SMALL).n_sample == SMALL.fit_sample


def test_deleting_a_dataset_keeps_the_count_of_a_sampled_fit(big):
    from univar.store import datasets

    fill(big, {("model-0", "lang-z"): 30})
    with store.transaction(big) as con:
        con.execute("UPDATE qa_pairs SET dataset = 'other' WHERE language = 'lang-z'")
    layout = projection.refit(big, ClusterEncoder(), SMALL, projectors={"umap": SampledPCA()})
    points = stored_points(big)
    sampled = int((points["placed"].isna() & points["identity"].eq("model-0$lang-z")).sum())
    assert 0 < sampled < 30
    datasets.delete_dataset("other", big)
    after = projection.current(big, ClusterEncoder.id, SMALL)
    assert after.proj_key == layout.proj_key and after.n_fitted == layout.n_fitted - 30
    assert after.n_sample == layout.n_sample - sampled


def test_fit_sample_keeps_the_keys_of_layouts_stored_before_it():
    before = {"method": "umap", "n_neighbors": 15, "min_dist": 0.1, "metric": "cosine", "seed": 42}
    assert ProjectionConfig().params() == before
    assert ProjectionConfig().key() == projection.stable_hash(before)
    assert ProjectionConfig(fit_sample=5000).key() != ProjectionConfig().key()
    with pytest.raises(projection.UserError, match="fit_sample"):
        ProjectionConfig(fit_sample=10)


# --- cuML where it imports -------------------------------------------------------------------


def fake_modules(monkeypatch, *, cuml: bool, devices: int):
    umap_learn = types.ModuleType("umap")
    umap_learn.UMAP = type("UmapLearn", (), {})
    monkeypatch.setitem(sys.modules, "umap", umap_learn)
    if not cuml:
        monkeypatch.setitem(sys.modules, "cuml", None)  # None in sys.modules: ImportError
        return None
    manifold = types.ModuleType("cuml.manifold")
    manifold.UMAP = type("CumlUMAP", (), {})
    package = types.ModuleType("cuml")
    package.manifold = manifold
    runtime = types.SimpleNamespace(getDeviceCount=lambda: devices)
    cupy = types.ModuleType("cupy")
    cupy.cuda = types.SimpleNamespace(runtime=runtime)
    monkeypatch.setitem(sys.modules, "cuml", package)
    monkeypatch.setitem(sys.modules, "cuml.manifold", manifold)
    monkeypatch.setitem(sys.modules, "cupy", cupy)
    return manifold.UMAP


def test_cuml_fits_only_where_it_imports_and_a_gpu_exists(monkeypatch):
    fake_modules(monkeypatch, cuml=False, devices=0)
    engine, name = projection.umap_engine()
    assert (engine.__name__, name) == ("UmapLearn", "umap-learn")
    fake_modules(monkeypatch, cuml=True, devices=0)
    assert projection.umap_engine()[1] == "umap-learn"
    cuml_umap = fake_modules(monkeypatch, cuml=True, devices=1)
    assert projection.umap_engine() == (cuml_umap, "cuml")


def test_the_cuml_fit_gets_the_settings_without_umap_learns_thread_option(monkeypatch):
    seen = {}

    class Recording:
        def __init__(self, **options):
            seen.update(options)

        def fit_transform(self, vectors):
            return np.zeros((len(vectors), 2))

    monkeypatch.setattr(projection, "umap_engine", lambda: (Recording, "cuml"))
    coords, reducer = projection.UMAPProjector().fit(np.ones((20, 4), np.float32), SMALL)
    assert coords.shape == (20, 2) and reducer is None
    assert seen == {
        "n_components": 2,
        "n_neighbors": SMALL.n_neighbors,
        "min_dist": SMALL.min_dist,
        "metric": SMALL.metric,
        "random_state": SMALL.seed,
    }


# --- what the browser gets ----------------------------------------------------------------------

CAP = mapdata.ViewSettings(max_points=600, min_per_identity=20)


@pytest.fixture
def laid_out(big):
    projection.refit(big, ClusterEncoder(), SMALL, projectors={"umap": SampledPCA()})
    return big


EVERYTHING = mapdata.Selection()


def view_of(db, selection=EVERYTHING, view=CAP):
    return mapdata.stored_view(db, ClusterEncoder.id, selection, SMALL, view=view)


def test_a_big_selection_sends_a_sample_that_keeps_every_identity(laid_out):
    everything = mapdata.stored_points(laid_out, ClusterEncoder.id, mapdata.Selection(), SMALL)
    shown = view_of(laid_out)
    assert shown.sampled and shown.total == len(everything) and len(shown.points) == 600
    counts = everything.groupby("identity").size()
    kept = shown.points.groupby("identity").size()
    assert set(kept.index) == set(counts.index)
    assert (kept >= np.minimum(counts, CAP.min_per_identity)).all()
    # the sampled points keep their coordinates of the full layout
    same = shown.points.merge(everything, on="qa_id", suffixes=("", "_all"))
    assert len(same) == 600 and (same["x"] == same["x_all"]).all()
    assert (same["y"] == same["y_all"]).all()
    # stable across reruns; other seeds show other points
    assert view_of(laid_out).points.equals(shown.points)
    reseeded = view_of(laid_out, view=mapdata.ViewSettings(600, 20, seed=1))
    assert set(reseeded.points["qa_id"]) != set(shown.points["qa_id"])


def test_a_hash_bound_too_tight_still_gives_the_same_sample(laid_out, monkeypatch):
    shown = view_of(laid_out)
    monkeypatch.setattr(mapdata, "_bounds", lambda quotas, counts: np.zeros(len(quotas), "u8"))
    assert view_of(laid_out).points.equals(shown.points)  # ranked again, whole


def test_centroids_of_a_sample_are_those_of_every_point(laid_out):
    everything = mapdata.stored_points(laid_out, ClusterEncoder.id, mapdata.Selection(), SMALL)
    lang, ident = view_of(laid_out).centroids
    want_lang, want_ident = value_map.centroids(everything)
    assert list(lang["language"]) == list(want_lang["language"])
    assert np.allclose(lang[["x", "y"]], want_lang[["x", "y"]])
    assert list(lang["n"]) == list(want_lang["n"])
    assert ident[["language", "model"]].equals(want_ident[["language", "model"]])
    assert np.allclose(ident[["x", "y"]], want_ident[["x", "y"]])
    assert list(ident["n"]) == list(want_ident["n"])


def test_a_selection_change_keeps_the_points_still_selected(laid_out):
    shown = set(view_of(laid_out).points["qa_id"])
    fewer = mapdata.Selection(models=("model-0", "model-1", "model-2", "model-9"))
    smaller = view_of(laid_out, fewer)
    assert smaller.sampled and set(smaller.points["model"]) == set(fewer.models)
    assert {q for q in shown if not q.startswith("model-3")} <= set(smaller.points["qa_id"])


def test_below_the_cap_every_point_is_sent_as_before(laid_out):
    one = mapdata.Selection(models=("model-0",))
    full = mapdata.stored_points(laid_out, ClusterEncoder.id, one, SMALL)
    shown = view_of(laid_out, one)
    assert not shown.sampled and shown.centroids is None and shown.points.equals(full)
    spec = value_map.value_map_figure(shown.points, total=shown.total).to_dict()
    assert "title" not in spec["layout"] or not spec["layout"]["title"].get("text")


def test_the_figure_of_a_sample_says_so_and_draws_every_points_centroids(laid_out):
    shown = view_of(laid_out)
    fig = value_map.value_map_figure(
        shown.points, "language", total=shown.total, centroids=shown.centroids
    )
    title = fig.layout.title.text
    assert f"showing 600 of {shown.total:,} QA pairs" in title
    assert "a sample keeping every model$language" in title and "select fewer to see all" in title
    qa = [t for t in fig.data if t.meta == "qa"]
    assert sum(len(t.customdata) for t in qa) == 600  # the cap holds in what is sent
    lang, ident = shown.centroids
    markers = next(t for t in fig.data if t.meta == "language-centroids")
    assert np.allclose(np.asarray(markers.x, dtype=float), lang["x"])
    legend = {t.name for t in fig.data if t.meta == "legend"}
    totals = ident.groupby("language")["n"].sum()
    assert all(any(f"({totals[code]:,})" in name for name in legend) for code in totals.index)
