"""Is the map about values? k-NN identification on value vs control questions, and language and model leakage."""

from __future__ import annotations

import argparse
import sys

from univar.analysis import diagnostics
from univar.commands.embed import add_quality_argument, embedding_progress, quality_of
from univar.config import field_default
from univar.training.splits import Split


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--encoder",
        action="append",
        default=[],
        help="an encoder to diagnose (repeatable; default: the app's default encoder); a "
        "trained one brings its base along",
    )
    parser.add_argument("--datasets", nargs="+", help="use these datasets (default: all)")
    parser.add_argument(
        "--k",
        type=int,
        default=diagnostics.DEFAULT_K,
        help="neighbours for k-NN (default: %(default)s)",
    )
    parser.add_argument(
        "--holdout-fraction",
        type=float,
        default=field_default(Split, "holdout_fraction"),
        help="share of the questions held out for testing (default: %(default)s)",
    )
    parser.add_argument("--seed", type=int, default=field_default(Split, "seed"))
    add_quality_argument(parser)
    parser.add_argument("--json", action="store_true", help="print the results as JSON")


def run(args) -> int:
    progress = embedding_progress(args.json)

    report = diagnostics.diagnose(
        args.encoder,
        args.db,
        k=args.k,
        holdout_fraction=args.holdout_fraction,
        seed=args.seed,
        datasets=args.datasets,
        quality=quality_of(args),
        progress=progress,
    )
    if args.json:
        print(diagnostics.to_json(report))
        return 0
    print(file=sys.stderr)
    print(
        f"question-disjoint split ({report.split.holdout_fraction:.0%} of the questions held "
        f"out, seed {report.split.seed}), k = {report.k}, {report.quality.describe()}; percent"
    )
    for name, grid in (("language", report.language_grid), ("model", report.model_grid)):
        if grid is None:
            print(f"{name} leakage: no balanced grid of models and languages in this data")
        else:
            print(
                f"{name} leakage on {len(grid.models)} models x {len(grid.languages)} "
                f"languages, {len(grid.rows):,} QA pairs of {report.leakage_on} questions"
            )
    shown = report.table.drop(columns=["encoder_id"]).astype(object)
    print(shown.where(shown.notna(), "-").to_string(index=False))
    return 0
