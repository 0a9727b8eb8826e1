"""Identify the source of a single QA from its embedding, the way the UniVaR paper measures.

Each encoder embeds every QA; a classifier fitted on the training part predicts the held-out
part's identity (`model$language`, or model or language alone): k-NN (k = 50, Euclidean, as
in the paper) and a linear probe (logistic regression). Splits: per-QA random (the paper's),
question-disjoint (no test question is seen in training; stricter), or model (the paper's claim
that an encoder separates the value systems of LLMs it never saw: each fold of models is held
out of training, and the classifier tells apart only the held-out identities, fitted on some of
their questions and tested on the others). TF-IDF and each trained encoder's base go in the
same table as baselines. Figures are percentages.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from univar import ids, paths
from univar.encoders import TRAINED_MARKER, embed_texts, load_encoder, qa_frame, resolve_name
from univar.errors import UserError
from univar.paths import Db
from univar.quality.filter import QualityFilter
from univar.training.splits import DEFAULT_FOLDS, Split

log = logging.getLogger(__name__)

TFIDF = "tfidf"
TARGETS = ("identity", "model", "language")
METHODS = ("knn", "linear")
METRICS = ("euclidean", "cosine")
TOP = (1, 5, 10)
# The paper's setting; `evaluate`, the CLI and the page all start from it.
DEFAULT_K = 50
DEFAULT_METRIC = "euclidean"
DEFAULT_TARGET = "identity"


@dataclass
class EvalReport:
    table: object  # pandas DataFrame: one row per (encoder, method)
    predictions: object  # pandas DataFrame: encoder, method, qa_id, true, pred
    split: Split
    target: str
    k: int
    datasets: list[str] = field(default_factory=list)
    quality: QualityFilter = QualityFilter()
    mean: object = None  # model split: pandas DataFrame, per (encoder, method) over its folds
    fold_models: dict[int, list[str]] = field(default_factory=dict)  # model split: held out


def trained_dir(name: str) -> Path | None:
    """The directory of a trained univar encoder named by path (absolute or project-relative)."""
    for path in (Path(name), paths.PROJECT_ROOT / name):
        if (path / TRAINED_MARKER).exists():
            return path
    return None


def _trained_meta(name: str) -> dict | None:
    path = trained_dir(name)
    return json.loads((path / TRAINED_MARKER).read_text("utf-8")) if path else None


def encoder_list(names: Sequence[str], tfidf: bool = True) -> list[str]:
    """The named encoders, each trained one's base after it, then TF-IDF; no repeats."""
    names = list(names) or [resolve_name(None)]
    out: list[str] = []
    for name in names:
        out.append(name)
        meta = _trained_meta(name)
        if meta:
            out.append(meta["base"])
    if tfidf:
        out.append(TFIDF)
    return list(dict.fromkeys(out))


def _vectors(name: str, frame, train_mask: np.ndarray, db: Db, progress):
    if name == TFIDF:
        from sklearn.feature_extraction.text import TfidfVectorizer

        # fitted on the training texts only: the test vocabulary must not leak in
        vec = TfidfVectorizer(sublinear_tf=True, min_df=2, ngram_range=(1, 2), max_features=50000)
        vec.fit(frame["text"][train_mask])
        return vec.transform(frame["text"]), TFIDF
    encoder = load_encoder(name)
    if getattr(encoder, "base", None) is not None:  # a head: its base's vectors are cached
        base = embed_texts(list(frame["text"]), encoder.base, db, progress=progress)
        return encoder.apply_head(base), encoder.id
    vecs = embed_texts(list(frame["text"]), encoder, db, progress=progress)
    return vecs, encoder.id


def _top_hits(proba: np.ndarray, classes: np.ndarray, y: np.ndarray) -> dict[int, float]:
    order = np.argsort(-proba, axis=1, kind="stable")
    ranked = classes[order]
    return {n: float(np.mean([t in r[:n] for t, r in zip(y, ranked, strict=True)])) for n in TOP}


