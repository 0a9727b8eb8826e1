"""Is a map about values? The paper's controls, measured for the encoders and data at hand.

- Value vs control identification: k-NN (k = 50) accuracy of naming the `model$language` of a
  single held-out QA pair, once on value questions and once on the bank's non-value control
  questions (framework `control`). An encoder that keys on values is high on the first and
  near chance on the second; one that keys on style is high on both.
- Language leakage: accuracy of naming the language a QA pair was asked in from the embedding
  of its English text, on a grid of models that were all asked in the same languages (and the
  same questions, as often), so the model cannot give the language away. Measured on the
  control questions where there are any (on value questions a language may differ in its
  values, which a value map should show), else on every question. Lower is better: what is
  left to tell the languages apart is translation artefacts and style.
- Model leakage likewise: the model from the English text, languages balanced, where several
  models share languages.

Every figure comes from one question-disjoint split (the rule of `training.splits`, so a
trained encoder's held-out questions are the test questions here), beside its chance level:
the hit rate of always naming the training part's most frequent class. Figures are percent.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from itertools import combinations

import numpy as np

from univar.analysis import evaluation
from univar.catalog.questions import CONTROL_FRAMEWORK
from univar.config import field_default
from univar.encoders import LazyEncoder, embed_texts
from univar.errors import UserError
from univar.ids import digest
from univar.paths import Db
from univar.quality.filter import QualityFilter
from univar.training.splits import Split

log = logging.getLogger(__name__)

DEFAULT_K = evaluation.DEFAULT_K
# Every subset of this many models is tried for the balanced grid (2**8 of them); past it, the
# models asked in the most languages are kept.
MAX_GRID_MODELS = 8
# The columns of a diagnostics table, in order; percentages and counts per encoder.
COLUMNS = (
    "encoder",
    "value_acc",
    "value_chance",
    "control_acc",
    "control_chance",
    "language_leakage",
    "language_chance",
    "model_leakage",
    "model_chance",
    "identities",
    "value_questions",
    "control_questions",
    "value_test",
    "control_test",
    "language_test",
    "model_test",
    "encoder_id",
    "note",
)


@dataclass(frozen=True)
class Score:
    """One classifier's held-out accuracy and its chance level, in percent."""

    acc: float
    chance: float
    n_test: int
    classes: int


@dataclass(frozen=True)
class Grid:
    """Models x languages that every model was asked in, and the rows kept on it."""

    models: tuple[str, ...]
    languages: tuple[str, ...]
    rows: np.ndarray  # indices into the frame, balanced over the grid's cells

    def to_dict(self) -> dict:
        return {
            "models": list(self.models),
            "languages": list(self.languages),
            "qa_pairs": len(self.rows),
        }


@dataclass
class DiagnosticsReport:
    table: object  # pandas DataFrame with COLUMNS, one row per encoder
    split: Split
    k: int
    quality: QualityFilter
    datasets: list[str] = field(default_factory=list)
    language_grid: Grid | None = None
    model_grid: Grid | None = None
    leakage_on: str = "control"


def is_control(frame) -> np.ndarray:
    return (frame["framework"].fillna("").str.lower() == CONTROL_FRAMEWORK).to_numpy()


def held_out(frame, split: Split) -> np.ndarray:
    """True for the rows whose question is held out: a question's rows are all on one side."""
    return split.test_mask(frame)


def score(x, y: np.ndarray, test: np.ndarray, k: int = DEFAULT_K) -> Score | None:
    """k-NN fitted on the rows outside `test`, scored on `test`; None where there is nothing
    to test or fewer than two classes to learn."""
    y = np.asarray(y).astype(str)
    train = ~test
    if not test.any() or len(set(y[train])) < 2:
        return None
    _, pred = evaluation.score(x, y, train, "knn", k, evaluation.DEFAULT_METRIC)
    classes, counts = np.unique(y[train], return_counts=True)
    majority = classes[np.argmax(counts)]  # ties: the first in sorted order
    return Score(
        acc=round(100 * float(np.mean(pred == y[test])), 2),
        chance=round(100 * float(np.mean(y[test] == majority)), 2),
        n_test=int(test.sum()),
        classes=len(set(y)),
    )


def _question_keys(frame) -> list[str]:
    return [
        str(qid) if isinstance(qid, str) and qid else "text:" + str(q)
        for qid, q in zip(frame["question_id"], frame["question_en"], strict=True)
    ]


