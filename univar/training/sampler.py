"""The multi-view sampler: the views a training step contrasts.

A *view* is 1..lambda QA texts of one identity (`model$language`) joined by newlines; a step
draws two views for each identity it picks, seeded by (seed, step) so a resumed run repeats
the steps an uninterrupted one would have taken.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from univar.errors import UserError

# --- import ----------------------------------------------------------------------------------


# --- the split -------------------------------------------------------------------------------


# --- the multi-view sampler -------------------------------------------------------------------


class ViewSampler:
    """Draws batches of views: `pairs` identities per step, two views of 1..lambda QAs each.

    Identities are picked without replacement while there are enough of them, so a step holds
    one view pair per identity (the paper's setting); with fewer identities than pairs they
    repeat, and the loss masks same-identity views out of the negatives.
    """

    def __init__(self, identities: Sequence[str], lam: int, seed: int = 0):
        if lam < 1:
            raise UserError(f"lambda must be at least 1, got {lam}")
        labels, codes = np.unique(np.asarray(identities, dtype=object), return_inverse=True)
        if len(labels) < 2:
            raise UserError(f"training needs QAs of at least 2 identities, got {len(labels)}")
        self.labels = list(labels)
        self.members = [np.flatnonzero(codes == i) for i in range(len(labels))]
        self.lam = lam
        self.seed = seed

    def batch(self, step: int, pairs: int, rank: int = 0) -> tuple[list[np.ndarray], np.ndarray]:
        """Views (arrays of row indices) and their identity codes; a pure function of the step."""
        rng = np.random.default_rng([self.seed, step, rank])
        n = len(self.members)
        ids = np.concatenate([rng.permutation(n) for _ in range(-(-pairs // n))])[:pairs]
        views, labels = [], []
        for ident in ids:
            rows = self.members[ident]
            for _ in range(2):
                size = min(int(rng.integers(1, self.lam + 1)), len(rows))
                views.append(rng.choice(rows, size=size, replace=False))
                labels.append(ident)
        return views, np.asarray(labels)

    def steps_per_epoch(self, n_rows: int, pairs: int) -> int:
        return steps_per_epoch(n_rows, pairs, self.lam)


def steps_per_epoch(n_rows: int, pairs: int, lam: int) -> int:
    """Steps that draw about every QA once: rows / (views per step x mean view size)."""
    return max(1, round(n_rows / (2 * pairs * (1 + lam) / 2)))


def join_view(texts: Sequence[str], rows: np.ndarray) -> str:
    return "\n".join(texts[i] for i in rows)
