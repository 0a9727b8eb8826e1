"""2-D maps of QA embeddings: one layout per (encoder, projection settings, quality filter),
kept in DuckDB.

A layout is fitted once (UMAP or PCA behind one small interface) on every QA pair the database
holds that its quality filter lets through (`quality.filter`: by default, those no quality check
flagged), and its points are stored in `projection_points` under the fit's key; `layouts` names
the fit in use for each (encoder, settings, filter). A selection of models, languages or
datasets reads its points from that one layout: coordinates are the same in every selection,
page and session, and choosing a selection never fits anything. A layout of flagged pairs too
is another layout: leaving them out of a fit changes where everything else lands.

QA pairs added after the fit (an elicitation, an upload) are placed on it and marked `placed`:
a PCA layout places them with its fitted reducer's own `transform` (its mean and components,
kept as plain arrays in `paths.layout_dir()`, a folder only univar writes, and read back only
when their digest matches the one stored with the layout); a UMAP layout, the shipped demo's
included, by their neighbours in embedding space (`neighbour_place`). `refit` fits a new layout
of everything and switches to it in one transaction, so the old one is in use until then.

No fitted UMAP model is kept, for the demo or any other layout: it holds its training vectors,
their neighbour graph and a search index (4.4 MB for the demo's 2,512 vectors, which would
nearly double the 5.6 MB demo); it can only be kept as a pickle, and univar loads no pickle at
all (tests/test_trust.py holds every module to that, so no file swapped into a folder can run
code); and its `transform` costs umap's import (7.5 s on 2 cores) and its compilation (16 s)
on the first upload of every server process. `neighbour_place` puts a new point where umap's
own transform starts it (before its few epochs of refinement), from vectors and coordinates
the database already holds, with numpy alone: 16 QA pairs in 0.7 s on the demo, most of it
reading the layout's 2,512 vectors; a copy of a demo answer lands 0.17 from its twin (median)
on a map whose coordinates have a standard deviation of 5.6. It works wherever the database
goes, and Re-layout fits the new points in for real.

A UMAP layout of more QA pairs than `ProjectionConfig.fit_sample` is fitted on a seeded sample
of that many that keeps every model$language (`analysis.sampling`), and the rest are placed on
it by their neighbours in the same fit, in batches (`FIT_PLACED` in `projection_points.placed`:
the points know whether UMAP fitted them). On 2 shared cores umap-learn fits 20,000 QA pairs
in 22 s once compiled (the first fit of a process also imports and compiles it: about 2 min)
and 100,000 in about 5 min, while placing costs 0.55 ms a QA pair against a 20,000 sample: a
layout of 1,000,000 takes 10 min, 9 of them placing (`bench/bench_scale.py`). The sample costs
the order of points within a model$language, not the clusters: at 100,000 QA pairs 6% of a
point's 10 nearest neighbours in embedding space stay among its 10 nearest on the map (29% with
a full fit), while trustworthiness is the same (0.983 and 0.981) and a point's 10 nearest on
the map share its language as in embedding space. Where RAPIDS' cuML imports and a CUDA device
exists, its UMAP fits instead of umap-learn's.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from univar import encoders, store
from univar.analysis import sampling
from univar.config import check, stable_hash
from univar.errors import UserError
from univar.paths import Db, layout_dir
from univar.progress import Progress
from univar.quality.filter import QualityFilter

ALGORITHM_VERSION = 1  # bump when a projector changes its output for the same settings
METHODS = ("umap", "pca")
METRICS = ("cosine", "euclidean", "manhattan", "correlation")
EVERYTHING = QualityFilter(include_flagged=True)


@dataclass(frozen=True)
class ProjectionConfig:
    """How embeddings become a 2-D map. Every field changes the picture, so all are hashed."""

    method: str = "umap"  # umap | pca
    n_neighbors: int = 15
    min_dist: float = 0.1
    metric: str = "cosine"
    seed: int = 42
    # UMAP fits at most this many QA pairs (a sample keeping every model$language) and places
    # the rest by their neighbours: bench/bench_scale.py weighs its time against what it keeps
    fit_sample: int = 20_000

    def __post_init__(self):
        check(self.method in METHODS, f"method must be umap or pca, got {self.method!r}")
        check(
            2 <= self.n_neighbors <= 200, f"n_neighbors must be in [2, 200], got {self.n_neighbors}"
        )
        check(0.0 <= self.min_dist <= 1.0, f"min_dist must be in [0, 1], got {self.min_dist}")
        check(
            self.metric in METRICS,
            f"metric must be cosine, euclidean, manhattan or correlation, got {self.metric!r}",
        )
        check(self.fit_sample >= 100, f"fit_sample must be at least 100, got {self.fit_sample}")

    def params(self) -> dict:
        """The settings as a layout's key hashes them and its row stores them. A field added
        since layouts were first stored counts only where it is off its default, so every
        layout stored before keeps its key (a layout smaller than `fit_sample` is the same fit
        whatever it is); a change of such a default must bump ALGORITHM_VERSION."""
        return _as_before(dataclasses.asdict(self))

    def key(self) -> str:
        return stable_hash(self.params())


_LATER = {"fit_sample": ProjectionConfig.fit_sample}  # fields added after layouts existed


def _as_before(params: dict) -> dict:
    """Settings without the later fields that are at their default."""
    return {k: v for k, v in params.items() if not (k in _LATER and v == _LATER[k])}


class Projector(Protocol):
    """Fits a 2-D layout. One may also have `fit(vectors, config) -> (coords, Reducer | None)`:
    then QA pairs added later are placed with the reducer; without it, by their neighbours.
    One whose time grows faster than its input says `fits_a_sample = True`: above
    `config.fit_sample` QA pairs it is fitted on a sample (`fit_layout`)."""

    def fit_transform(self, vectors: np.ndarray, config: ProjectionConfig) -> np.ndarray:
        """(n, d) float32 -> (n, 2) float64."""


class Reducer(Protocol):
    """A fitted projection that places new vectors on its layout, and keeps itself in a file."""

    suffix: str  # the file name's ending, which also says how it is read back

    def transform(self, vectors: np.ndarray) -> np.ndarray: ...

    def save(self, path: Path) -> None: ...


class LinearReducer:
    """A fitted PCA: its mean and two components, kept as plain arrays (no pickle)."""

    suffix = ".pca.npz"

    def __init__(self, mean: np.ndarray, components: np.ndarray):
        self.mean, self.components = np.asarray(mean), np.asarray(components)

    def transform(self, vectors: np.ndarray) -> np.ndarray:
        return (np.asarray(vectors, dtype=np.float64) - self.mean) @ self.components.T

    def save(self, path: Path) -> None:
        with open(path, "wb") as fh:
            np.savez(fh, mean=self.mean, components=self.components)

    @classmethod
    def load(cls, source) -> LinearReducer:
        with np.load(source, allow_pickle=False) as arrays:
            return cls(arrays["mean"], arrays["components"])


_READERS = {LinearReducer.suffix: LinearReducer.load}


def _tiny(vectors: np.ndarray) -> np.ndarray | None:
    """Layouts for selections too small to fit a model to (0, 1 or 2 points)."""
    n = len(vectors)
    if n == 0:
        return np.zeros((0, 2))
    if n == 1:
        return np.zeros((1, 2))
    if n == 2:
        return np.array([[-1.0, 0.0], [1.0, 0.0]])
    return None


class PCAProjector:
    """Fast and deterministic: the first two principal components."""

    def fit(self, vectors: np.ndarray, config: ProjectionConfig):
        tiny = _tiny(vectors)
        if tiny is not None:
            return tiny, None
        from sklearn.decomposition import PCA

        pca = PCA(n_components=2, random_state=config.seed)
        coords = pca.fit_transform(vectors)
        return np.asarray(coords, dtype=np.float64), LinearReducer(pca.mean_, pca.components_)

    def fit_transform(self, vectors: np.ndarray, config: ProjectionConfig) -> np.ndarray:
        return self.fit(vectors, config)[0]


def umap_engine():
    """(UMAP class, its name): cuML's where it imports and a CUDA device exists (a GPU fits
    in seconds what takes 2 cores minutes), else umap-learn's."""
    try:
        import cupy
        from cuml.manifold import UMAP

        if cupy.cuda.runtime.getDeviceCount() > 0:
            return UMAP, "cuml"
    except Exception:  # not installed, or installed without a usable device or driver
        pass
    import umap

    return umap.UMAP, "umap-learn"