def _classifier(method: str, k: int, metric: str, n_train: int, sparse: bool):
    if method == "knn":
        from sklearn.neighbors import KNeighborsClassifier

        return KNeighborsClassifier(n_neighbors=min(k, n_train), metric=metric)
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    probe = LogisticRegression(max_iter=2000)
    return probe if sparse else make_pipeline(StandardScaler(), probe)


def score(x, y, train_mask, method: str, k: int = DEFAULT_K, metric: str = DEFAULT_METRIC):
    """(metrics in percent, top-1 predictions for the test rows) of one classifier."""
    import scipy.sparse as sp
    from sklearn.metrics import f1_score

    clf = _classifier(method, k, metric, int(train_mask.sum()), sp.issparse(x))
    clf.fit(x[train_mask], y[train_mask])
    test = ~train_mask
    proba = clf.predict_proba(x[test])
    classes = np.asarray(clf.classes_)
    pred = classes[np.argmax(proba, axis=1)]
    hits = _top_hits(proba, classes, y[test])
    row = {f"acc@{n}": round(100 * v, 2) for n, v in hits.items()}
    row["f1_weighted"] = round(100 * f1_score(y[test], pred, average="weighted"), 2)
    return row, pred


def usable_frame(db: Db, datasets: Sequence[str] | None, quality: QualityFilter, purpose: str):
    """The qa_frame of `datasets` that `quality` lets through; a UserError naming `purpose`
    ("to evaluate on") when nothing is left."""
    frame = quality.keep(db, qa_frame(db, datasets))
    if frame.empty:
        raise UserError(
            f"no QA pairs {purpose}"
            + (f" in {list(datasets)}" if datasets else "")
            + ("" if quality.include_flagged else " that pass the quality checks")
        )
    return frame


def _table_row(head: dict, scores: dict, y, test, encoder_id, note: str) -> dict:
    """One row of the table: who and how, the scores, then what they rest on."""
    return {
        **head,
        **scores,
        "n_train": int((~test).sum()),
        "n_test": int(test.sum()),
        "classes": len(set(y)),
        "encoder_id": encoder_id,
        "note": note,
    }


def _honesty(name: str, split: Split, datasets: set[str]) -> str:
    """'' when the encoder never saw a test row; else a warning for the table."""
    meta = _trained_meta(name)
    if not meta or not datasets & set(meta.get("data", {}).get("datasets", [])):
        return ""
    # read back as a Split: cards written before model splits lack the fold fields
    if Split.from_dict(meta["data"].get("held_out")) == split:
        return ""
    return "trained on these test rows"


SEEN_MODELS = "trained on these models"


def _model_honesty(name: str, held_models: Sequence[str], datasets: set[str]) -> str:
    """'' when a trained encoder saw none of the held-out models, in any dataset: their
    answers elsewhere still teach it their style."""
    meta = _trained_meta(name)
    if not meta:
        return ""
    data = meta.get("data", {})
    if data.get("identities") is None:  # a card that does not say whom it saw
        return SEEN_MODELS if datasets & set(data.get("datasets", [])) else ""
    seen = {ids.identity_model(i) for i in data["identities"]}
    return SEEN_MODELS if seen & set(held_models) else ""


def _own_fold(name: str, split: Split) -> int | None:
    """The fold a trained encoder held out, when it was dealt as `split` deals the models."""
    meta = _trained_meta(name)
    held = Split.from_dict((meta or {}).get("data", {}).get("held_out"))
    if held is None or held.kind != "model" or held.fold is None:
        return None
    return held.fold if (held.folds, held.seed) == (split.folds, split.seed) else None


