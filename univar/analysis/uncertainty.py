"""How sure Compare's distances are: for every pair of groups a 95% bootstrap interval of the
distance, a permutation p-value for "these two differ", and the bootstrap support of each
dendrogram merge. Cached in the store per encoder, QA selection, grouping, metric and settings.

The unit of resampling is the question, not the QA pair: answers to one question are alike
whoever gives them, so rows are not independent. A bootstrap resample draws question ids with
replacement and keeps every QA of every group on them (one draw for the whole matrix, so its
dendrogram can be clustered again). The permutation test shuffles the group labels WITHIN each
question, so the question mix of both groups is held fixed and a difference in what they were
asked is never read as a difference in how they answer; a pair that shares no question has
nothing to shuffle and gets no p-value.

Every distance compares answers to different questions only (a U-statistic over questions,
see `compute_table`): two answers to one question share its pull, which would read as
closeness. Both are computed from per-cell (group, question) aggregates: vector sums for the
centroid cosine, and for energy distance and MMD the row-by-row kernel, computed once and
summed per cell pair, so a resample costs one weighted quadratic form per pair of groups; the
permutations of a pair index its pooled kernel once per batch of label vectors.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from univar import store
from univar.analysis import distances
from univar.config import check, stable_hash
from univar.errors import UserError
from univar.paths import Db

if TYPE_CHECKING:
    import pandas as pd

CONFIDENCE = 0.95  # of the bootstrap interval
ALPHA = 0.05  # a pair with p >= ALPHA (or none) is marked as not distinguishable
MIN_RESAMPLES = 200  # fewer leave the 2.5% tails resting on a handful of resamples
# bumped when the computation changes, so tables cached by an older univar are not reused
TABLE_VERSION = 1
_PERM_CHUNK = 256  # permutations per matrix product: bounds memory on large pairs


@dataclass(frozen=True)
class UncertaintyConfig:
    resamples: int = 200  # bootstrap resamples of the questions
    permutations: int = 999  # label shuffles per pair: p can reach 1 / (permutations + 1)
    seed: int = 0
    max_rows: int = 4000  # QA pairs the table rests on at most (whole questions, seeded)

    def __post_init__(self):
        check(
            self.resamples >= MIN_RESAMPLES,
            f"resamples must be at least {MIN_RESAMPLES}, got {self.resamples}",
        )
        check(self.permutations >= 99, f"permutations must be at least 99, got {self.permutations}")
        check(self.max_rows >= 100, f"max_rows must be at least 100, got {self.max_rows}")


@dataclass(frozen=True)
class DistanceTable:
    """One row per pair of groups: a, b (a < b), distance, ci_low, ci_high, p_value (NaN where
    the two share no question), shared_questions; and the support of the dendrogram's clusters
    (sorted labels -> share of usable resamples in which that cluster appears)."""

    by: str
    metric: str
    labels: list[str]
    pairs: pd.DataFrame
    support: dict[tuple[str, ...], float] = field(default_factory=dict)
    left_out: list[str] = field(default_factory=list)  # answers to fewer than two questions
    n_questions: int = 0
    n_qa: int = 0
    resamples: int = 0
    valid_resamples: int = 0  # resamples in which every distance is defined
    permutations: int = 0
    seed: int = 0

    def matrix(self) -> pd.DataFrame:
        """The point estimates as a square, symmetric data frame (labels sorted)."""
        import pandas as pd

        out = pd.DataFrame(0.0, index=self.labels, columns=self.labels)
        for a, b, d in zip(self.pairs["a"], self.pairs["b"], self.pairs["distance"], strict=True):
            out.loc[a, b] = out.loc[b, a] = d
        return out

    def export_frame(self) -> pd.DataFrame:
        """The long table of the CSV export: `<by>_a`, `<by>_b`, distance, ci_low, ci_high,
        p_value, shared_questions."""
        return self.pairs.rename(columns={"a": f"{self.by}_a", "b": f"{self.by}_b"})


PAIR_COLUMNS = ["a", "b", "distance", "ci_low", "ci_high", "p_value", "shared_questions"]


# --- the computation ---------------------------------------------------------------------------


@dataclass
class _Cells:
    """Rows sorted by (group, question); a cell is one group's rows on one question."""

    labels: list[str]
    left_out: list[str]  # groups with answers to fewer than two questions
    x: np.ndarray  # rows x dim, L2-normalised
    row_q: np.ndarray  # question of each row (0 .. n_questions-1)
    row_g: np.ndarray
    starts: np.ndarray  # first row of each cell
    cell_g: np.ndarray
    cell_q: np.ndarray
    cell_n: np.ndarray  # rows per cell
    group_rows: list[slice]
    group_cells: list[slice]
    n_questions: int


