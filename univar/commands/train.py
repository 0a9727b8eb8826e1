"""Train a UniVaR value encoder (full, LoRA or projection head) on the QA pairs in the store."""

from __future__ import annotations

import argparse
import json
import sys

from univar import hardware
from univar.config import field_default
from univar.encoders.trained import MODES
from univar.ingest import value_fulcra
from univar.training import settings
from univar.training.losses import LOSSES


def _by_mode(values: dict) -> str:
    return ", ".join(f"{value:g} {mode}" for mode, value in values.items())


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from univar.commands.evaluate import add_data_arguments

    def default(name: str):
        return field_default(settings.TrainConfig, name)

    parser.add_argument("--out", required=True, help="directory for the encoder and checkpoints")
    parser.add_argument(
        "--mode", choices=MODES, default=default("mode"), help="(default: %(default)s)"
    )
    parser.add_argument(
        "--lambda",
        dest="lam",
        type=int,
        default=default("lam"),
        help="most QAs in one view (default: %(default)s)",
    )
    parser.add_argument(
        "--epochs",
        type=float,
        default=default("epochs"),
        help=f"passes over the training QAs (default: {_by_mode(settings.DEFAULT_EPOCHS)})",
    )
    parser.add_argument(
        "--steps",
        type=int,
        default=default("steps"),
        help="train this many steps (overrides --epochs)",
    )
    parser.add_argument(
        "--batch-size",
        type=int,
        default=default("batch_size"),
        help="views per step, even (default: %(default)s)",
    )
    parser.add_argument(
        "--lr",
        type=float,
        default=default("lr"),
        help=f"learning rate (default: {_by_mode(settings.DEFAULT_LR)})",
    )
    parser.add_argument(
        "--temperature",
        type=float,
        default=default("temperature"),
        help="InfoNCE temperature (default: %(default)s)",
    )
    parser.add_argument(
        "--loss", choices=LOSSES, default=default("loss"), help="(default: %(default)s)"
    )
    # symmetric is the dataclass default, so the flag turns it off
    parser.add_argument(
        "--one-way", action="store_true", help="infonce: one direction only (not symmetric)"
    )
    parser.add_argument(
        "--base", default=default("base"), help="encoder to start from (default: %(default)s)"
    )
    parser.add_argument("--max-seq-length", type=int, default=default("max_seq_length"))
    parser.add_argument(
        "--lora-r", type=int, default=default("lora_r"), help="LoRA rank; alpha is twice it"
    )
    parser.add_argument(
        "--checkpoint-every",
        type=int,
        default=default("checkpoint_every"),
        help="steps (0: each epoch)",
    )
    parser.add_argument("--resume", action="store_true", help="continue the run in --out")
    parser.add_argument(
        "--also-train",
        action="append",
        metavar="DATASET",
        help="a dataset whose QA pairs all join the training set, outside --split (repeatable)",
    )
    # --split here leaves that split's test part out, so `evaluate --split` measures held-out data
    add_data_arguments(parser, settings.TrainConfig, "split")


def run(args) -> int:
    from univar.commands.embed import quality_of
    from univar.training import train

    cfg = settings.TrainConfig(
        mode=args.mode,
        lam=args.lam,
        epochs=args.epochs,
        steps=args.steps,
        batch_size=args.batch_size,
        lr=args.lr,
        temperature=args.temperature,
        loss=args.loss,
        symmetric=not args.one_way,
        base=args.base,
        max_seq_length=args.max_seq_length,
        datasets=tuple(args.datasets or ()),
        also_train=tuple(args.also_train or ()),
        split=args.split,
        holdout_fraction=args.holdout_fraction,
        seed=args.seed,
        folds=args.folds,
        fold=args.fold,
        lora_r=args.lora_r,
        lora_alpha=2 * args.lora_r,
        checkpoint_every=args.checkpoint_every,
        quality=quality_of(args),
    )
    train.check_out(args.out, args.resume)  # before any import writes
    if args.value_fulcra:
        print(f"importing Value FULCRA from {args.value_fulcra}", file=sys.stderr, flush=True)
        n = value_fulcra.load_value_fulcra(args.value_fulcra, args.db)
        print(f"{n:,} Value FULCRA QA pairs in the store", file=sys.stderr)
    info = hardware.cuda_info()
    print(f"device: {info['name'] or 'CPU (no CUDA GPU found)'}")
    record = train.train(cfg, args.out, args.db, resume=args.resume, show_bar=True)
    t = record["training"]
    print(
        json.dumps(
            {
                "out": args.out,
                "status": t["status"],
                "steps": t["steps"],
                "seconds": t["seconds"],
                "qas_per_s": t["qas_per_s"],
                "final_loss": t["final_loss"],
            }
        )
    )
    return 0 if t["status"] == "done" else 1
