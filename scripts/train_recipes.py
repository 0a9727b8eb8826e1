"""Train and measure encoder recipes on Value FULCRA on both splits: the table of
docs/encoder-card.md.

    python scripts/train_recipes.py --db /tmp/vf.duckdb --out out/recipes \\
        --recipes lora-4ep head-50ep          # one or more names of RECIPES, or `all`

For every recipe: one encoder trained on the question split (20% of the questions held out,
seed 0) and one per fold of the model split (whole models held out), each measured by
`python -m univar evaluate` on what it never saw; k-NN (k = 50) and linear-probe acc@1,
the unseen-model figure averaged over the folds, seconds of training. Results go to
`<out>/results.json` as they arrive (a rerun skips what is there) and a Markdown table to
stdout. The same script runs on a CUDA machine (training then uses bf16 autocast there; see
`univar.training.loop`); `--extra "--batch-size 128"` adds flags to every training run.
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
import time
from pathlib import Path

DATA = "value_fulcra"
FOLDS = 2
# name -> `python -m univar train` flags. The first is the CLI's default recipe.
RECIPES = {
    "default": [],
    "lora-4ep": ["--mode", "lora", "--epochs", "4", "--lambda", "5"],
    "lora-4ep-lam1": ["--mode", "lora", "--epochs", "4", "--lambda", "1"],
    "full-1ep": ["--mode", "full", "--epochs", "1"],
    "full-3ep": ["--mode", "full", "--epochs", "3"],
    "full-4ep": ["--mode", "full", "--epochs", "4", "--lambda", "5"],
    "lora-4ep-t0.2": ["--mode", "lora", "--epochs", "4", "--temperature", "0.2"],
    "lora-1ep-t0.2": ["--mode", "lora", "--epochs", "1", "--temperature", "0.2"],
    # the demo's QA pairs that pass the quality checks join every training set (its 11
    # identities), outside the split: the db must hold the demo (`python -m univar demo load`)
    "lora-4ep-demo": ["--mode", "lora", "--epochs", "4", "--also-train", "demo"],
    "lora-4ep-demo-t0.2": [
        "--mode",
        "lora",
        "--epochs",
        "4",
        "--temperature",
        "0.2",
        "--also-train",
        "demo",
    ],
    "head-50ep": ["--mode", "head", "--epochs", "50"],
    "head-200ep": ["--mode", "head", "--epochs", "200"],
    "head-50ep-lam1": ["--mode", "head", "--epochs", "50", "--lambda", "1"],
}


def _univar(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "univar", *args], capture_output=True, text=True, check=False
    )


def _rows(report: dict, encoder: str) -> dict[str, float]:
    """acc@1 per method of one encoder: the fold mean on the model split, else its row."""
    table = report.get("mean") or report["results"]
    out = {}
    for row in table:
        if row["encoder"] == encoder:
            out[row["method"]] = row["acc@1"]
    return out


def _run(db: str, out: Path, name: str, flags: list[str], split: list[str], extra: list[str]):
    folder = out / name / "-".join(split[1::2])
    card = folder / "univar_encoder.json"
    started = time.monotonic()
    if not card.exists():
        train = ["train", "--db", db, "--datasets", DATA, *flags, *extra, *split]
        done = _univar(*train, "--out", str(folder))
        if done.returncode:
            raise SystemExit(f"{name} {split}: train failed\n{done.stderr[-2000:]}")
    seconds = json.loads(card.read_text())["training"]["seconds"]
    kind = split[1]
    args = ["evaluate", "--db", db, "--datasets", DATA, "--encoder", str(folder), "--json"]
    args += ["--split", kind, *(["--folds", str(FOLDS)] if kind == "model" else [])]
    done = _univar(*args, "--no-tfidf")
    if done.returncode:
        raise SystemExit(f"{name} {split}: evaluate failed\n{done.stderr[-2000:]}")
    report = json.loads(done.stdout)
    return _rows(report, str(folder)), seconds, time.monotonic() - started


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--db", required=True, help="a store holding the value_fulcra dataset")
    ap.add_argument("--out", default="out/recipes")
    ap.add_argument("--recipes", nargs="+", default=["all"])
    ap.add_argument("--extra", default="", help="flags added to every training run")
    ap.add_argument(
        "--splits",
        nargs="+",
        choices=["model", "question"],
        default=["question", "model"],
        help="which splits to train and measure, in this order (the model split's folds are "
        "the cheaper runs: they train on fewer models)",
    )
    args = ap.parse_args()
    names = list(RECIPES) if args.recipes == ["all"] else args.recipes
    unknown = [n for n in names if n not in RECIPES]
    if unknown:
        ap.error(f"unknown recipes {unknown}; known: {', '.join(RECIPES)}")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    results_file = out / "results.json"
    results = json.loads(results_file.read_text()) if results_file.exists() else {}
    extra = shlex.split(args.extra)
    splits = []
    for kind in args.splits:
        if kind == "question":
            splits.append(["--split", "question"])
        else:
            splits += [["--split", "model", "--fold", str(f)] for f in range(FOLDS)]
    for name in names:
        for split in splits:
            key = f"{name} {' '.join(split)}"
            if key in results:
                continue
            acc, seconds, wall = _run(args.db, out, name, RECIPES[name], split, extra)
            results[key] = {"acc": acc, "train_s": seconds, "wall_s": round(wall, 1)}
            results_file.write_text(json.dumps(results, indent=2))
            print(key, results[key], flush=True)
    print(
        "| recipe | question split k-NN / linear | unseen models k-NN / linear (mean of folds) "
        "| training s (question split) |"
    )
    print("|---|---|---|---|")
    for name in names:
        q = results.get(f"{name} --split question")
        folds = [results.get(f"{name} --split model --fold {f}") for f in range(FOLDS)]
        if not q or not all(folds):
            continue
        mean = {m: sum(f["acc"][m] for f in folds) / FOLDS for m in q["acc"]}
        print(
            f"| {name} | {q['acc']['knn']:.1f} / {q['acc']['linear']:.1f} "
            f"| {mean['knn']:.1f} / {mean['linear']:.1f} | {q['train_s']:.0f} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