def _choose_questions(q: np.ndarray, g: np.ndarray, n_q: int, max_rows: int, rng) -> np.ndarray:
    """Question ids to keep: all, or a seeded random set of whole questions whose rows fit in
    max_rows, holding two questions of every group that has two, so that none drops out."""
    counts = np.bincount(q, minlength=n_q)
    if counts.sum() <= max_rows:
        return np.arange(n_q)
    order = rng.permutation(n_q)
    rank = np.empty(n_q, dtype=np.int64)
    rank[order] = np.arange(n_q)
    front: set[int] = set()
    for k in np.unique(g):
        mine = np.unique(q[g == k])
        front.update(int(i) for i in mine[np.argsort(rank[mine])[:2]])
    first = np.asarray(sorted(front, key=lambda i: rank[i]), dtype=np.int64)
    order = np.concatenate([first, order[~np.isin(order, first)]])
    take = max(len(first), int(np.searchsorted(np.cumsum(counts[order]), max_rows, "right")))
    return np.sort(order[:take])


def _cells(frame, vectors, by: str, max_rows: int, seed: int) -> _Cells:
    import pandas as pd

    if by not in distances.GROUPINGS:
        raise UserError(f"group by must be one of {', '.join(distances.GROUPINGS)}, got {by!r}")
    if len(frame) != len(vectors):
        raise UserError(f"{len(frame)} rows but {len(vectors)} vectors")
    label = frame[by].reset_index(drop=True)
    key = distances.question_key(frame).reset_index(drop=True)
    keep = (label.notna() & key.notna()).to_numpy()
    everyone = sorted(label[keep].astype(str).unique())
    g = pd.Categorical(label[keep].astype(str), categories=everyone).codes.astype(np.int64)
    q = np.asarray(pd.factorize(key[keep].astype(str))[0], dtype=np.int64)
    x = distances._normalise(np.asarray(vectors)[keep]) if keep.any() else np.zeros((0, 1))
    n_q = int(q.max()) + 1 if len(q) else 0
    chosen = _choose_questions(q, g, n_q, max_rows, np.random.default_rng([seed, 0]))
    rows = np.isin(q, chosen)
    recode = np.full(n_q, -1, dtype=np.int64)
    recode[chosen] = np.arange(len(chosen))
    g, q, x = g[rows], recode[q[rows]], x[rows]
    # a group needs answers to two questions: its answers are compared across questions only
    asked = np.bincount(np.unique(g * max(len(chosen), 1) + q) // max(len(chosen), 1))
    asked = np.r_[asked, np.zeros(len(everyone) - len(asked), dtype=np.int64)]
    labels = [lab for k, lab in enumerate(everyone) if asked[k] >= 2]
    left_out = [lab for k, lab in enumerate(everyone) if asked[k] < 2]
    if len(labels) < 2:
        raise UserError(
            f"distances need at least two {by}s with answers to two or more questions; "
            f"found {len(labels)}"
        )
    rows = asked[g] >= 2
    g = np.searchsorted(np.flatnonzero(asked >= 2), g[rows])
    q, x = q[rows], x[rows]
    order = np.lexsort((q, g))
    g, q, x = g[order], q[order], x[order]
    cell = g * len(chosen) + q
    starts = np.flatnonzero(np.r_[True, cell[1:] != cell[:-1]])
    cell_g, cell_q = g[starts], q[starts]
    cell_n = np.diff(np.r_[starts, len(g)])
    n_g = len(labels)
    row_bounds = np.searchsorted(g, np.arange(n_g + 1))
    cell_bounds = np.searchsorted(cell_g, np.arange(n_g + 1))
    return _Cells(
        labels=labels,
        left_out=left_out,
        x=x,
        row_q=q,
        row_g=g,
        starts=starts,
        cell_g=cell_g,
        cell_q=cell_q,
        cell_n=cell_n,
        group_rows=[slice(int(row_bounds[k]), int(row_bounds[k + 1])) for k in range(n_g)],
        group_cells=[slice(int(cell_bounds[k]), int(cell_bounds[k + 1])) for k in range(n_g)],
        n_questions=len(chosen),
    )


def _pair_kernel(xa: np.ndarray, xb: np.ndarray, metric: str, gamma: float) -> np.ndarray:
    """What a pair of unit vectors adds up to: their dot product (cosine), their Euclidean
    distance (energy) or an RBF kernel value (MMD)."""
    dot = xa @ xb.T
    if metric == "cosine":
        return dot
    sq = np.clip(2.0 - 2.0 * dot, 0.0, None)
    return np.sqrt(sq) if metric == "energy" else np.exp(-gamma * sq)


def _distance(metric: str, m_aa, m_bb, m_ab):
    """The distance from the mean pair values within a, within b and across (any shape)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        if metric == "energy":
            return 2 * m_ab - m_aa - m_bb
        if metric == "mmd":  # MMD^2; its square root is taken for display only
            return m_aa + m_bb - 2 * m_ab
        norm = np.sqrt(np.where((m_aa > 0) & (m_bb > 0), m_aa * m_bb, np.nan))
        return 1.0 - m_ab / norm


def _own_norm(across, with_same):
    """A group's squared centroid norm for the cosine: estimated from answers to different
    questions, except where that comes out at or below zero (answers with no common direction,
    whose centroid is noise): then from all pairs, as the plain centroid does, so the cosine
    stays defined."""
    with np.errstate(invalid="ignore"):
        return np.where(np.isnan(across) | (across > 0), across, with_same)


def _shown(metric: str, d):
    """A U-statistic can fall below zero where the true distance is about zero: shown as 0."""
    d = np.clip(d, 0.0, 2.0 if metric == "cosine" else None)
    return np.sqrt(d) if metric == "mmd" else d


def _bootstrap_weights(n_questions: int, resamples: int, seed: int) -> np.ndarray:
    """(resamples + 1) x n_questions: how often each question is drawn; row 0 is the data."""
    rng = np.random.default_rng([seed, 1])
    draws = rng.integers(0, n_questions, size=(resamples, n_questions))
    flat = (np.arange(resamples)[:, None] * n_questions + draws).ravel()
    counts = np.bincount(flat, minlength=resamples * n_questions).reshape(resamples, -1)
    return np.vstack([np.ones(n_questions), counts]).astype(np.float64)


def _cell_sums(c: _Cells, metric: str, gamma: float, sums=None) -> np.ndarray:
    """cells x cells: the pair values summed over the rows of two cells, zero for two cells
    on one question (never compared). One group's rows against all rows at a time."""
    if metric == "cosine":
        agg = sums @ sums.T
    else:
        agg = np.empty((len(c.starts), len(c.starts)))
        for rows, cells in zip(c.group_rows, c.group_cells, strict=True):
            block = np.add.reduceat(_pair_kernel(c.x[rows], c.x, metric, gamma), c.starts, axis=1)
            agg[cells] = np.add.reduceat(block, c.starts[cells] - rows.start, axis=0)
    agg[c.cell_q[:, None] == c.cell_q[None, :]] = 0.0
    return agg


def _resampled_matrices(c: _Cells, metric: str, weights: np.ndarray, gamma: float) -> np.ndarray:
    """(resamples + 1) x groups x groups distances before `_shown`; NaN where a resample left
    a group no two questions to compare."""
    n_g = len(c.labels)
    sums = np.add.reduceat(c.x, c.starts, axis=0) if metric == "cosine" else None
    agg = _cell_sums(c, metric, gamma, sums)
    cw = weights[:, c.cell_q]  # each cell's weight in each resample
    member = np.zeros((len(c.cell_g), n_g))
    member[np.arange(len(c.cell_g)), c.cell_g] = 1.0
    counts = np.zeros((n_g, c.n_questions))  # rows of each group on each question
    counts[c.cell_g, c.cell_q] = c.cell_n
    mass = weights @ counts.T  # resamples x groups: weighted rows
    total = np.empty((len(weights), n_g, n_g))
    same = np.empty((len(weights), n_g, n_g))  # weighted row pairs on one question
    for k, cells in enumerate(c.group_cells):
        total[:, k] = ((cw[:, cells] @ agg[cells]) * cw) @ member
        same[:, k] = (cw[:, cells] ** 2 * c.cell_n[cells]) @ counts[:, c.cell_q[cells]].T
    pairs = mass[:, :, None] * mass[:, None, :] - same
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(pairs > 0, total / np.where(pairs > 0, pairs, 1.0), np.nan)
    own = np.diagonal(mean, axis1=1, axis2=2).copy()
    if metric == "cosine":  # the same-question pairs within a group, each cell with itself
        squares = (sums**2).sum(axis=1)
        alone = np.stack([cw[:, cells] ** 2 @ squares[cells] for cells in c.group_cells], axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            own = _own_norm(own, (np.diagonal(total, axis1=1, axis2=2) + alone) / mass**2)
    out = _distance(metric, own[:, :, None], own[:, None, :], mean)
    idx = np.arange(n_g)
    out[:, idx, idx] = 0.0
    return out


def _pair_seed(seed: int, a: str, b: str) -> int:
    """A pair's own stream: its p-value does not depend on which other groups are in the table."""
    return int(stable_hash(["perm", seed, a, b]), 16)


def _permutation_p(c: _Cells, i: int, j: int, metric: str, gamma: float, permutations: int, seed):
    """(p, shared questions) for groups i and j: the share of within-question label shuffles
    whose distance is at least the observed one, counting the observed labelling itself."""
    rows = np.flatnonzero((c.row_g == i) | (c.row_g == j))
    q = c.row_q[rows]
    order = np.argsort(q, kind="stable")
    rows, q = rows[order], q[order]
    is_a = (c.row_g[rows] == i).astype(np.float64)
    shared = len(np.intersect1d(q[is_a == 1], q[is_a == 0]))
    if shared == 0:
        return float("nan"), 0
    starts = np.flatnonzero(np.r_[True, q[1:] != q[:-1]])
    size = np.diff(np.r_[starts, len(q)])
    n_aq = np.add.reduceat(is_a, starts)
    n_bq = size - n_aq
    n_a, n_b = n_aq.sum(), n_bq.sum()
    # pair counts across questions: fixed, since a shuffle keeps each question's counts
    n_aa, n_bb = n_a**2 - (n_aq**2).sum(), n_b**2 - (n_bq**2).sum()
    n_ab = n_a * n_b - (n_aq * n_bq).sum()
    from scipy import sparse

    pool = c.x[rows]
    kernel = _pair_kernel(pool, pool, metric, gamma)
    # the pairs on one question are never compared: few, so kept apart (sparse) and subtracted
    alone = sparse.csr_matrix(np.where(q[:, None] == q[None, :], kernel, 0.0))
    alone_rows, alone_all = np.asarray(alone.sum(axis=1)).ravel(), alone.sum()
    # a cosine's quadratic form is |labels @ vectors|^2: cheaper than the kernel when dim < rows
    by_vectors = metric == "cosine" and pool.shape[1] < len(rows)
    if by_vectors:
        kernel = None
        everything = pool.sum(axis=0)
        full_rows, full_all = pool @ everything, everything @ everything
    else:
        full_rows, full_all = kernel.sum(axis=1), kernel.sum()
    row_sums, grand = full_rows - alone_rows, full_all - alone_all

    def statistic(lab: np.ndarray) -> np.ndarray:
        t_aa = np.einsum("pr,pr->p", np.asarray((alone @ lab.T).T), lab)
        if by_vectors:
            sums = lab @ pool
            full_aa = np.einsum("pd,pd->p", sums, sums)
        else:
            full_aa = np.einsum("pr,pr->p", lab @ kernel, lab)
        s_aa, s_a = full_aa - t_aa, lab @ row_sums
        s_bb = grand - 2 * s_a + s_aa
        m_aa, m_bb = s_aa / n_aa, s_bb / n_bb
        if metric == "cosine":
            t_bb = alone_all - 2 * lab @ alone_rows + t_aa
            m_aa = _own_norm(m_aa, full_aa / n_a**2)
            m_bb = _own_norm(m_bb, (s_bb + t_bb) / n_b**2)
        return _distance(metric, m_aa, m_bb, (s_a - s_aa) / n_ab)

    observed = statistic(is_a[None, :])[0]
    if not np.isfinite(observed):
        return float("nan"), shared
    tol = 1e-9 * max(1.0, abs(observed))  # a shuffle that changes nothing must count as a tie
    # group a takes the first n_aq places of each question's block in a random order of it
    a_slot = ((np.arange(len(q)) - np.repeat(starts, size)) < np.repeat(n_aq, size)).astype(float)
    rng = np.random.default_rng(_pair_seed(seed, c.labels[i], c.labels[j]))
    hits = 0
    for done in range(0, permutations, _PERM_CHUNK):
        n = min(_PERM_CHUNK, permutations - done)
        perm = np.argsort(q[None, :] + rng.random((n, len(q))), axis=1)
        lab = np.empty((n, len(q)))
        np.put_along_axis(lab, perm, np.broadcast_to(a_slot, perm.shape), axis=1)
        hits += int((statistic(lab) >= observed - tol).sum())
    return (hits + 1) / (permutations + 1), shared


def _clusters(linkage_matrix: np.ndarray, labels: list[str]) -> list[tuple[str, ...]]:
    """The leaves (sorted labels) of each merge, in linkage row order."""
    n = len(labels)
    members: list[list[int]] = [[k] for k in range(n)]
    for a, b in linkage_matrix[:, :2].astype(int):
        members.append(members[a] + members[b])
    return [tuple(sorted(labels[k] for k in m)) for m in members[n:]]


def merge_support(point: np.ndarray, resampled: np.ndarray, labels: list[str], method="average"):
    """(support, usable resamples): for each cluster of the tree of `point`, the share of the
    resampled matrices whose tree (same linkage) has that exact cluster."""
    from scipy.cluster.hierarchy import linkage
    from scipy.spatial.distance import squareform

    usable = np.isfinite(resampled).all(axis=(1, 2))
    if len(labels) < 3:
        return {tuple(sorted(labels)): 1.0}, int(usable.sum())
    tree = _clusters(linkage(squareform(point, checks=False), method), labels)
    hits = dict.fromkeys(tree, 0)
    for m in resampled[usable]:
        seen = set(_clusters(linkage(squareform(m, checks=False), method), labels))
        for cluster in tree:
            hits[cluster] += cluster in seen
    n = int(usable.sum())
    return {k: (v / n if n else float("nan")) for k, v in hits.items()}, n


def compute_table(
    frame, vectors, by: str = "language", metric: str = "cosine", config=None
) -> DistanceTable:
    """The distance table of `frame[by]`'s groups with its uncertainty (no cache).

    Every distance is a U-statistic over questions: only answers to two different questions
    are compared, within a group and across. Two answers to one question share that
    question's pull, which would read as closeness in proportion to how often a question is
    drawn, and a resample draws some questions twice: the percentile interval would then
    miss the estimate it belongs to."""
    import pandas as pd

    config = config or UncertaintyConfig()
    if metric not in distances.METRICS:
        raise UserError(f"metric must be one of {', '.join(distances.METRICS)}, got {metric!r}")
    c = _cells(frame, vectors, by, config.max_rows, config.seed)
    gamma = distances.median_gamma(c.x, seed=config.seed) if metric == "mmd" else 0.0
    weights = _bootstrap_weights(c.n_questions, config.resamples, config.seed)
    raw = _resampled_matrices(c, metric, weights, gamma)
    if not np.isfinite(raw[0]).all():
        worst = c.labels[int(np.argmax(~np.isfinite(raw[0]).all(axis=1)))]
        raise UserError(
            f"the centroid of {worst} is about zero, so its cosine is undefined: "
            "use energy distance or MMD"
        )
    mats = _shown(metric, raw)
    point, boot = mats[0], mats[1:]
    tail = 100 * (1 - CONFIDENCE) / 2
    rows = []
    for i in range(len(c.labels)):
        for j in range(i + 1, len(c.labels)):
            values = boot[:, i, j][np.isfinite(boot[:, i, j])]
            low, high = np.percentile(values, [tail, 100 - tail]) if len(values) else (np.nan,) * 2
            p, shared = _permutation_p(c, i, j, metric, gamma, config.permutations, config.seed)
            rows.append((c.labels[i], c.labels[j], point[i, j], low, high, p, shared))
    support, usable = merge_support(point, boot, c.labels)
    pairs = pd.DataFrame(rows, columns=PAIR_COLUMNS).astype({"shared_questions": "int64"})
    return DistanceTable(
        by=by,
        metric=metric,
        labels=c.labels,
        pairs=pairs,
        support=support,
        left_out=c.left_out,
        n_questions=c.n_questions,
        n_qa=len(c.x),
        resamples=config.resamples,
        valid_resamples=usable,
        permutations=config.permutations,
        seed=config.seed,
    )


# --- the cache ---------------------------------------------------------------------------------


def table_key(encoder_id: str, frame, vectors, by: str, metric: str, config) -> str:
    """Hash of the encoder, the QA ids with what the table reads of them (group, question,
    vector: a re-import may change them under the same id), the grouping, metric and settings."""
    order = np.argsort(frame["qa_id"].astype(str).to_numpy(), kind="stable")
    digest = hashlib.sha256()
    for column in (frame["qa_id"], frame[by], distances.question_key(frame)):
        values = column.astype(str).to_numpy()[order]
        digest.update("\x1f".join(values).encode("utf-8") + b"\x1e")
    digest.update(np.ascontiguousarray(np.asarray(vectors, dtype=np.float32)[order]).tobytes())
    params = {"v": TABLE_VERSION, "encoder": encoder_id, "qa": digest.hexdigest(), "by": by}
    return stable_hash(params | {"metric": metric, "config": asdict(config)}, length=24)


def _read(db: Db, key: str, by: str, metric: str, config: UncertaintyConfig):
    with store.connect(db) as con:
        head = con.execute(
            "SELECT support, left_out, n_questions, n_qa, valid_resamples FROM distance_tables "
            "WHERE table_key = ?",
            [key],
        ).fetchall()
        if not head:
            return None
        pairs = con.execute(
            "SELECT group_a AS a, group_b AS b, distance, ci_low, ci_high, p_value, "
            "shared_questions FROM distance_pairs WHERE table_key = ?",
            [key],
        ).df()
    support_json, left_out, n_questions, n_qa, usable = head[0]
    pairs = pairs.astype({c: "float64" for c in PAIR_COLUMNS[2:6]})
    pairs = pairs.astype({"shared_questions": "int64"})
    labels = sorted(set(pairs["a"]) | set(pairs["b"]))
    return DistanceTable(
        by=by,
        metric=metric,
        labels=labels,
        pairs=pairs.sort_values(["a", "b"], kind="stable", ignore_index=True),
        support={tuple(m): float(s) for m, s in json.loads(support_json)},
        left_out=json.loads(left_out),
        n_questions=int(n_questions),
        n_qa=int(n_qa),
        resamples=config.resamples,
        valid_resamples=int(usable),
        permutations=config.permutations,
        seed=config.seed,
    )


def _write(db: Db, key: str, encoder_id: str, table: DistanceTable, params: dict, seconds: float):
    support = [[list(m), s] for m, s in table.support.items()]
    with store.transaction(db) as con:
        if con.execute("SELECT 1 FROM distance_tables WHERE table_key = ?", [key]).fetchall():
            return  # another session stored the same table meanwhile
        con.execute(
            "INSERT INTO distance_tables (table_key, encoder_id, params, support, left_out, "
            "n_questions, n_qa, valid_resamples, seconds) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                key,
                encoder_id,
                json.dumps(params),
                json.dumps(support),
                json.dumps(table.left_out),
                table.n_questions,
                table.n_qa,
                table.valid_resamples,
                seconds,
            ],
        )
        con.register("new_distance_pairs", table.pairs.assign(table_key=key))
        con.execute(
            "INSERT INTO distance_pairs (table_key, group_a, group_b, distance, ci_low, ci_high, "
            "p_value, shared_questions) SELECT table_key, a, b, distance, ci_low, ci_high, "
            "p_value, shared_questions FROM new_distance_pairs"
        )


def distance_table(
    db: Db,
    frame,
    vectors,
    encoder_id: str,
    by: str = "language",
    metric: str = "cosine",
    config: UncertaintyConfig | None = None,
) -> DistanceTable:
    """The table for these QA pairs (`frame` needs qa_id), from the store when it was computed
    before with the same encoder, QA ids, grouping, metric and settings; else computed and
    stored."""
    config = config or UncertaintyConfig()
    if by not in distances.GROUPINGS:
        raise UserError(f"group by must be one of {', '.join(distances.GROUPINGS)}, got {by!r}")
    key = table_key(encoder_id, frame, vectors, by, metric, config)
    cached = _read(db, key, by, metric, config)
    if cached is not None:
        return cached
    started = time.perf_counter()
    table = compute_table(frame, vectors, by, metric, config)
    params = {"by": by, "metric": metric, "n_qa_given": len(frame)} | asdict(config)
    try:
        _write(db, key, encoder_id, table, params, time.perf_counter() - started)
    except store.StoreError:  # a busy or read-only file: the table is right, only not kept
        pass
    return table