def identification_rows(frame, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(value rows, control rows) for value vs control identification.

    Where there are controls, both sides hold the same identities (those with control answers)
    and the same number of questions (the value questions first in a seeded hash order), so
    the two accuracies differ by what is asked, not by how many classes or examples there are.
    """
    control = is_control(frame)
    identity = frame["identity"].to_numpy()
    if not control.any():
        return np.flatnonzero(~control), np.array([], dtype=int)
    both = set(identity[control])
    value = ~control & np.isin(identity, list(both))
    keys = np.array(_question_keys(frame))
    n_control = len(set(keys[control]))
    # salted: ordered by the split's own hash, the first questions would all be held out
    value_keys = sorted(set(keys[value]), key=lambda key: digest("pick", str(seed), key))
    value &= np.isin(keys, value_keys[:n_control])
    return np.flatnonzero(value), np.flatnonzero(control)


def balanced_grid(
    frame,
    target: str,
    min_models: int,
    min_languages: int,
    among: np.ndarray | None = None,
    max_models: int = MAX_GRID_MODELS,
) -> Grid | None:
    """The models x languages (every model asked in every language) that keep the most QA pairs
    once cut to the questions every cell answered, each (cell, question) to the same number of
    samples: the model then says nothing about the language, nor the language about the model.
    Only rows that `among` allows count. Ties go to more classes of `target` ("language" or
    "model"), then to more cells."""
    english = frame["question_en"].notna().to_numpy() & frame["answer_en"].notna().to_numpy()
    if among is not None:
        english &= among
    models = frame["model"].astype(str).to_numpy()
    langs = frame["language"].astype(str).to_numpy()
    keys = _question_keys(frame)
    counts: dict[str, dict[tuple[str, str], int]] = {}
    for i in np.flatnonzero(english):
        cell = (models[i], langs[i])
        per_cell = counts.setdefault(keys[i], {})
        per_cell[cell] = per_cell.get(cell, 0) + 1
    by_model: dict[str, set[str]] = {}
    for per_cell in counts.values():
        for m, lang in per_cell:
            by_model.setdefault(m, set()).add(lang)
    names = sorted(by_model, key=lambda m: (-len(by_model[m]), m))[:max_models]
    best, best_key = None, None
    for r in range(max(min_models, 1), len(names) + 1):
        for subset in combinations(sorted(names), r):
            shared = set.intersection(*(by_model[m] for m in subset))
            if len(shared) < min_languages:
                continue
            chosen, size = _best_languages(counts, subset, shared, min_languages)
            ranked = (size, len(chosen if target == "language" else subset), len(chosen))
            if size and (best_key is None or ranked > best_key):
                best, best_key = (subset, tuple(sorted(chosen))), ranked
    if best is None:
        return None
    grid_models, grid_langs = best
    inside = english & np.isin(models, grid_models) & np.isin(langs, grid_langs)
    rows = _balanced_rows(frame, np.flatnonzero(inside), len(grid_models) * len(grid_langs))
    return Grid(grid_models, grid_langs, rows)


def _grid_size(counts: dict, models: Sequence[str], langs: Sequence[str]) -> int:
    """QA pairs a grid keeps: per question, the fewest samples of any cell, times the cells."""
    cells = [(m, lang) for m in models for lang in langs]
    kept = sum(min(per_cell.get(c, 0) for c in cells) for per_cell in counts.values())
    return kept * len(cells)


def _best_languages(
    counts: dict, models: Sequence[str], shared: set[str], min_languages: int
) -> tuple[set[str], int]:
    """Of the models' shared languages, the leading ones (ranked by the QA pairs each keeps on
    its own) that keep the most QA pairs together: a language few questions were asked in
    would cut the questions common to every cell."""
    ranked = sorted(shared, key=lambda lang: (-_grid_size(counts, models, [lang]), lang))
    best: tuple[set[str], int] = (set(), 0)
    for n in range(max(min_languages, 1), len(ranked) + 1):
        size = _grid_size(counts, models, ranked[:n])
        if size > best[1]:
            best = (set(ranked[:n]), size)
    return best


def _balanced_rows(frame, rows: np.ndarray, n_cells: int) -> np.ndarray:
    """Of `rows`, the questions every cell answered, as many samples per cell as the fewest."""
    import pandas as pd

    part = pd.DataFrame(
        {
            "row": rows,
            "cell": frame["identity"].to_numpy()[rows],
            "question": np.array(_question_keys(frame), dtype=object)[rows],
            "qa_id": frame["qa_id"].to_numpy()[rows],
        }
    ).sort_values(["question", "cell", "qa_id"])
    counts = part.groupby(["question", "cell"]).size().rename("n").reset_index()
    per_question = counts.groupby("question").agg(cells=("cell", "size"), n=("n", "min"))
    per_question = per_question[per_question["cells"] == n_cells]
    part = part[part["question"].isin(per_question.index)]
    rank = part.groupby(["question", "cell"]).cumcount().to_numpy()
    keep = rank < per_question["n"].reindex(part["question"]).to_numpy()
    return np.sort(part["row"].to_numpy()[keep])


def diagnose_vectors(
    frame, vecs, split: Split, k: int = DEFAULT_K, grids: tuple | None = None
) -> dict:
    """Every figure for one encoder's vectors of `frame` (a qa_frame)."""
    test = held_out(frame, split)
    value_rows, control_rows = identification_rows(frame, split.seed)
    language_grid, model_grid = grids if grids is not None else _grids(frame)
    identity = frame["identity"].astype(str).to_numpy()
    out: dict = {
        "identities": len(set(identity[np.concatenate([value_rows, control_rows])])),
        "value_questions": _n_questions(frame, value_rows),
        "control_questions": _n_questions(frame, control_rows),
    }
    parts = {
        "value": (value_rows, identity),
        "control": (control_rows, identity),
        "language": (language_grid.rows if language_grid else [], frame["language"]),
        "model": (model_grid.rows if model_grid else [], frame["model"]),
    }
    for name, (rows, labels) in parts.items():
        rows = np.asarray(rows, dtype=int)
        got = score(vecs[rows], np.asarray(labels)[rows], test[rows], k) if len(rows) else None
        acc = "acc" if name in ("value", "control") else "leakage"
        out[f"{name}_{acc}"] = got.acc if got else None
        out[f"{name}_chance"] = got.chance if got else None
        out[f"{name}_test"] = got.n_test if got else 0
    return out


