"""Stratified samples that keep every group: the QA pairs a large UMAP layout is fitted on
(`analysis.projection`), and the points a huge selection sends to the browser
(`analysis.mapdata`). Numpy (and pandas to number the groups) only.

A sample keeps every group (a model$language): each takes at least min(its count, a floor),
and what the size leaves beyond the floors is shared in proportion to what each group has
beyond its floor, so large groups stay as dense relative to one another as in the data while a
small one is never thinned out of sight.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def quotas(counts: Sequence[int], size: int, floor: int) -> np.ndarray:
    """How many rows of each group a sample of at most `size` rows takes.

    Every group gets min(its count, `floor`); where the floors alone would pass `size`, the
    floor is lowered to the largest that fits, never below one row a group (so more groups
    than `size` is the one case a sample is larger than `size`). The rest of `size` goes in
    proportion to what each group has beyond its floor, by largest remainders, so the quotas
    sum to exactly `size` whenever there are at least that many rows.
    """
    counts = np.asarray(counts, dtype=np.int64)
    if counts.sum() <= size:
        return counts.copy()
    floor = max(1, int(floor))
    if np.minimum(counts, floor).sum() > size:
        lo, hi = 1, floor  # the largest floor whose rows fit: a bisection over the floor
        while lo < hi:
            mid = (lo + hi + 1) // 2
            lo, hi = (mid, hi) if np.minimum(counts, mid).sum() <= size else (lo, mid - 1)
        floor = lo
    base = np.minimum(counts, floor)
    budget = size - int(base.sum())
    if budget <= 0:
        return base
    extra = counts - base
    share = extra * (budget / extra.sum())
    take = np.floor(share).astype(np.int64)
    # the rows the floors of `share` left over, to the largest remainders (ties: first group)
    order = np.lexsort((np.arange(len(counts)), -(share - take)))
    take[order[: budget - int(take.sum())]] += 1
    return base + np.minimum(take, extra)


def stratified_rows(groups: Sequence, size: int, floor: int, seed: int) -> np.ndarray:
    """Sorted positions of a seeded sample of at most `size` rows that keeps every group
    (`quotas`): within each group, the rows first in one random order of `seed`. The same
    groups in the same order and the same seed give the same rows."""
    import pandas as pd

    codes, _ = pd.factorize(np.asarray(groups, dtype=object), sort=True)
    n = len(codes)
    if n <= size:
        return np.arange(n)
    counts = np.bincount(codes)
    take = quotas(counts, size, floor)
    order = np.lexsort((np.random.default_rng(seed).random(n), codes))  # by group, then random
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    rank = np.empty(n, dtype=np.int64)
    rank[order] = np.arange(n) - starts[codes[order]]  # a row's place in its group's order
    return np.flatnonzero(rank < take[codes])
