"""Distances between languages, models or identities on the value embeddings.

Metrics: `cosine` (1 - cosine of the two centroids: cheap, sees only the mean), `energy`
(energy distance: zero only for equal distributions) and `mmd` (maximum mean discrepancy with
an RBF kernel, one median-heuristic bandwidth for the whole matrix so its cells compare).
Vectors are L2-normalised first, as the encoders are trained for cosine similarity. Groups are
subsampled to `max_per_group` rows (seeded) so a matrix stays quick on two cores.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from univar.catalog import registry
from univar.errors import UserError
from univar.paths import Db
from univar.quality.filter import QualityFilter

if TYPE_CHECKING:
    import pandas as pd

METRICS = {
    "cosine": "centroid cosine distance",
    "energy": "energy distance",
    "mmd": "MMD (RBF kernel)",
}
GROUPINGS = ("language", "model", "identity")


def _normalise(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def _mean_dist(a: np.ndarray, b: np.ndarray) -> float:
    from scipy.spatial.distance import cdist

    return float(cdist(a, b).mean())


def energy_distance(x: np.ndarray, y: np.ndarray) -> float:
    """2 E|X-Y| - E|X-X'| - E|Y-Y'| (V-statistic: never negative)."""
    return max(0.0, 2 * _mean_dist(x, y) - _mean_dist(x, x) - _mean_dist(y, y))


def mmd(x: np.ndarray, y: np.ndarray, gamma: float) -> float:
    """sqrt of the biased MMD^2 with kernel exp(-gamma |a-b|^2)."""
    from scipy.spatial.distance import cdist

    def k(a, b):
        return np.exp(-gamma * cdist(a, b, "sqeuclidean")).mean()

    return float(np.sqrt(max(0.0, k(x, x) + k(y, y) - 2 * k(x, y))))


def median_gamma(x: np.ndarray, max_rows: int = 1000, seed: int = 0) -> float:
    from scipy.spatial.distance import pdist

    rng = np.random.default_rng(seed)
    if len(x) > max_rows:
        x = x[rng.choice(len(x), max_rows, replace=False)]
    d2 = pdist(x, "sqeuclidean")
    med = float(np.median(d2[d2 > 0])) if (d2 > 0).any() else 1.0
    return 1.0 / med


def group_matrix(
    frame: pd.DataFrame,
    vectors: np.ndarray,
    by: str = "language",
    metric: str = "cosine",
    *,
    max_per_group: int = 300,
    seed: int = 0,
) -> pd.DataFrame:
    """Square, symmetric distance matrix between the groups of `frame[by]` (labels sorted)."""
    import pandas as pd

    if by not in GROUPINGS:
        raise UserError(f"group by must be one of {', '.join(GROUPINGS)}, got {by!r}")
    if metric not in METRICS:
        raise UserError(f"metric must be one of {', '.join(METRICS)}, got {metric!r}")
    if len(frame) != len(vectors):
        raise UserError(f"{len(frame)} rows but {len(vectors)} vectors")
    rng = np.random.default_rng(seed)
    x = _normalise(vectors) if len(vectors) else np.zeros((0, 1))
    groups = {}
    for label, idx in frame.groupby(by, sort=True).indices.items():
        if len(idx) > max_per_group:
            idx = np.sort(rng.choice(idx, max_per_group, replace=False))
        groups[str(label)] = x[idx]
    if len(groups) < 2:
        raise UserError(f"distances need QA pairs of at least two {by}s; found {len(groups)}")
    labels = list(groups)
    out = np.zeros((len(labels), len(labels)))
    if metric == "mmd":
        gamma = median_gamma(np.concatenate(list(groups.values())), seed=seed)
    if metric == "cosine":
        c = _normalise(np.stack([g.mean(axis=0) for g in groups.values()]))
        out = np.clip(1.0 - c @ c.T, 0.0, 2.0)
    else:
        if metric == "energy":  # each group's own spread, once
            spread = {a: _mean_dist(g, g) for a, g in groups.items()}
        for i, a in enumerate(labels):
            for j in range(i + 1, len(labels)):
                b = labels[j]
                if metric == "energy":
                    d = 2 * _mean_dist(groups[a], groups[b]) - spread[a] - spread[b]
                else:
                    d = mmd(groups[a], groups[b], gamma)
                out[i, j] = out[j, i] = max(0.0, d)
    np.fill_diagonal(out, 0.0)
    return pd.DataFrame(out, index=labels, columns=labels)


# --- clustering ------------------------------------------------------------------------------


def _linkage(matrix: pd.DataFrame, method: str = "average"):
    from scipy.cluster.hierarchy import linkage
    from scipy.spatial.distance import squareform

    d = squareform(np.asarray(matrix, dtype=float), checks=False)
    return linkage(d, method=method, optimal_ordering=len(matrix) > 2)


def cluster_order(matrix: pd.DataFrame, method: str = "average") -> list[str]:
    """Labels in the leaf order of average-linkage clustering: similar groups side by side."""
    from scipy.cluster.hierarchy import leaves_list

    if len(matrix) < 3:
        return list(matrix.index)
    return [matrix.index[i] for i in leaves_list(_linkage(matrix, method))]


def dendrogram(matrix: pd.DataFrame, method: str = "average", support=None) -> pd.DataFrame:
    """The dendrogram as line segments: link, x, y (four points per link, scipy's layout:
    leaf i at x = 5 + 10 i, y = merge height), plus the leaves as rows with link = -1.
    With `support` (sorted labels of a cluster -> share of bootstrap resamples that have it,
    from `uncertainty`), a column `support` gives each link's share (NaN where unknown)."""
    import pandas as pd
    from scipy.cluster.hierarchy import dendrogram as scipy_dendrogram

    z = _linkage(matrix, method)
    tree = scipy_dendrogram(z, no_plot=True, labels=list(matrix.index))
    rows = [
        (k, x, y)
        for k, (xs, ys) in enumerate(zip(tree["icoord"], tree["dcoord"], strict=True))
        for x, y in zip(xs, ys, strict=True)
    ]
    segs = pd.DataFrame(rows, columns=["link", "x", "y"]).assign(label=None)
    leaves = pd.DataFrame(
        {"link": -1, "x": 5.0 + 10.0 * np.arange(len(tree["ivl"])), "y": 0.0, "label": tree["ivl"]}
    )
    if support is not None:
        members = _link_members(z, list(matrix.index))
        share = [support.get(members[k], np.nan) for k in range(len(members))]
        segs["support"] = [share[k] for k in segs["link"]]
        leaves["support"] = np.nan
    return pd.concat([segs, leaves], ignore_index=True)


