"""Train the value-expression scorer on Value FULCRA's human labels and ship it.

    python scripts/train_value_scorer.py                  # measure, refit, write the assets
    python scripts/train_value_scorer.py --no-write       # measure only
    python scripts/train_value_scorer.py --json           # the held-out figures as JSON

Every answer of ../shared/data/value_fulcra_trustworthy.jsonl is embedded as the app embeds a
QA pair (`Q: ... A: ...`, `univar.encoders.qa_text`) with the base all-MiniLM-L6-v2. For each
Schwartz basic value with at least MIN_LABELS labelled answers, a 3-class multinomial logistic
regression says whether an answer supports it, opposes it or does not express it. Questions
are split as the shipped encoder's were (a hash of the question, 20% held out, seed 0); the
class weighting and the regularisation of each value are chosen on a second question-disjoint
split inside the training part, the figures are measured on the held-out part, and the model
that ships is then refitted on every row. Writes
assets/scorers/value-fulcra-minilm/{weights.npz,scorer.json}; the data never enters the repo.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a file, the project is not on the path
    sys.path.insert(0, str(ROOT))

from univar import encoders, ids  # noqa: E402
from univar.analysis import expression  # noqa: E402
from univar.ingest.value_fulcra import parse_value_fulcra_line  # noqa: E402
from univar.training.splits import Split  # noqa: E402

FULCRA = ROOT.parent / "shared" / "data" / "value_fulcra_trustworthy.jsonl"
CACHE_DB = ROOT / "out" / "value-scorer" / "embeddings.duckdb"
VERSION = 1
MIN_LABELS = 30  # fewer labelled answers than this: too few to learn or to measure a value
HELD_OUT = Split("question", holdout_fraction=0.2, seed=0)  # the shipped encoder's split
# Chooses each value's settings inside the training part, so the held-out part stays unseen.
TUNING = Split("question", holdout_fraction=0.2, seed=1)
CLASS_WEIGHTS = (None, "balanced")
# MiniLM's vectors have unit length: each feature is small, so useful C values are large.
CS = (1.0, 10.0, 100.0)
SIGNS = (-1, 0, 1)  # the order of expression.CLASSES: opposes, not expressed, supports
# An answer labelled as both supporting and opposing one value (29 of them, mostly benevolence
# and universalism): no class of the three, so that value leaves it out of its fit and figures.
MIXED = 2


def sign_of(label: str) -> int | None:
    """+1 or -1 of a sloppy label ('+1', '1', '1+', '=1', '-1'); None for anything else."""
    text = label.strip()
    if "-" in text:
        return -1 if text.strip("-") == "1" else None
    return 1 if text.strip("+=") == "1" else None


def read_rows(path: Path = FULCRA):
    """One row per answer: question_id, question_en, answer, model, text and `labels`
    ({value: +1, -1 or MIXED}; a value absent from the list is not expressed)."""
    import pandas as pd

    rows = []
    with open(path, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            model, question, answer = parse_value_fulcra_line(line, lineno)
            labels = {}
            for item in json.loads(line)["value_types"]:
                name, _, sign = item.partition(":")
                value, name = sign_of(sign), name.strip().lower()
                if value is not None:
                    labels[name] = value if labels.get(name, value) == value else MIXED
            qid = ids.value_fulcra_question_id(question)
            rows.append(
                {
                    "qa_id": ids.value_fulcra_qa_id("value_fulcra", model, qid, 0),
                    "question_id": qid,
                    "question_en": question,
                    "answer": answer,
                    "model": model,
                    "text": encoders.qa_text(question, answer),
                    "labels": labels,
                }
            )
    return pd.DataFrame(rows)


def label_counts(frame) -> dict[str, int]:
    """Labelled answers (supports or opposes) per value, most first."""
    counts: dict[str, int] = {}
    for labels in frame["labels"]:
        for value in labels:  # a mixed label counts: the answer expresses the value
            counts[value] = counts.get(value, 0) + 1
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def kept_values(frame, min_labels: int = MIN_LABELS) -> list[str]:
    """Values with enough labelled answers, in circle order."""
    counts = label_counts(frame)
    return [v for v in expression.BASIC_VALUES if counts.get(v, 0) >= min_labels]


def targets(frame, values: list[str]) -> np.ndarray:
    """(rows, values) of -1 / 0 / +1, or MIXED."""
    return np.array([[labels.get(v, 0) for v in values] for labels in frame["labels"]], dtype=int)


def embed(frame, db: Path = CACHE_DB, progress=None) -> np.ndarray:
    """Base-MiniLM vectors of the rows' texts, through the project's embedding cache (a file of
    this script's own, so a rerun embeds nothing and loads no model)."""
    db.parent.mkdir(parents=True, exist_ok=True)
    encoder = encoders.LazyEncoder(encoders.DEFAULT_ENCODER)
    return encoders.embed_texts(list(frame["text"]), encoder, db, progress=progress)


def macro_f1(truth: np.ndarray, predicted: np.ndarray) -> float:
    """3-class macro-F1 over the classes the truth holds (a class no answer of the part has,
    e.g. 'opposes tradition' in a small held-out part, is no class of that part)."""
    from sklearn.metrics import f1_score

    present = sorted(set(truth.tolist()))
    return float(f1_score(truth, predicted, labels=present, average="macro", zero_division=0))


def f1_by_class(truth: np.ndarray, predicted: np.ndarray) -> dict[str, float | None]:
    """F1 of each class (None for a class the truth lacks)."""
    from sklearn.metrics import f1_score

    scores = f1_score(truth, predicted, labels=list(SIGNS), average=None, zero_division=0)
    present = set(truth.tolist())
    return {
        name: round(float(f), 4) if sign in present else None
        for name, sign, f in zip(expression.CLASSES, SIGNS, scores, strict=True)
    }


def fit_one(x: np.ndarray, y: np.ndarray, class_weight, c: float):
    """(coef (3, dim), intercept (3,)) in SIGNS order; a class the rows lack never wins."""
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(C=c, class_weight=class_weight, max_iter=2000)
    model.fit(x, y)
    coef = np.zeros((len(SIGNS), x.shape[1]), dtype=np.float64)
    intercept = np.full(len(SIGNS), -50.0)
    found = list(model.classes_)
    if len(found) == 2:  # sklearn keeps one row for a binary fit: its second class's logit
        intercept[SIGNS.index(found[0])] = 0.0
        coef[SIGNS.index(found[1])] = model.coef_[0]
        intercept[SIGNS.index(found[1])] = model.intercept_[0]
    else:
        for row, sign in enumerate(found):
            coef[SIGNS.index(sign)] = model.coef_[row]
            intercept[SIGNS.index(sign)] = model.intercept_[row]
    return coef, intercept


def predict(coef: np.ndarray, intercept: np.ndarray, x: np.ndarray) -> np.ndarray:
    return np.array(SIGNS)[np.argmax(x @ coef.T + intercept, axis=1)]


@dataclass(frozen=True)
class Choice:
    class_weight: str | None
    c: float
    tuning_f1: float
    by_weight: dict  # best tuning macro-F1 of each class weighting, over C


def choose(x: np.ndarray, y: np.ndarray, tune: np.ndarray) -> Choice:
    """The class weighting and C with the best macro-F1 on the tuning rows."""
    tried = []
    for class_weight in CLASS_WEIGHTS:
        for c in CS:
            coef, intercept = fit_one(x[~tune], y[~tune], class_weight, c)
            tried.append((macro_f1(y[tune], predict(coef, intercept, x[tune])), class_weight, c))
    best = max(tried, key=lambda t: t[0])  # the first of equals: unweighted, smaller C
    by_weight = {
        w or "none": round(max(f for f, cw, _ in tried if cw == w), 4) for w in CLASS_WEIGHTS
    }
    return Choice(best[1], best[2], best[0], by_weight)


def evaluate(frame, vectors: np.ndarray, values: list[str] | None = None) -> dict:
    """Held-out figures: per value its chosen settings, macro-F1 of the scorer and of the
    majority class of the training part, and the held-out support; overall means."""
    values = values or kept_values(frame)
    y_all = targets(frame, values)
    test = HELD_OUT.test_mask(frame)
    # a hash per question: the same rows as splitting the training part on its own
    tune_all = TUNING.test_mask(frame) & ~test
    per_value = {}
    for j, value in enumerate(values):
        y = y_all[:, j]
        usable = y != MIXED
        train, held = usable & ~test, usable & test
        choice = choose(vectors[train], y[train], tune_all[train])
        coef, intercept = fit_one(vectors[train], y[train], choice.class_weight, choice.c)
        predicted = predict(coef, intercept, vectors[held])
        signs, counts = np.unique(y[train], return_counts=True)
        majority = np.full(held.sum(), signs[np.argmax(counts)])
        per_value[value] = {
            "macro_f1": round(macro_f1(y[held], predicted), 4),
            "majority_macro_f1": round(macro_f1(y[held], majority), 4),
            "f1_by_class": f1_by_class(y[held], predicted),
            "majority_class": expression.CLASSES[SIGNS.index(int(majority[0]))],
            "class_weight": choice.class_weight or "none",
            "C": choice.c,
            "tuning_macro_f1": choice.by_weight,
            "held_out_supports": int((y[held] == 1).sum()),
            "held_out_opposes": int((y[held] == -1).sum()),
            "held_out": int(held.sum()),
            "labelled": int((y != 0).sum()),
            "mixed": int((~usable).sum()),
        }
    return {
        "split": "question-disjoint, 20% of the questions held out (hash of the question, seed 0)",
        "n_train": int((~test).sum()),
        "n_held_out": int(test.sum()),
        "macro_f1": round(float(np.mean([v["macro_f1"] for v in per_value.values()])), 4),
        "majority_macro_f1": round(
            float(np.mean([v["majority_macro_f1"] for v in per_value.values()])), 4
        ),
        "per_value": per_value,
    }


def refit(frame, vectors: np.ndarray, figures: dict) -> tuple[np.ndarray, np.ndarray]:
    """Every row, each value with the settings its tuning chose: (coef, intercept) stacked."""
    values = list(figures["per_value"])
    y_all = targets(frame, values)
    coefs, intercepts = [], []
    for j, value in enumerate(values):
        chosen = figures["per_value"][value]
        weight = None if chosen["class_weight"] == "none" else chosen["class_weight"]
        usable = y_all[:, j] != MIXED
        coef, intercept = fit_one(vectors[usable], y_all[usable, j], weight, chosen["C"])
        coefs.append(coef)
        intercepts.append(intercept)
    return np.stack(coefs), np.stack(intercepts)


def write(out: Path, frame, figures: dict, coef: np.ndarray, intercept: np.ndarray) -> None:
    values = list(figures["per_value"])
    counts = label_counts(frame)
    out.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(
        out / expression.WEIGHTS_FILE,
        coef=coef.astype(np.float32),
        intercept=intercept.astype(np.float32),
        classes=np.array(expression.CLASSES),
        values=np.array(values),
    )
    left_out = {v: counts.get(v, 0) for v in expression.BASIC_VALUES if v not in values}
    card = {
        "name": expression.SCORER_NAME,
        "version": VERSION,
        "base_encoder": encoders.DEFAULT_ENCODER,
        "base_encoder_id": encoders.encoder_id(encoders.DEFAULT_ENCODER),
        "text": "Q: {question} A: {answer} (univar.encoders.qa_text), English",
        "classes": list(expression.CLASSES),
        "values": values,
        "model": "per value, a 3-class multinomial logistic regression on the 384-d vector",
        "data": {
            "source": "Value FULCRA (microsoft/ValueCompass, trustworthy_data.jsonl, MIT)",
            "n_rows": len(frame),
            "models": sorted(frame["model"].unique().tolist()),
            "labelled_answers_per_value": counts,
            "left_out_values": left_out,
            "min_labels": MIN_LABELS,
        },
        "held_out": figures,
        "date": dt.date.today().isoformat(),
        "limits": [
            "trained on English answers only; translated answers are scored on their English",
            "5 LLMs of 2023 (gemini, alpaca-7b, gpt-3.5-turbo, Baichuan2-7B, Llama-2-7b-chat)",
            "deliberately provocative prompts (the 'trustworthy' part of Value FULCRA)",
            "few 'opposes' labels: opposing a value is the least reliable class",
            "answers labelled as both supporting and opposing a value are left out of that "
            "value's fit and figures",
            "values with fewer than 30 labelled answers are left out: "
            + ", ".join(f"{v} ({n})" for v, n in left_out.items()),
            "scores are estimates of what an answer expresses, not measurements",
        ],
    }
    (out / expression.CARD_FILE).write_text(json.dumps(card, indent=2) + "\n", encoding="utf-8")


def table(figures: dict) -> str:
    head = f"{'value':<16} {'macro-F1':>8} {'majority':>8} {'+':>4} {'-':>4}  settings"
    lines = [head]
    for value, v in figures["per_value"].items():
        lines.append(
            f"{value:<16} {v['macro_f1']:>8.3f} {v['majority_macro_f1']:>8.3f} "
            f"{v['held_out_supports']:>4} {v['held_out_opposes']:>4}  "
            f"class_weight={v['class_weight']}, C={v['C']:g}"
        )
    lines.append(
        f"{'overall':<16} {figures['macro_f1']:>8.3f} {figures['majority_macro_f1']:>8.3f}"
        f"  ({figures['n_held_out']} held-out answers, {figures['n_train']} training)"
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=FULCRA, help="Value FULCRA JSONL")
    parser.add_argument("--out", type=Path, default=expression.SCORER_DIR)
    parser.add_argument("--no-write", action="store_true", help="measure only")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    if not args.data.is_file():
        print(f"error: {args.data} is absent", file=sys.stderr)
        return 2
    frame = read_rows(args.data)

    def progress(done, total, message=""):
        if total:
            print(f"\rembedding {done:,}/{total:,}", end="", file=sys.stderr, flush=True)

    vectors = embed(frame, progress=progress)
    print(file=sys.stderr)
    figures = evaluate(frame, vectors)
    print(json.dumps(figures, indent=2) if args.json else table(figures))
    if not args.no_write:
        coef, intercept = refit(frame, vectors, figures)
        write(args.out, frame, figures, coef, intercept)
        print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