class UMAPProjector:
    """umap-learn (or cuML's UMAP on a GPU) with the configured neighbours, distance, metric
    and seed. Above `fit_sample` QA pairs it is fitted on a sample (`fit_layout`)."""

    fits_a_sample = True

    def fit(self, vectors: np.ndarray, config: ProjectionConfig):
        tiny = _tiny(vectors)
        if tiny is not None:
            return tiny, None
        n = len(vectors)
        if n < 8:  # UMAP's spectral start needs more points than this; PCA says the same
            return PCAProjector().fit(vectors, config)
        engine, name = umap_engine()
        options = {
            "n_components": 2,
            "n_neighbors": min(config.n_neighbors, n - 1),
            "min_dist": config.min_dist,
            "metric": config.metric,
            "random_state": config.seed,
        }
        if name == "umap-learn":  # random_state forces one thread; saying so silences a warning
            options["n_jobs"] = 1
        reducer = engine(**options)
        # no reducer kept: a fitted UMAP can only be kept as a pickle (see the module's doc)
        return np.asarray(reducer.fit_transform(vectors), dtype=np.float64), None

    def fit_transform(self, vectors: np.ndarray, config: ProjectionConfig) -> np.ndarray:
        return self.fit(vectors, config)[0]


PROJECTORS: dict[str, Projector] = {"umap": UMAPProjector(), "pca": PCAProjector()}


