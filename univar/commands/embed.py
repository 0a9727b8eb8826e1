"""Embed QA pairs with a sentence encoder (cached per encoder and text)."""

from __future__ import annotations

import sys
import time

from univar.config import field_default
from univar.quality.filter import QualityFilter


def embedding_progress(quiet: bool):
    """A progress callback (encoder name, done, total) for verbs that embed with several
    encoders: one line on stderr, rewritten in place; nothing when `quiet` (--json)."""

    def progress(name: str, done: int, total: int) -> None:
        if total and not quiet:
            print(f"\rembedding with {name}: {done}/{total}", end="", file=sys.stderr)

    return progress


def add_quality_argument(parser) -> None:
    """--include-flagged, for every verb that reads QA pairs for a map or a model."""
    parser.add_argument(
        "--include-flagged",
        action="store_true",
        default=field_default(QualityFilter, "include_flagged"),
        help="use QA pairs the quality checks flagged too (default: they are left out)",
    )


def quality_of(args) -> QualityFilter:
    return QualityFilter(include_flagged=args.include_flagged)


def add_arguments(parser) -> None:
    parser.add_argument(
        "--encoder",
        help="sentence-transformers name or path, or a trained univar directory "
        "(default: the shipped encoder, else all-MiniLM-L6-v2)",
    )
    parser.add_argument("--dataset", action="append", help="only this dataset (repeatable)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument(
        "--trust-remote-code", action="store_true", help="let the encoder run its own model code"
    )
    add_quality_argument(parser)


def run(args) -> int:
    from univar import encoders
    from univar.errors import UserError

    if args.batch_size < 1:
        raise UserError(f"--batch-size must be at least 1, got {args.batch_size}")
    encoder = encoders.LazyEncoder(args.encoder, trust_remote_code=args.trust_remote_code)

    def progress(done: float, total: float, message: str = "") -> None:
        if total:
            print(f"\rembedding {done:,}/{total:,} new texts", end="", file=sys.stderr, flush=True)

    started = time.perf_counter()
    every = encoders.qa_frame(args.db, args.dataset)
    frame = quality_of(args).keep(args.db, every)
    vectors = encoders.embed_texts(
        list(frame["text"]), encoder, args.db, batch_size=args.batch_size, progress=progress
    )
    print(file=sys.stderr)
    left = len(every) - len(frame)
    print(
        f"{len(frame):,} QA pairs embedded with {encoder.id} "
        f"({vectors.shape[1] if len(frame) else '-'}-d) in {time.perf_counter() - started:.1f} s"
        + (f"; {left:,} flagged by the quality checks left out (--include-flagged)" if left else "")
    )
    return 0
