"""The held-out split rule: which QA pairs (or questions) a run trains on and evaluation tests on.

The rule is a hash of (seed, key), so a QA or question is held out the same way whichever
datasets are loaded beside it: a trained encoder and the evaluation agree on its held-out
questions without sharing any state.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from univar import store
from univar.errors import UserError
from univar.ids import digest
from univar.paths import Db
from univar.quality.filter import QualityFilter

SPLITS = ("random", "question")


def dataset_sizes(db: Db = None, quality: QualityFilter | None = None) -> dict[str, int]:
    """Usable QA pairs per dataset (with `quality`: those it lets through; a dataset it leaves
    nothing of is listed with 0)."""
    keep = quality.where() if quality is not None else "TRUE"
    with store.connect(db) as con:
        rows = con.execute(
            f"SELECT dataset, count(*) FILTER (WHERE {keep}) FROM qa GROUP BY dataset "
            "ORDER BY dataset"
        ).fetchall()
    return {name: int(n) for name, n in rows}


@dataclass(frozen=True)
class Split:
    """Which QAs are held out: per QA ('random') or per question ('question'), by hash."""

    kind: str = "question"
    holdout_fraction: float = 0.2
    seed: int = 0

    def __post_init__(self):
        if self.kind not in SPLITS:
            raise UserError(f"split must be random or question, got {self.kind!r}")
        if not 0.0 < self.holdout_fraction < 1.0:
            raise UserError(f"holdout fraction must be in (0, 1), got {self.holdout_fraction}")

    def test_mask(self, frame) -> np.ndarray:
        """True for the held-out rows of a QA frame (columns qa_id, question_id, question_en)."""
        if self.kind == "question":
            # rows without a question_id still group by their English question text
            keys = [
                str(qid) if isinstance(qid, str) and qid else "text:" + str(q)
                for qid, q in zip(frame["question_id"], frame["question_en"], strict=True)
            ]
        else:
            keys = [str(k) for k in frame["qa_id"]]
        cut = self.holdout_fraction * 2**32
        return np.array([int(digest(str(self.seed), k)[:8], 16) < cut for k in keys], dtype=bool)