def _link_members(z: np.ndarray, labels: list[str]) -> list[tuple[str, ...]]:
    """The sorted leaf labels under each of scipy's dendrogram links, in its link order: it
    draws a link after both of its children (post-order from the root, left child first)."""
    n = len(labels)
    below: list[list[int]] = [[k] for k in range(n)]
    for a, b in z[:, :2].astype(int):
        below.append(below[a] + below[b])
    order: list[int] = []
    stack = [(2 * n - 2, False)]
    while stack:
        node, children_done = stack.pop()
        if node < n:
            continue
        if children_done:
            order.append(node)
            continue
        left, right = (int(c) for c in z[node - n, :2])
        stack += [(node, True), (right, False), (left, False)]
    return [tuple(sorted(labels[k] for k in below[node])) for node in order]


# --- near and far pairs ----------------------------------------------------------------------


def near_far_pairs(frame, vectors, identity_a: str, identity_b: str, k: int = 5) -> pd.DataFrame:
    """The k nearest and k farthest pairs (one QA of each identity, same question), by cosine
    distance: kind, question, answer_a, answer_b (English), their originals and distance."""
    import pandas as pd

    key = frame["question_id"].fillna(frame["question_en"])
    x = _normalise(vectors)
    pos = pd.Series(np.arange(len(frame)), index=frame.index)
    a = frame[frame["identity"] == identity_a].assign(key=key, i=pos)
    b = frame[frame["identity"] == identity_b].assign(key=key, i=pos)
    pairs = a.merge(b, on="key", suffixes=("_a", "_b"))
    if identity_a == identity_b or pairs.empty:
        raise UserError(
            f"{identity_a} and {identity_b} share no question: pick two identities that "
            "answered the same questions"
        )
    pairs["distance"] = 1.0 - np.einsum("ij,ij->i", x[pairs["i_a"]], x[pairs["i_b"]])
    pairs = pairs.sort_values("distance", kind="stable")
    near = pairs.head(k).assign(kind="near")
    far = pairs.iloc[::-1].head(k).assign(kind="far")
    out = pd.concat([near, far], ignore_index=True).rename(
        columns={
            "question_en_a": "question",
            "answer_en_a": "answer_a",
            "answer_en_b": "answer_b",
            "answer_a": "original_a",
            "answer_b": "original_b",
        }
    )
    return out[["kind", "question", "answer_a", "answer_b", "original_a", "original_b", "distance"]]


# --- Inglehart-Welzel ------------------------------------------------------------------------


@dataclass(frozen=True)
class IWResult:
    pearson: float
    spearman: float
    p_value: float  # Mantel permutation test of the Pearson r
    n_languages: int
    pairs: pd.DataFrame  # language_a, language_b, value_distance, iw_distance