def _fit(projector, vectors: np.ndarray, config: ProjectionConfig):
    """(coords, reducer or None): projectors without `fit` keep no reducer."""
    fit = getattr(projector, "fit", None)
    if fit is None:
        return np.asarray(projector.fit_transform(vectors, config), dtype=np.float64), None
    coords, reducer = fit(vectors, config)
    return np.asarray(coords, dtype=np.float64), reducer


# --- placing QA pairs added after a fit ----------------------------------------------------------


def _prepared(vectors: np.ndarray, metric: str) -> np.ndarray:
    """Vectors as the metric compares them, float32 where a matrix product compares them (BLAS
    runs it twice as fast as float64, and ranking neighbours needs no more): unit length for
    cosine, centred first for correlation."""
    if metric == "manhattan":
        return np.asarray(vectors, dtype=np.float64)
    v = np.asarray(vectors, dtype=np.float32)
    if metric == "correlation":
        v = v - v.mean(axis=1, keepdims=True)
    if metric in ("cosine", "correlation"):
        v = v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)
    return v


def _nearest(queries: np.ndarray, base: np.ndarray, metric: str, k: int, half_sq: np.ndarray):
    """(positions in `base`, distances) of each query's k nearest, as UMAP measures distance.
    A matrix product ranks them for every metric but manhattan: the largest q.b (less |b|^2/2
    for euclidean) are the nearest, so no (q, n) matrix of distances is ever formed."""
    n = len(base)
    if metric == "manhattan":
        scores = -np.abs(queries[:, None, :] - base[None, :, :]).sum(axis=2)
    else:
        scores = queries @ base.T
        if metric == "euclidean":
            scores -= half_sq
    nearest = (
        np.argpartition(scores, n - k, axis=1)[:, n - k :]
        if k < n
        else np.tile(np.arange(n), (len(queries), 1))
    )
    best = np.take_along_axis(scores, nearest, axis=1).astype(np.float64)
    if metric == "manhattan":
        return nearest, -best
    if metric == "euclidean":
        squared = (queries.astype(np.float64) ** 2).sum(axis=1, keepdims=True) - 2.0 * best
        return nearest, np.sqrt(np.maximum(squared, 0.0))
    return nearest, np.maximum(1.0 - best, 0.0)


def _memberships(dists: np.ndarray) -> np.ndarray:
    """Row-normalised weights of each point's k nearest neighbours: UMAP's fuzzy membership
    exp(-d / sigma), sigma found by bisection so that a row's memberships sum to log2(k)
    (umap-learn's smooth_knn_dist with the local connectivity its transform uses)."""
    k = dists.shape[1]
    target = np.log2(k) if k > 1 else 1.0
    lo, hi = np.zeros(len(dists)), np.full(len(dists), np.inf)
    sigma = np.ones(len(dists))
    for _ in range(64):
        total = np.exp(-dists / sigma[:, None]).sum(axis=1)
        high = total > target
        hi = np.where(high, sigma, hi)
        lo = np.where(high, lo, sigma)
        sigma = np.where(np.isinf(hi), sigma * 2.0, (lo + hi) / 2.0)
    sigma = np.maximum(sigma, 1e-3 * max(float(dists.mean()), 1e-12))  # as umap's floor
    weights = np.exp(-dists / sigma[:, None])
    return weights / weights.sum(axis=1, keepdims=True)


