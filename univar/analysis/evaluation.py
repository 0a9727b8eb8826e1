"""Identify the source of a single QA from its embedding, the way the UniVaR paper measures.

Each encoder embeds every QA; a classifier fitted on the training part predicts the held-out
part's identity (`model$language`, or model or language alone): k-NN (k = 50, Euclidean, as
in the paper) and a linear probe (logistic regression). Splits: per-QA random (the paper's) or
question-disjoint (no test question is seen in training; stricter). TF-IDF and each trained
encoder's base go in the same table as baselines. Figures are percentages.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from univar import paths
from univar.encoders import TRAINED_MARKER, embed_texts, load_encoder, qa_frame, resolve_name
from univar.errors import UserError
from univar.paths import Db
from univar.quality.filter import QualityFilter
from univar.training.splits import Split

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


def _honesty(name: str, split: Split, datasets: set[str]) -> str:
    """'' when the encoder never saw a test row; else a warning for the table."""
    meta = _trained_meta(name)
    if not meta or not datasets & set(meta.get("data", {}).get("datasets", [])):
        return ""
    if meta["data"].get("held_out") == asdict(split):
        return ""
    return "trained on these test rows"


def evaluate(
    encoders: Sequence[str] = (),
    db: Db = None,
    *,
    split: str = "question",
    holdout_fraction: float = 0.2,
    seed: int = 0,
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
    `quality` lets through (by default those no quality check flagged)."""
    import pandas as pd

    quality = quality or QualityFilter()
    the_split = Split(split, holdout_fraction, seed)
    if target not in TARGETS:
        raise UserError(f"target must be identity, model or language, got {target!r}")
    if metric not in METRICS:
        raise UserError(f"metric must be euclidean or cosine, got {metric!r}")
    if k < 1:
        raise UserError(f"k must be at least 1, got {k}")
    bad = [m for m in methods if m not in METHODS]
    if bad or not methods:
        raise UserError(f"methods must be knn and/or linear, got {list(methods)!r}")
    frame = quality.keep(db, qa_frame(db, datasets))
    if frame.empty:
        raise UserError(
            "no QA pairs to evaluate on"
            + (f" in {list(datasets)}" if datasets else "")
            + ("" if quality.include_flagged else " that pass the quality checks")
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
            rows.append(
                {
                    "encoder": name,
                    "method": method,
                    **row,
                    "n_train": int((~test).sum()),
                    "n_test": int(test.sum()),
                    "classes": len(set(y)),
                    "encoder_id": encoder_id,
                    "note": note,
                }
            )
            preds.append(
                pd.DataFrame(
                    {
                        "encoder": name,
                        "method": method,
                        "qa_id": frame["qa_id"][test].to_numpy(),
                        "true": y[test],
                        "pred": pred,
                    }
                )
            )
    return EvalReport(
        pd.DataFrame(rows),
        pd.concat(preds, ignore_index=True),
        the_split,
        target,
        k,
        sorted(set(frame["dataset"])),
        quality,
    )


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
    return json.dumps(
        {
            "split": asdict(report.split),
            "target": report.target,
            "k": report.k,
            "datasets": report.datasets,
            "quality": report.quality.key(),
            "results": report.table.to_dict(orient="records"),
        },
        indent=2,
    )


def record_metrics(encoder_dir, report: EvalReport) -> None:
    """Write this report into a trained encoder's univar_encoder.json (its id stays the same)."""
    marker = Path(encoder_dir) / TRAINED_MARKER
    meta = json.loads(marker.read_text(encoding="utf-8"))
    key = f"{report.split.kind}-split/{report.target}/k={report.k}"
    meta.setdefault("metrics", {})[key] = json.loads(to_json(report))
    marker.write_text(json.dumps(meta, indent=2), encoding="utf-8")