def read_iw_coordinates(source) -> pd.DataFrame:
    """language (ISO 639-3), x, y from a CSV path, bytes or file: one row per language."""
    import pandas as pd

    if isinstance(source, bytes):
        source = io.BytesIO(source)
    elif isinstance(source, str | Path) and not Path(source).is_file():
        raise UserError(f"coordinates file {source} does not exist")
    try:
        df = pd.read_csv(source)
    except (ValueError, UnicodeDecodeError) as exc:
        raise UserError(f"coordinates are not a readable CSV: {exc}") from None
    df.columns = [str(c).strip().lower() for c in df.columns]
    if not {"language", "x", "y"} <= set(df.columns):
        raise UserError(f"coordinates need columns language, x, y; found {', '.join(df.columns)}")
    df = df[["language", "x", "y"]].copy()
    df["language"] = [registry.language(str(c)).code for c in df["language"]]
    for c in ("x", "y"):
        df[c] = pd.to_numeric(df[c], errors="coerce")
    if df[["x", "y"]].isna().any().any():
        raise UserError("coordinates x and y must be numbers on every row")
    if df["language"].duplicated().any():
        dup = df["language"][df["language"].duplicated()].iloc[0]
        raise UserError(f"language {dup!r} appears twice in the coordinates")
    return df.reset_index(drop=True)


def iw_correlation(
    matrix: pd.DataFrame, coords: pd.DataFrame, permutations: int = 999, seed: int = 0
) -> IWResult:
    """Correlation of value-map distances between languages with their distances on the
    Inglehart-Welzel map (Euclidean on the user's x, y)."""
    import pandas as pd
    from scipy.spatial.distance import pdist, squareform
    from scipy.stats import spearmanr

    langs = [lang for lang in matrix.index if lang in set(coords["language"])]
    if len(langs) < 3:
        raise UserError(
            f"need coordinates for at least 3 languages of the matrix; matched {len(langs)}"
        )
    xy = coords.set_index("language").loc[langs, ["x", "y"]].to_numpy(float)
    iw = squareform(pdist(xy))
    vm = matrix.loc[langs, langs].to_numpy(float)
    iu = np.triu_indices(len(langs), 1)
    r = float(np.corrcoef(vm[iu], iw[iu])[0, 1])
    rho = float(spearmanr(vm[iu], iw[iu])[0])
    rng = np.random.default_rng(seed)
    hits = 0
    for _ in range(permutations):  # Mantel: permute the languages of one matrix
        p = rng.permutation(len(langs))
        hits += np.corrcoef(vm[iu], iw[np.ix_(p, p)][iu])[0, 1] >= r
    pairs = pd.DataFrame(
        {
            "language_a": [langs[i] for i in iu[0]],
            "language_b": [langs[j] for j in iu[1]],
            "value_distance": vm[iu],
            "iw_distance": iw[iu],
        }
    )
    return IWResult(r, rho, (hits + 1) / (permutations + 1), len(langs), pairs)


def most_shared_pair(frame: pd.DataFrame) -> tuple[str, str] | None:
    """The two identities that answered the most questions in common (the first such pair in
    sorted order), or None when no two share a question: the pair worth comparing first."""
    import pandas as pd

    key = frame["question_id"].fillna(frame["question_en"])
    seen = pd.crosstab(frame["identity"], key).clip(upper=1).sort_index()
    shared = seen.to_numpy() @ seen.to_numpy().T
    np.fill_diagonal(shared, 0)
    if shared.size == 0 or shared.max() == 0:
        return None
    i, j = np.unravel_index(int(np.argmax(shared)), shared.shape)
    return seen.index[i], seen.index[j]


def question_key(frame: pd.DataFrame) -> pd.Series:
    """What makes two QA pairs answers to the same question: its id, else its English text,
    else the text as asked (an upload without ids or translations)."""
    key = frame["question_id"].fillna(frame["question_en"])
    return key.fillna(frame["question"]) if "question" in frame else key


def shared_questions(frame: pd.DataFrame, identity_a: str, identity_b: str) -> int:
    """How many questions both identities answered: what their near and far pairs rest on."""
    key = question_key(frame)
    a = set(key[frame["identity"] == identity_a].dropna())
    return len(a & set(key[frame["identity"] == identity_b].dropna()))


def identities(frame: pd.DataFrame) -> list[str]:
    """model$language identities of a frame, sorted."""
    return sorted(frame["identity"].dropna().unique().tolist())


# --- from the store --------------------------------------------------------------------------


def load(db: Db = None, encoder=None, datasets=None, quality: QualityFilter | None = None):
    """(frame, vectors) of every QA (of some datasets) that `quality` lets through (by default
    those no quality check flagged), through the embedding cache."""
    from univar import encoders

    frame = (quality or QualityFilter()).keep(db, encoders.qa_frame(db, datasets))
    encoder = encoder or encoders.load_encoder()
    return frame, encoders.embed_texts(list(frame["text"]), encoder, db)
