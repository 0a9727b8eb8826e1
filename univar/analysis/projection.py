"""2-D maps of QA embeddings: UMAP or PCA behind one small interface, cached in DuckDB.

A map is keyed by hash(encoder id, the sorted QA ids, the projection settings), so a rerun with
the same inputs reads `projection_points` and never recomputes. Points are projected in qa_id
order, so the same selection gives the same map whatever order it was asked in.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from univar import encoders, store
from univar.config import check, stable_hash
from univar.errors import UserError
from univar.paths import Db
from univar.progress import Progress

ALGORITHM_VERSION = 1  # bump when a projector changes its output for the same settings
METHODS = ("umap", "pca")
METRICS = ("cosine", "euclidean", "manhattan", "correlation")


@dataclass(frozen=True)
class ProjectionConfig:
    """How embeddings become a 2-D map. Every field changes the picture, so all are hashed."""

    method: str = "umap"  # umap | pca
    n_neighbors: int = 15
    min_dist: float = 0.1
    metric: str = "cosine"
    seed: int = 42

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

    def key(self) -> str:
        return stable_hash(self)


class Projector(Protocol):
    def fit_transform(self, vectors: np.ndarray, config: ProjectionConfig) -> np.ndarray:
        """(n, d) float32 -> (n, 2) float64."""


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

    def fit_transform(self, vectors: np.ndarray, config: ProjectionConfig) -> np.ndarray:
        tiny = _tiny(vectors)
        if tiny is not None:
            return tiny
        from sklearn.decomposition import PCA

        return PCA(n_components=2, random_state=config.seed).fit_transform(vectors)


class UMAPProjector:
    """umap-learn with the configured neighbours, distance, metric and seed."""

    def fit_transform(self, vectors: np.ndarray, config: ProjectionConfig) -> np.ndarray:
        tiny = _tiny(vectors)
        if tiny is not None:
            return tiny
        n = len(vectors)
        if n < 8:  # UMAP's spectral start needs more points than this; PCA says the same
            return PCAProjector().fit_transform(vectors, config)
        import umap

        reducer = umap.UMAP(
            n_components=2,
            n_neighbors=min(config.n_neighbors, n - 1),
            min_dist=config.min_dist,
            metric=config.metric,
            random_state=config.seed,
            n_jobs=1,  # random_state forces one thread anyway; saying so silences a warning
        )
        return np.asarray(reducer.fit_transform(vectors), dtype=np.float64)


PROJECTORS: dict[str, Projector] = {"umap": UMAPProjector(), "pca": PCAProjector()}


def selection_hash(qa_ids: Sequence[str]) -> str:
    h = hashlib.sha256()
    for qa_id in sorted(set(qa_ids)):
        h.update(qa_id.encode("utf-8") + b"\n")
    return h.hexdigest()[:32]


def projection_key(encoder_id: str, qa_ids: Sequence[str], config: ProjectionConfig) -> str:
    return stable_hash(
        {
            "encoder": encoder_id,
            "selection": selection_hash(qa_ids),
            "config": config.key(),
            "algorithm": ALGORITHM_VERSION,
        },
        24,
    )


def cached(db: Db, encoder_id: str, qa_ids: Sequence[str], config: ProjectionConfig):
    """The stored map for exactly these inputs, as DataFrame(qa_id, x, y), or None."""
    key = projection_key(encoder_id, qa_ids, config)
    with store.connect(db) as con:
        df = con.execute("SELECT qa_id, x, y FROM projection_points WHERE proj_key = ?", [key]).df()
    return df if len(df) == len(set(qa_ids)) and len(df) else None


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


def save(db: Db, key: str, encoder_id: str, config: ProjectionConfig, points, seconds: float):
    """Store one map, all or nothing."""
    params = {**dataclasses.asdict(config), "algorithm": ALGORITHM_VERSION}
    with store.transaction(db) as con:
        con.execute("DELETE FROM projection_points WHERE proj_key = ?", [key])
        con.execute(
            "INSERT OR REPLACE INTO projections (proj_key, encoder_id, params, n_points, seconds) "
            "VALUES (?, ?, ?, ?, ?)",
            [key, encoder_id, json.dumps(params), len(points), seconds],
        )
        con.register("new_points", points.assign(proj_key=key))
        con.execute(
            "INSERT INTO projection_points (proj_key, qa_id, x, y) "
            "SELECT proj_key, qa_id, x, y FROM new_points"
        )


def project(
    db: Db,
    encoder: encoders.Encoder,
    qa_ids: Sequence[str],
    config: ProjectionConfig | None = None,
    *,
    progress: Progress | None = None,
    projectors: dict[str, Projector] | None = None,
):
    """DataFrame(qa_id, x, y) for these QA pairs: from the cache, or embedded and projected.

    Only a cache miss touches the encoder's model (embedding what is not cached yet).
    `progress` gets a fraction of 1.0 with what is happening; embedding takes the first 0.8.
    """
    import pandas as pd

    config = config or ProjectionConfig()
    ids = sorted(set(qa_ids))
    if not ids:
        raise UserError("no QA pairs selected: choose at least one model and one language")
    hit = cached(db, encoder.id, ids, config)
    if hit is not None:
        return hit
    texts = _qa_texts(db, ids)

    def embed_progress(done: float, total: float, message: str = "") -> None:
        if progress:
            progress(
                0.8 * done / max(total, 1), 1.0, f"Embedding {done:,} of {total:,} new QA pairs"
            )

    vectors = encoders.embed_texts(texts, encoder, db, progress=embed_progress)
    if progress:
        progress(0.8, 1.0, f"Projecting {len(ids):,} points with {config.method.upper()}")
    started = time.perf_counter()
    coords = (projectors or PROJECTORS)[config.method].fit_transform(vectors, config)
    seconds = time.perf_counter() - started
    points = pd.DataFrame({"qa_id": ids, "x": coords[:, 0], "y": coords[:, 1]})
    save(db, projection_key(encoder.id, ids, config), encoder.id, config, points, seconds)
    if progress:
        progress(1.0, 1.0, "Map ready")
    return points
