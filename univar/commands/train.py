"""Train a UniVaR value encoder (full, LoRA or projection head) on the QA pairs in the store."""

from __future__ import annotations

import argparse
import json

from univar import hardware
from univar.ingest import value_fulcra
from univar.training import settings


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from univar.commands.evaluate import add_data_arguments
    from univar.training.settings import DEFAULT_LR

    parser.add_argument("--out", required=True, help="directory for the encoder and checkpoints")
    parser.add_argument("--mode", choices=("full", "lora", "head"), default="lora")
    parser.add_argument("--lambda", dest="lam", type=int, default=5, help="most QAs in one view")
    parser.add_argument(
        "--epochs", type=float, help="passes over the training QAs (default: 50 head, 1 others)"
    )
    parser.add_argument("--steps", type=int, help="train this many steps (overrides --epochs)")
    parser.add_argument("--batch-size", type=int, default=32, help="views per step (even)")
    parser.add_argument(
        "--lr", type=float, help=f"learning rate (default {DEFAULT_LR} by mode)".replace("'", "")
    )
    parser.add_argument("--temperature", type=float, default=0.05, help="InfoNCE temperature")
    parser.add_argument("--loss", choices=("multipos", "infonce"), default="multipos")
    parser.add_argument(
        "--one-way", action="store_true", help="infonce: one direction only (not symmetric)"
    )
    parser.add_argument("--base", default="all-MiniLM-L6-v2", help="encoder to start from")
    parser.add_argument("--max-seq-length", type=int, default=128)
    parser.add_argument("--lora-r", type=int, default=16)
    parser.add_argument("--checkpoint-every", type=int, default=0, help="steps (0: each epoch)")
    parser.add_argument("--resume", action="store_true", help="continue the run in --out")
    # --split here leaves that split's test part out, so `evaluate --split` measures held-out data
    add_data_arguments(parser, split_default=None)


def run(args) -> int:
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
        split=args.split,
        holdout_fraction=args.holdout_fraction,
        seed=args.seed,
        lora_r=args.lora_r,
        lora_alpha=2 * args.lora_r,
        checkpoint_every=args.checkpoint_every,
    )
    train.check_out(args.out, args.resume)  # before any import writes
    if args.value_fulcra:
        value_fulcra.load_value_fulcra(args.value_fulcra, args.db)
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
