"""The held-out split rule: which QA pairs (or questions, or models) a run trains on and
evaluation tests on.

The random and question rules are a hash of (seed, key), so a QA or question is held out the
same way whichever datasets are loaded beside it: a trained encoder and the evaluation agree on
its held-out questions without sharing any state. The model rule deals the models present into
`folds` rotating folds by a seeded hash order, so every fold holds about as many models; that
order depends on which models are present, so train and evaluate on the same datasets (the
evaluation's honesty note reads the identities a card trained on, whatever the order).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass

import numpy as np

from univar import store
from univar.errors import UserError
from univar.ids import digest
from univar.paths import Db
from univar.quality.filter import QualityFilter

SPLITS = ("random", "question", "model")
# Two folds hold out half of the models each: with the 5 models of Value FULCRA or the paper's
# 15, every fold keeps at least 2 unseen models to tell apart and as many to train on.
DEFAULT_FOLDS = 2
MAX_FOLDS = 1000


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


def dataset_models(
    db: Db = None, datasets: Iterable[str] | None = None, quality: QualityFilter | None = None
) -> list[str]:
    """The models with usable QA pairs in `datasets` (all when None), sorted."""
    keep = quality.where() if quality is not None else "TRUE"
    names = list(datasets or ())
    where = f"({keep})" + (" AND dataset IN (SELECT unnest(?))" if names else "")
    with store.connect(db) as con:
        rows = con.execute(
            f"SELECT DISTINCT model FROM qa WHERE {where} ORDER BY model", [names] if names else []
        ).fetchall()
    return [str(m) for (m,) in rows]


def model_folds(models: Iterable[str], folds: int = DEFAULT_FOLDS, seed: int = 0) -> list[list]:
    """The models of each fold: sorted by a hash of (seed, model), the i-th goes to fold
    i % folds, so fold sizes differ by at most one."""
    names = sorted(set(models))
    if len(names) < 2:
        found = f" ({names[0]})" if names else ""
        raise UserError(
            f"the model split needs QA pairs of at least 2 models, found {len(names)}{found}"
        )
    if folds > len(names):
        raise UserError(
            f"{folds} model folds need at least {folds} models, found {len(names)}: "
            f"use at most {len(names)} folds"
        )
    order = sorted(names, key=lambda m: digest(str(seed), "model", m))
    return [sorted(order[f::folds]) for f in range(folds)]


@dataclass(frozen=True)
class Split:
    """Which QAs are held out: per QA ('random'), per question ('question'), or every QA of
    the models of fold `fold` of `folds` ('model'; fold None: each fold in turn, evaluate only).

    In a model split `holdout_fraction` and the question rule split the held-out models' QAs
    again, into the part a classifier is fitted on and the part it is tested on.
    """

    kind: str = "question"
    holdout_fraction: float = 0.2
    seed: int = 0
    folds: int = DEFAULT_FOLDS
    fold: int | None = None

    def __post_init__(self):
        if self.kind not in SPLITS:
            raise UserError(f"split must be random, question or model, got {self.kind!r}")
        if not 0.0 < self.holdout_fraction < 1.0:
            raise UserError(f"holdout fraction must be in (0, 1), got {self.holdout_fraction}")
        if self.kind != "model":
            if self.fold is not None or self.folds != DEFAULT_FOLDS:
                raise UserError("fold and folds apply to the model split only")
            return
        if not 2 <= self.folds <= MAX_FOLDS:
            raise UserError(f"folds must be in [2, {MAX_FOLDS}], got {self.folds}")
        if self.fold is not None and not 0 <= self.fold < self.folds:
            raise UserError(
                f"fold must be in 0..{self.folds - 1} ({self.folds} folds), got {self.fold}"
            )

    def to_dict(self) -> dict:
        """What cards and JSON store: the fold fields only for a model split, so the cards of
        random and question splits keep the form they had before model splits existed."""
        out = asdict(self)
        if self.kind != "model":
            del out["folds"], out["fold"]
        return out

    @classmethod
    def from_dict(cls, data) -> Split | None:
        """The split a card or JSON stored; None for anything that is not one."""
        if not isinstance(data, dict):
            return None
        try:
            return cls(**data)
        except (TypeError, UserError):
            return None

    def for_fold(self, fold: int) -> Split:
        return Split(self.kind, self.holdout_fraction, self.seed, self.folds, fold)

    def fold_models(self, models: Iterable[str]) -> list[list]:
        return model_folds(models, self.folds, self.seed)

    def within(self) -> Split:
        """The question split that divides a model fold's QAs into fitting and testing rows."""
        return Split("question", self.holdout_fraction, self.seed)

    def test_mask(self, frame) -> np.ndarray:
        """True for the held-out rows of a QA frame (columns qa_id, question_id, question_en;
        model for a model split)."""
        if self.kind == "model":
            if self.fold is None:
                raise UserError("a model split holds out one fold: pick one with --fold")
            held = set(self.fold_models(frame["model"].astype(str))[self.fold])
            return frame["model"].astype(str).isin(held).to_numpy(dtype=bool)
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