def neighbour_place(
    vectors: np.ndarray,
    base_vectors: np.ndarray,
    base_coords: np.ndarray,
    n_neighbors: int = 15,
    metric: str = "cosine",
) -> np.ndarray:
    """(m, 2) positions for new vectors on a layout of `base_vectors` at `base_coords`.

    Each new point goes to the membership-weighted mean of the layout positions of its
    `n_neighbors` nearest fitted points in embedding space: the point where umap-learn's own
    `transform` starts one (its `init_graph_transform`), without the few epochs of refinement
    that follow. Deterministic, numpy only (no umap import, no compilation), and it needs
    only what the database holds (vectors and fitted coordinates), so it works for a layout
    whose reducer is not kept here, such as the shipped demo's.
    """
    base_coords = np.asarray(base_coords, dtype=np.float64)
    n = len(base_coords)
    if n == 0:
        raise UserError("the layout has no fitted QA pairs left to place new ones by: re-layout")
    k = max(1, min(n_neighbors, n))
    vectors, base = np.asarray(vectors), _prepared(base_vectors, metric)
    half_sq = 0.5 * (base * base).sum(axis=1) if metric == "euclidean" else None
    out = np.zeros((len(vectors), 2))
    # bounds the (chunk, n) score matrix; manhattan also holds (chunk, n, dim) differences
    cells = n * (np.shape(base_vectors)[1] if metric == "manhattan" else 1)
    chunk = max(1, min(512, 20_000_000 // max(cells, 1)))
    for start in range(0, len(vectors), chunk):
        part = vectors[start : start + chunk]  # converted a chunk at a time: bounded memory
        nearest, near = _nearest(_prepared(part, metric), base, metric, k, half_sq)
        weights = _memberships(near)
        out[start : start + chunk] = np.einsum("ij,ijk->ik", weights, base_coords[nearest])
    return out


# --- fitting a large layout on a sample -----------------------------------------------------------

FIT_PLACED = "fit-neighbours"  # `placed` of a QA pair a fit on a sample placed by its neighbours
SAMPLE_FLOOR = 50  # QA pairs of each model$language a fit's sample keeps at least (all, if fewer)
PLACE_BATCH = 50_000  # QA pairs placed between two progress reports


def fit_layout(
    projector,
    vectors: np.ndarray,
    groups: Sequence[str],
    config: ProjectionConfig,
    progress: Progress | None = None,
):
    """(coords, reducer or None, the fitted rows or None) of one fit of `vectors`, whose
    `groups` (each row's model$language) a sample keeps.

    A projector that `fits_a_sample` (UMAP) given more rows than `config.fit_sample` is
    fitted on a sample of that many, seeded by `config.seed`, keeping every group
    (`sampling.stratified_rows`); the other rows are placed on it by their neighbours among
    the sample (`neighbour_place`, in the layout's metric), a batch at a time, and the fitted
    rows' positions come back. Otherwise every row is fitted (None). `progress` gets this
    step's share of 1.0.
    """
    n = len(vectors)
    if not getattr(projector, "fits_a_sample", False) or n <= config.fit_sample:
        return (*_fit(projector, vectors, config), None)
    rows = sampling.stratified_rows(groups, config.fit_sample, SAMPLE_FLOOR, config.seed)
    if progress:
        progress(0.0, 1.0, f"Fitting on a sample of {len(rows):,} of {n:,} (every model$language)")
    sample = vectors[rows]
    fitted, reducer = _fit(projector, sample, config)
    coords = np.empty((n, 2))
    coords[rows] = fitted
    rest = np.setdiff1d(np.arange(n), rows, assume_unique=True)
    for start in range(0, len(rest), PLACE_BATCH):
        if progress:  # the fit is about half the time at 100,000 QA pairs, less above
            progress(0.5 + 0.5 * start / len(rest), 1.0, f"Placing {start:,} of {len(rest):,}")
        batch = rest[start : start + PLACE_BATCH]
        coords[batch] = neighbour_place(
            vectors[batch], sample, fitted, config.n_neighbors, config.metric
        )
    return coords, reducer, rows


# --- layouts ---------------------------------------------------------------------------------------

_REDUCER_NAME = re.compile(r"[0-9a-f]{24}\.pca\.npz")


@dataclass(frozen=True)
class Layout:
    """The layout in use for one (encoder, projection settings, filter): which fit, from where."""

    layout_key: str
    proj_key: str  # the fit: its rows of `projections` and `projection_points`
    encoder_id: str
    config: ProjectionConfig
    source: str  # 'fit', 'shipped' (a demo's map), 'adopted' (a map stored before layouts)
    n_fitted: int
    fitted_at: object
    reducer: str | None = None
    reducer_sha256: str | None = None
    quality: QualityFilter = QualityFilter()
    n_sample: int | None = None  # fitted on a sample of this many, the rest placed in the fit


def layout_key(
    encoder_id: str, config: ProjectionConfig, quality: QualityFilter | None = None
) -> str:
    """One per (encoder, settings, filter): never the selection, so every selection shares it.
    A layout of every QA pair keeps the key it had before filters existed: those were fitted
    on everything, so they stay in use as what they are."""
    return stable_hash(_key_parts(encoder_id, config, quality or QualityFilter()), 24)


def _key_parts(encoder_id: str, config: ProjectionConfig, quality: QualityFilter) -> dict:
    parts = {"encoder": encoder_id, "config": config.key(), "algorithm": ALGORITHM_VERSION}
    return parts if quality.include_flagged else {**parts, "quality": quality.key()}


def _params(config: ProjectionConfig, quality: QualityFilter = EVERYTHING) -> dict:
    params = {**config.params(), "algorithm": ALGORITHM_VERSION}
    return params if quality.include_flagged else {**params, "quality": quality.key()}


def current(
    db: Db, encoder_id: str, config: ProjectionConfig, quality: QualityFilter | None = None
) -> Layout | None:
    """The layout in use for this encoder, these settings and this filter, or None (reads
    only, except once for a database written before layouts existed: see `_adopt`)."""
    quality = quality or QualityFilter()
    with store.connect(db) as con:
        layout = stored(con, encoder_id, config, quality)
    if layout is None and _adopt(db, encoder_id, config, quality):
        with store.connect(db) as con:
            layout = stored(con, encoder_id, config, quality)
    return layout


def stored(
    con, encoder_id: str, config: ProjectionConfig, quality: QualityFilter | None = None
) -> Layout | None:
    """The layout in use, read on an open connection (no adoption: see `current`)."""
    quality = quality or QualityFilter()
    key = layout_key(encoder_id, config, quality)
    rows = con.execute(
        "SELECT l.proj_key, l.source, p.n_points, p.created_at, l.reducer, "
        "l.reducer_sha256, (SELECT count(*) FROM projection_points pp WHERE pp.proj_key = "
        "l.proj_key AND pp.placed = ?) FROM layouts l JOIN projections p USING (proj_key) "
        "WHERE l.layout_key = ?",
        [FIT_PLACED, key],
    ).fetchall()
    if not rows:
        return None
    *row, in_fit = rows[0]
    n_sample = row[2] - in_fit if in_fit else None
    return Layout(key, row[0], encoder_id, config, *row[1:], quality=quality, n_sample=n_sample)


def _adopt(db: Db, encoder_id: str, config: ProjectionConfig, quality: QualityFilter) -> bool:
    """A database of schema v1 kept one map per selection: the largest for these settings
    becomes the layout (a loaded demo's map, so it looks as it did), the rest is placed.
    Those maps were fitted on every QA pair, so only the layout of every pair adopts one.
    True when there is one."""
    if not quality.include_flagged:
        return False
    want = _params(config)
    with store.connect(db) as con:
        rows = con.execute(
            "SELECT proj_key, params FROM projections WHERE encoder_id = ? "
            "AND proj_key NOT IN (SELECT proj_key FROM layouts) "
            "ORDER BY n_points DESC, created_at DESC, proj_key",
            [encoder_id],
        ).fetchall()
    found = next((key for key, params in rows if _as_before(json.loads(params)) == want), None)
    if found is None:
        return False
    with store.transaction(db) as con:  # OR IGNORE: another process may have been first
        con.execute(
            "INSERT OR IGNORE INTO layouts (layout_key, encoder_id, params, proj_key, source) "
            "VALUES (?, ?, ?, ?, 'adopted')",
            [layout_key(encoder_id, config, quality), encoder_id, json.dumps(want), found],
        )
    return True


def _write_reducer(proj_key: str, reducer: Reducer) -> tuple[str, str]:
    """Keep a fitted reducer in layout_dir(); (file name, sha256 of its bytes)."""
    folder = layout_dir()
    folder.mkdir(parents=True, exist_ok=True)
    name = proj_key + reducer.suffix
    temporary = folder / f".{name}.{uuid.uuid4().hex[:8]}.tmp"
    try:
        reducer.save(temporary)
        digest = hashlib.sha256(temporary.read_bytes()).hexdigest()
        temporary.replace(folder / name)
    finally:
        temporary.unlink(missing_ok=True)
    return name, digest


def load_reducer(layout: Layout) -> Reducer | None:
    """The layout's fitted reducer, if this machine kept it: only a file of layout_dir() that
    univar named, whose bytes hash to the digest stored with the layout (the bytes hashed are
    the bytes read). None otherwise: its new points are placed by their neighbours."""
    name, digest = layout.reducer, layout.reducer_sha256
    if not name or not digest or not _REDUCER_NAME.fullmatch(name):
        return None
    return _read_reducer(str(layout_dir() / name), digest)


_LOADED: dict[tuple[str, str], Reducer] = {}


def _read_reducer(path: str, digest: str) -> Reducer | None:
    import io

    if (path, digest) in _LOADED:
        return _LOADED[(path, digest)]
    try:
        data = Path(path).read_bytes()
    except OSError:
        return None
    if hashlib.sha256(data).hexdigest() != digest:
        return None
    suffix = next(s for s in _READERS if path.endswith(s))
    reducer = _READERS[suffix](io.BytesIO(data))
    _LOADED.clear()  # the layout in use is the one that places
    _LOADED[(path, digest)] = reducer
    return reducer


def save_fit(
    db: Db,
    encoder_id: str,
    config: ProjectionConfig,
    points,
    seconds: float,
    *,
    source: str = "fit",
    reducer: Reducer | None = None,
    replace: bool = True,
    quality: QualityFilter | None = None,
) -> Layout | None:
    """Store a fit's points (qa_id, x, y and optionally placed: FIT_PLACED for those a fit on
    a sample placed) and make it the layout in use of `quality`'s QA pairs, in one
    transaction; the previous fit's points go with it. `replace=False`: only where there is
    no layout yet (None when there was one)."""
    quality = quality or QualityFilter()
    key = layout_key(encoder_id, config, quality)
    proj_key = uuid.uuid4().hex[:24]
    name = digest = None
    if reducer is not None:
        name, digest = _write_reducer(proj_key, reducer)
    try:
        with store.transaction(db) as con:
            old = con.execute(
                "SELECT proj_key, reducer FROM layouts WHERE layout_key = ?", [key]
            ).fetchall()
            if old and not replace:
                if name:
                    (layout_dir() / name).unlink(missing_ok=True)
                return None
            con.execute(
                "INSERT INTO projections (proj_key, encoder_id, params, n_points, seconds) "
                "VALUES (?, ?, ?, ?, ?)",
                [proj_key, encoder_id, json.dumps(_params(config, quality)), len(points), seconds],
            )
            placed = points["placed"] if "placed" in points else None
            new_points = points[["qa_id", "x", "y"]].assign(proj_key=proj_key, placed=placed)
            con.register("new_points", new_points.astype({"placed": "string"}))
            con.execute(
                "INSERT INTO projection_points (proj_key, qa_id, x, y, placed) "
                "SELECT proj_key, qa_id, x, y, placed FROM new_points"
            )
            con.execute(
                "INSERT OR REPLACE INTO layouts (layout_key, encoder_id, params, proj_key, "
                "source, reducer, reducer_sha256, updated_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, current_timestamp)",
                [
                    key,
                    encoder_id,
                    json.dumps(_params(config, quality)),
                    proj_key,
                    source,
                    name,
                    digest,
                ],
            )
            for old_key, _ in old:
                con.execute("DELETE FROM projection_points WHERE proj_key = ?", [old_key])
                con.execute("DELETE FROM projections WHERE proj_key = ?", [old_key])
    except BaseException:
        if name:
            (layout_dir() / name).unlink(missing_ok=True)
        raise
    for _, old_name in old:
        if old_name and _REDUCER_NAME.fullmatch(old_name):
            (layout_dir() / old_name).unlink(missing_ok=True)
    return current(db, encoder_id, config, quality)


def _all_ids(db: Db, quality: QualityFilter) -> list[str]:
    return _all_rows(db, quality)[0]


def _all_rows(db: Db, quality: QualityFilter) -> tuple[list[str], list[str]]:
    """(qa ids, their model$language) of every QA pair the filter lets through, by qa_id."""
    with store.connect(db) as con:
        table = con.sql(
            f"SELECT qa_id, identity FROM qa WHERE {quality.where()} ORDER BY qa_id"
        ).to_arrow_table()
    return table.column("qa_id").to_pylist(), table.column("identity").to_pylist()


def passing(db: Db, qa_ids: Sequence[str], quality: QualityFilter) -> list[str]:
    """The given QA ids that `quality` lets through, sorted and without repeats."""
    import pandas as pd

    ids = sorted(set(qa_ids))
    if quality.include_flagged or not ids:
        return ids
    return list(quality.keep(db, pd.DataFrame({"qa_id": ids}))["qa_id"])


def _qa_texts(db: Db, qa_ids: list[str]) -> list[str]:
    """The embedded text of each QA id, in the given order."""
    import pandas as pd

    with store.connect(db) as con:
        con.register("wanted", pd.DataFrame({"qa_id": qa_ids}))
        rows = con.execute(
            "SELECT qa_id, coalesce(question_en, question), coalesce(answer_en, answer) "
            "FROM qa JOIN wanted USING (qa_id)"
        ).fetchall()
    texts = {qa_id: encoders.qa_text(q, a) for qa_id, q, a in rows}
    missing = [qa_id for qa_id in qa_ids if qa_id not in texts]
    if missing:
        raise UserError(
            f"{len(missing)} selected QA ids are not usable QA pairs in the database "
            f"(first: {missing[0]!r})"
        )
    return [texts[qa_id] for qa_id in qa_ids]


def _embed(db: Db, encoder, ids: list[str], progress: Progress | None, share: float):
    """Vectors of these QA pairs; `progress` gets the first `share` of 1.0."""

    def embed_progress(done: float, total: float, message: str = "") -> None:
        if progress:
            progress(
                share * done / max(total, 1), 1.0, f"Embedding {done:,} of {total:,} new QA pairs"
            )

    return encoders.embed_texts(_qa_texts(db, ids), encoder, db, progress=embed_progress)


def refit(
    db: Db,
    encoder: encoders.Encoder,
    config: ProjectionConfig | None = None,
    *,
    quality: QualityFilter | None = None,
    progress: Progress | None = None,
    projectors: dict[str, Projector] | None = None,
) -> Layout:
    """Fit a new layout of every QA pair in the database that `quality` lets through and make
    it the one in use for that filter.

    The layout in use stays until the new one is stored (one transaction switches them).
    `progress` gets a fraction of 1.0 with what is happening; embedding takes the first 0.8.
    """
    config, quality = config or ProjectionConfig(), quality or QualityFilter()
    ids, identities = _all_rows(db, quality)
    if not ids:
        if _all_ids(db, EVERYTHING):
            raise UserError(
                "every QA pair in the database is flagged by the quality checks: include "
                "flagged QA pairs to map them"
            )
        raise UserError("no QA pairs in the database yet: elicit answers or upload a CSV first")
    vectors = _embed(db, encoder, ids, progress, 0.8)
    if progress:
        progress(0.8, 1.0, f"Projecting {len(ids):,} points with {config.method.upper()}")
    import pandas as pd

    def fit_progress(done: float, total: float, message: str = "") -> None:
        if progress:
            progress(0.8 + 0.2 * done / max(total, 1e-12), 1.0, message)

    started = time.perf_counter()
    projector = (projectors or PROJECTORS)[config.method]
    coords, reducer, fitted = fit_layout(projector, vectors, identities, config, fit_progress)
    seconds = time.perf_counter() - started
    del vectors  # a million of them are 1.5 GB: not held while the points are written
    placed = np.full(len(ids), None, dtype=object)
    if fitted is not None:
        placed[:] = FIT_PLACED
        placed[fitted] = None
    points = pd.DataFrame({"qa_id": ids, "x": coords[:, 0], "y": coords[:, 1], "placed": placed})
    layout = save_fit(db, encoder.id, config, points, seconds, reducer=reducer, quality=quality)
    if progress:
        progress(1.0, 1.0, "Map ready")
    return layout


def ensure(
    db: Db,
    encoder: encoders.Encoder,
    config: ProjectionConfig | None = None,
    *,
    quality: QualityFilter | None = None,
    progress: Progress | None = None,
    projectors: dict[str, Projector] | None = None,
) -> Layout:
    """The layout in use for this filter, fitted first when there is none."""
    config = config or ProjectionConfig()
    layout = current(db, encoder.id, config, quality)
    if layout is None:
        layout = refit(
            db, encoder, config, quality=quality, progress=progress, projectors=projectors
        )
    return layout


def unplaced(db: Db, layout: Layout, where: str = "TRUE", params: Sequence = ()) -> list[str]:
    """QA ids of the `qa` view (those matching `where`, and the layout's filter) that the
    layout has no point for."""
    with store.connect(db) as con:
        rows = con.execute(
            f"SELECT qa_id FROM qa WHERE {where} AND {layout.quality.where()} AND qa_id NOT IN "
            "(SELECT qa_id FROM projection_points WHERE proj_key = ?) ORDER BY qa_id",
            [*params, layout.proj_key],
        ).fetchall()
    return [r[0] for r in rows]


def place(
    db: Db,
    encoder: encoders.Encoder,
    layout: Layout,
    qa_ids: Sequence[str],
    *,
    progress: Progress | None = None,
) -> str:
    """Put QA pairs the layout lacks on it, marked placed; returns how ('transform' with the
    fitted reducer, 'neighbours' without one). Points the layout has are never moved."""
    import pandas as pd

    ids = sorted(set(qa_ids))
    if not ids:
        return "nothing"
    vectors = _embed(db, encoder, ids, progress, 0.8)
    if progress:
        progress(0.8, 1.0, f"Placing {len(ids):,} new QA pairs on the map")
    reducer = load_reducer(layout)
    if reducer is not None:
        how, coords = "transform", reducer.transform(vectors)
    else:
        with store.connect(db) as con:  # the fitted points whose QA pair is still here
            base = con.execute(
                "SELECT qa_id, x, y FROM projection_points JOIN qa USING (qa_id) "
                "WHERE proj_key = ? AND placed IS NULL ORDER BY qa_id",
                [layout.proj_key],
            ).df()
        base_vectors = encoders.embed_texts(_qa_texts(db, list(base["qa_id"])), encoder, db)
        coords = neighbour_place(
            vectors,
            base_vectors,
            base[["x", "y"]].to_numpy(),
            layout.config.n_neighbors,
            layout.config.metric,
        )
        how = "neighbours"
    points = pd.DataFrame({"qa_id": ids, "x": coords[:, 0], "y": coords[:, 1], "placed": how})
    with store.transaction(db) as con:
        # a re-layout that finished meanwhile took this fit away: its own points stand
        if con.execute(
            "SELECT count(*) FROM layouts WHERE proj_key = ?", [layout.proj_key]
        ).fetchall()[0][0]:
            con.register("placed_points", points.assign(proj_key=layout.proj_key))
            con.execute(
                "INSERT OR IGNORE INTO projection_points (proj_key, qa_id, x, y, placed) "
                "SELECT proj_key, qa_id, x, y, placed FROM placed_points"
            )
    return how


def placed_later(column: str = "placed") -> str:
    """An SQL predicate on projection_points.placed: put on the layout after its fit (not in
    it, as the rest of a fit on a sample is)."""
    return f"coalesce({column} <> '{FIT_PLACED}', FALSE)"


def points_of(db: Db, layout: Layout, qa_ids: Sequence[str] | None = None):
    """DataFrame(qa_id, x, y, placed: put on the layout after its fit) of the layout (of these
    QA ids), in qa_id order."""
    import pandas as pd

    sql = (
        f"SELECT qa_id, x, y, {placed_later()} AS placed FROM projection_points WHERE proj_key = ?"
    )
    with store.connect(db) as con:
        if qa_ids is None:
            return con.execute(sql + " ORDER BY qa_id", [layout.proj_key]).df()
        con.register("wanted", pd.DataFrame({"qa_id": list(qa_ids)}))
        return con.execute(
            sql + " AND qa_id IN (SELECT qa_id FROM wanted) ORDER BY qa_id", [layout.proj_key]
        ).df()


def project(
    db: Db,
    encoder: encoders.Encoder,
    qa_ids: Sequence[str],
    config: ProjectionConfig | None = None,
    *,
    quality: QualityFilter | None = None,
    progress: Progress | None = None,
    projectors: dict[str, Projector] | None = None,
):
    """DataFrame(qa_id, x, y) for those of these QA pairs that `quality` lets through: their
    points on the layout of (encoder, settings, filter). Without a layout one is fitted on
    every QA pair in the database that the filter lets through; QA pairs the layout lacks are
    placed on it. Only embedding touches the encoder's model.
    """
    config = config or ProjectionConfig()
    ids = sorted(set(qa_ids))
    if not ids:
        raise UserError("no QA pairs selected: choose at least one model and one language")
    _qa_texts(db, ids)  # refuses an unknown id before anything is written
    kept = passing(db, ids, quality or QualityFilter())
    if not kept:
        raise UserError(
            f"all {len(ids):,} selected QA pairs are flagged by the quality checks: include "
            "flagged QA pairs to map them"
        )
    ids = kept
    layout = ensure(db, encoder, config, quality=quality, progress=progress, projectors=projectors)
    points = points_of(db, layout, ids)
    if len(points) < len(ids):
        place(db, encoder, layout, sorted(set(ids) - set(points["qa_id"])), progress=progress)
        points = points_of(db, layout, ids)
    if progress:
        progress(1.0, 1.0, "Map ready")
    return points[["qa_id", "x", "y"]]