def evaluate(
    encoders: Sequence[str] = (),
    db: Db = None,
    *,
    split: str = "question",
    holdout_fraction: float = 0.2,
    seed: int = 0,
    folds: int = DEFAULT_FOLDS,
    fold: int | None = None,
    k: int = DEFAULT_K,
    metric: str = DEFAULT_METRIC,
    target: str = DEFAULT_TARGET,
    datasets: Sequence[str] | None = None,
    tfidf: bool = True,
    methods: Sequence[str] = METHODS,
    quality: QualityFilter | None = None,
    progress: Callable[[str, int, int], None] | None = None,
) -> EvalReport:
    """One table: every encoder x method on one split of the QA pairs in the store that
    `quality` lets through (by default those no quality check flagged).

    A model split (`folds`, `fold`; None: every fold) gives a row per fold and, in
    `report.mean`, the mean over folds; a trained encoder that held out one fold of the same
    deal is measured on that fold alone unless `fold` names one.
    """
    import pandas as pd

    quality = quality or QualityFilter()
    the_split = Split(split, holdout_fraction, seed, folds, fold)
    if target not in TARGETS:
        raise UserError(f"target must be identity, model or language, got {target!r}")
    if metric not in METRICS:
        raise UserError(f"metric must be euclidean or cosine, got {metric!r}")
    if k < 1:
        raise UserError(f"k must be at least 1, got {k}")
    bad = [m for m in methods if m not in METHODS]
    if bad or not methods:
        raise UserError(f"methods must be knn and/or linear, got {list(methods)!r}")
    frame = usable_frame(db, datasets, quality, "to evaluate on")
    if the_split.kind == "model":
        return _evaluate_models(
            encoder_list(encoders, tfidf),
            frame,
            the_split,
            target,
            k,
            metric,
            methods,
            db,
            quality,
            progress,
        )
    test = the_split.test_mask(frame)
    y = frame[target].astype(str).to_numpy()
    if test.all() or not test.any() or len(set(y[~test])) < 2:
        raise UserError("the split leaves no test rows or fewer than 2 classes to train on")
    names = encoder_list(encoders, tfidf)
    rows, preds = [], []
    for name in names:
        step = (lambda d, t, message="", n=name: progress(n, d, t)) if progress else None
        x, encoder_id = _vectors(name, frame, ~test, db, step)
        for method in methods:
            row, pred = score(x, y, ~test, method, k, metric)
            note = _honesty(name, the_split, set(frame["dataset"]))
            head = {"encoder": name, "method": method}
            rows.append(_table_row(head, row, y, test, encoder_id, note))
            qa_ids = frame["qa_id"][test].to_numpy()
            preds.append(pd.DataFrame({**head, "qa_id": qa_ids, "true": y[test], "pred": pred}))
    return EvalReport(
        pd.DataFrame(rows),
        pd.concat(preds, ignore_index=True),
        the_split,
        target,
        k,
        sorted(set(frame["dataset"])),
        quality,
    )


MEAN_OF = ("acc@1", "acc@5", "acc@10", "f1_weighted", "chance", "chance_uniform", "classes")


def _fold_rows(frame, split: Split, target: str, fold_models: list[list[str]], wanted):
    """Per fold: (rows of its held-out models, True where a row is tested on), checked first so
    a bad fold fails before any encoder runs."""
    models = frame["model"].astype(str)
    out = {}
    for f in wanted:
        rows = np.flatnonzero(models.isin(fold_models[f]).to_numpy())
        test = split.within().test_mask(frame.iloc[rows])
        y = frame[target].astype(str).to_numpy()[rows]
        if test.all() or not test.any() or len(set(y[~test])) < 2:
            raise UserError(
                f"fold {f} (models {', '.join(fold_models[f])}) leaves no test rows or fewer "
                f"than 2 {target} classes to tell apart: use fewer folds or another holdout "
                "fraction"
            )
        out[f] = (rows, test)
    return out


