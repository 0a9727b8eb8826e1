"""Measure encoders as the UniVaR paper does: identify a single QA's source by k-NN and a probe."""

from __future__ import annotations

import argparse

from univar.analysis import evaluation
from univar.commands.embed import add_quality_argument, embedding_progress, quality_of
from univar.config import field_default
from univar.training.splits import SPLITS, Split


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--encoder",
        action="append",
        default=[],
        help="an encoder to measure (repeatable; default: the app's default encoder); "
        "a trained one brings its base along, and TF-IDF is always added",
    )
    add_data_arguments(parser, Split, "kind")
    parser.add_argument(
        "--k",
        type=int,
        default=evaluation.DEFAULT_K,
        help="neighbours for k-NN (default: %(default)s)",
    )
    parser.add_argument("--metric", choices=evaluation.METRICS, default=evaluation.DEFAULT_METRIC)
    parser.add_argument("--target", choices=evaluation.TARGETS, default=evaluation.DEFAULT_TARGET)
    parser.add_argument(
        "--method", choices=evaluation.METHODS, action="append", help="default: all of them"
    )
    parser.add_argument("--no-tfidf", action="store_true", help="leave the TF-IDF baseline out")
    parser.add_argument("--json", action="store_true", help="print the table as JSON")
    parser.add_argument(
        "--record", action="store_true", help="write the results into each trained encoder's card"
    )


def add_data_arguments(parser: argparse.ArgumentParser, settings: type, split_field: str) -> None:
    """What `train` and `evaluate` read alike: which QAs (datasets, quality filter), which
    split, which seed.

    The defaults are those of the `settings` dataclass (TrainConfig or Split), whose split kind
    is its field `split_field`: train holds nothing out unless asked, evaluate always does.
    """
    parser.add_argument("--datasets", nargs="+", help="use these datasets (default: all)")
    parser.add_argument(
        "--split",
        choices=SPLITS,
        default=field_default(settings, split_field),
        help="random: per identity (the paper's); question: test questions unseen in training; "
        "model: whole models unseen in training (one fold of them held out)",
    )
    parser.add_argument(
        "--holdout-fraction",
        type=float,
        default=field_default(settings, "holdout_fraction"),
        help="share of the questions held out (model split: of the held-out models' questions, "
        "those the classifier is tested on)",
    )
    parser.add_argument("--seed", type=int, default=field_default(settings, "seed"))
    parser.add_argument(
        "--folds",
        type=int,
        default=field_default(settings, "folds"),
        help="model split: deal the models into this many folds (default: %(default)s)",
    )
    parser.add_argument(
        "--fold",
        type=int,
        default=field_default(settings, "fold"),
        help="model split: hold out the models of this fold, 0 .. folds-1 (default: "
        + ("every fold in turn" if field_default(settings, "fold") is None else "%(default)s")
        + ")",
    )
    parser.add_argument(
        "--value-fulcra", metavar="JSONL", help="first import this Value FULCRA file"
    )
    add_quality_argument(parser)


def run(args) -> int:
    from univar.ingest.value_fulcra import load_value_fulcra

    if args.value_fulcra:
        load_value_fulcra(args.value_fulcra, args.db)

    progress = embedding_progress(args.json)

    report = evaluation.evaluate(
        args.encoder,
        args.db,
        split=args.split,
        holdout_fraction=args.holdout_fraction,
        seed=args.seed,
        folds=args.folds,
        fold=args.fold,
        k=args.k,
        metric=args.metric,
        target=args.target,
        datasets=args.datasets,
        tfidf=not args.no_tfidf,
        methods=tuple(args.method or evaluation.METHODS),
        quality=quality_of(args),
        progress=progress,
    )
    if args.record:
        for name in args.encoder:
            if evaluation.trained_dir(name):
                evaluation.record_metrics(evaluation.trained_dir(name), report)
    if args.json:
        print(evaluation.to_json(report))
        return 0
    table = report.table.drop(columns=["encoder_id"])
    if report.split.kind == "model":
        print_model_split(report)
        return 0
    print(
        f"\n{report.split.kind} split ({report.split.holdout_fraction:.0%} held out), "
        f"target {report.target}, k = {report.k}, {table['classes'].iloc[0]} classes, "
        f"{report.quality.describe()}; percent"
    )
    print(table.to_string(index=False))
    return 0


def print_model_split(report) -> None:
    split = report.split
    print(
        f"\nmodel split: {split.folds} folds of the models (seed {split.seed}), each fold's "
        f"identities told apart from {split.holdout_fraction:.0%} of their questions held out, "
        f"target {report.target}, k = {report.k}, {report.quality.describe()}; percent; "
        "chance: the largest class's share of the test rows (uniform: 1 / classes)"
    )
    for fold, models in report.fold_models.items():
        print(f"fold {fold} holds out: {', '.join(models)}")
    print("\nper fold:")
    print(report.table.drop(columns=["encoder_id", "models"]).to_string(index=False))
    print("\nmean over folds:")
    print(report.mean.drop(columns=["encoder_id"]).to_string(index=False))