def _n_questions(frame, rows: np.ndarray) -> int:
    keys = _question_keys(frame)
    return len({keys[i] for i in rows})


def leakage_rows(frame) -> tuple[str, np.ndarray]:
    """("control", its rows) where the frame has control questions, else ("all", every row)."""
    control = is_control(frame)
    return ("control", control) if control.any() else ("all", np.ones(len(frame), dtype=bool))


def _grids(frame) -> tuple[Grid | None, Grid | None]:
    _, among = leakage_rows(frame)
    return (
        balanced_grid(frame, "language", min_models=1, min_languages=2, among=among),
        balanced_grid(frame, "model", min_models=2, min_languages=1, among=among),
    )


def encoder_names(names: Sequence[str] = ()) -> list[str]:
    """The named encoders (default: the app's default one), each trained one's base after it."""
    return evaluation.encoder_list(names, tfidf=False)


def _vectors(name: str, texts: list[str], db: Db, progress) -> tuple[np.ndarray, str]:
    # lazy: where the cache holds every vector, torch is never imported (minutes on a busy CPU)
    encoder = LazyEncoder(name)
    return embed_texts(texts, encoder, db, progress=progress), encoder.id


def _note(name: str, split: Split, datasets: set[str]) -> str:
    """'' unless a trained encoder saw these datasets without holding out this split."""
    path = evaluation.trained_dir(name)
    if path is None:
        return ""
    from univar.encoders import TRAINED_MARKER

    data = json.loads((path / TRAINED_MARKER).read_text("utf-8")).get("data", {})
    if not datasets & set(data.get("datasets", [])):
        return ""
    held = data.get("held_out") or {}
    if held.get("kind") == "question" and held.get("seed") == split.seed:
        if held.get("holdout_fraction") == split.holdout_fraction:
            return ""
    return "trained on these test questions"


def diagnose(
    encoders: Sequence[str] = (),
    db: Db = None,
    *,
    k: int = DEFAULT_K,
    holdout_fraction: float = field_default(Split, "holdout_fraction"),
    seed: int = field_default(Split, "seed"),
    datasets: Sequence[str] | None = None,
    quality: QualityFilter | None = None,
    progress: Callable[[str, int, int], None] | None = None,
) -> DiagnosticsReport:
    """The diagnostics table for these encoders (default: the app's default encoder and its
    base) on the QA pairs that `quality` lets through (by default, those no check flagged)."""
    import pandas as pd

    if k < 1:
        raise UserError(f"k must be at least 1, got {k}")
    quality = quality or QualityFilter()
    split = Split("question", holdout_fraction, seed)
    frame = evaluation.usable_frame(db, datasets, quality, "to diagnose")
    test = held_out(frame, split)
    if test.all() or not test.any():
        raise UserError("the split holds out no questions or all of them: too few questions")
    grids = _grids(frame)
    rows = []
    for name in encoder_names(encoders):
        step = (lambda d, t, message="", n=name: progress(n, d, t)) if progress else None
        vecs, encoder_id = _vectors(name, list(frame["text"]), db, step)
        got = diagnose_vectors(frame, vecs, split, k, grids)
        note = _note(name, split, set(frame["dataset"]))
        rows.append({"encoder": name, **got, "encoder_id": encoder_id, "note": note})
    table = pd.DataFrame(rows, columns=list(COLUMNS))
    return DiagnosticsReport(
        table,
        split,
        k,
        quality,
        sorted(set(frame["dataset"])),
        grids[0],
        grids[1],
        leakage_rows(frame)[0],
    )


def to_records(report: DiagnosticsReport) -> list[dict]:
    """The table's rows with None (not NaN) where a figure cannot be measured."""
    records = report.table.astype(object).to_dict(orient="records")
    return [{key: (None if _missing(v) else v) for key, v in row.items()} for row in records]


def _missing(value) -> bool:
    return isinstance(value, float) and value != value


def to_json(report: DiagnosticsReport) -> str:
    return json.dumps(
        {
            "encoders": to_records(report),
            "split": {
                "kind": report.split.kind,
                "holdout_fraction": report.split.holdout_fraction,
                "seed": report.split.seed,
            },
            "k": report.k,
            "datasets": report.datasets,
            "quality": report.quality.key(),
            "language_grid": report.language_grid.to_dict() if report.language_grid else None,
            "model_grid": report.model_grid.to_dict() if report.model_grid else None,
            "leakage_on": report.leakage_on,
        },
        indent=2,
    )


def to_csv(report: DiagnosticsReport) -> str:
    return report.table.to_csv(index=False)