def _evaluate_models(names, frame, split, target, k, metric, methods, db, quality, progress):
    """Every encoder x method x fold of a model split, and the mean over each one's folds."""
    import pandas as pd

    fold_models = split.fold_models(frame["model"].astype(str))
    wanted = [split.fold] if split.fold is not None else list(range(split.folds))
    per_fold = _fold_rows(frame, split, target, fold_models, wanted)
    y_all = frame[target].astype(str).to_numpy()
    datasets = set(frame["dataset"])
    rows, preds = [], []
    for name in names:
        own = _own_fold(name, split) if split.fold is None else None
        its_folds = [own] if own is not None else wanted
        step = (lambda d, t, message="", n=name: progress(n, d, t)) if progress else None
        if name != TFIDF:
            # only the held-out models' rows are ever classified: embed just those
            needed = np.unique(np.concatenate([per_fold[f][0] for f in its_folds]))
            x_needed, encoder_id = _vectors(name, frame.iloc[needed], None, db, step)
            at = np.full(len(frame), -1)
            at[needed] = np.arange(len(needed))
        for f in its_folds:
            fold_rows, test = per_fold[f]
            if name == TFIDF:
                x, encoder_id = _vectors(name, frame.iloc[fold_rows], ~test, db, step)
            else:
                x = x_needed[at[fold_rows]]
            y = y_all[fold_rows]
            _, counts = np.unique(y[test], return_counts=True)
            note = _model_honesty(name, fold_models[f], datasets)
            for method in methods:
                row, pred = score(x, y, ~test, method, k, metric)
                head = {"encoder": name, "method": method, "fold": f}
                chance = {
                    "chance": round(100 * counts.max() / test.sum(), 2),
                    "chance_uniform": round(100 / len(set(y)), 2),
                }
                rows.append(
                    _table_row(
                        {**head, "models": ", ".join(fold_models[f])},
                        {**row, **chance},
                        y,
                        test,
                        encoder_id,
                        note,
                    )
                )
                qa_ids = frame["qa_id"].to_numpy()[fold_rows][test]
                preds.append(pd.DataFrame({**head, "qa_id": qa_ids, "true": y[test], "pred": pred}))
    table = pd.DataFrame(rows)
    return EvalReport(
        table,
        pd.concat(preds, ignore_index=True),
        split,
        target,
        k,
        sorted(datasets),
        quality,
        mean=fold_means(table),
        fold_models=dict(enumerate(fold_models)),
    )


def fold_means(table):
    """One row per (encoder, method): the mean over the folds it was measured on."""
    import pandas as pd

    out = []
    for (encoder, method), part in table.groupby(["encoder", "method"], sort=False):
        row = {"encoder": encoder, "method": method, "folds": len(part)}
        row |= {col: round(float(part[col].mean()), 2) for col in MEAN_OF if col in part}
        row |= {"n_train": int(part["n_train"].sum()), "n_test": int(part["n_test"].sum())}
        notes = [n for n in dict.fromkeys(part["note"]) if n]
        row |= {"encoder_id": part["encoder_id"].iloc[0], "note": "; ".join(notes)}
        out.append(row)
    return pd.DataFrame(out)


def confusion(report: EvalReport, encoder: str, method: str = "knn"):
    """Counts of (true, predicted) classes for one encoder and method, all classes on both axes."""
    import pandas as pd

    p = report.predictions
    p = p[(p["encoder"] == encoder) & (p["method"] == method)]
    if p.empty:
        raise UserError(f"no predictions for encoder {encoder!r} with method {method!r}")
    labels = sorted(set(report.predictions["true"]) | set(report.predictions["pred"]))
    return pd.crosstab(
        pd.Categorical(p["true"], categories=labels),
        pd.Categorical(p["pred"], categories=labels),
        rownames=["true"],
        colnames=["predicted"],
        dropna=False,
    )


def to_json(report: EvalReport) -> str:
    out = {
        "split": report.split.to_dict(),
        "target": report.target,
        "k": report.k,
        "datasets": report.datasets,
        "quality": report.quality.key(),
        "results": report.table.to_dict(orient="records"),
    }
    if report.split.kind == "model":
        out["folds"] = report.split.folds
        out["fold_models"] = {str(f): models for f, models in report.fold_models.items()}
        out["mean"] = report.mean.to_dict(orient="records")
    return json.dumps(out, indent=2)


def record_metrics(encoder_dir, report: EvalReport) -> None:
    """Write this report into a trained encoder's univar_encoder.json (its id stays the same)."""
    marker = Path(encoder_dir) / TRAINED_MARKER
    meta = json.loads(marker.read_text(encoding="utf-8"))
    key = f"{report.split.kind}-split/{report.target}/k={report.k}"
    meta.setdefault("metrics", {})[key] = json.loads(to_json(report))
    marker.write_text(json.dumps(meta, indent=2), encoding="utf-8")
