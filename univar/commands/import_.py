"""Import QA pairs (generic CSV, UniVaR paper CSVs), PVQ-RR item text or ValuePrism situations.

The whole file is checked first and every problem is listed with its row and column; then all
rows go in as one dataset in one transaction, or nothing does.
"""

from __future__ import annotations

import argparse
import sys

from univar.errors import UserError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("files", nargs="+", metavar="FILE", help="file(s) to import")
    parser.add_argument(
        "--format",
        default="csv",
        choices=("csv", "univar-paper", "pvq-rr", "valueprism"),
        help="csv: question, answer, model, language (+ question_en, answer_en, value, "
        "framework, sample); univar-paper: the paper's per-model CSVs (question, answer, lang)",
    )
    parser.add_argument("--dataset", help="dataset name (default: the first file's name)")
    parser.add_argument("--model", help="model of every row (univar-paper default: the file name)")
    parser.add_argument(
        "--accept-formula-cells",
        action="store_true",
        help="import cells that start with = + - @ as they are (CSV exports neutralise them)",
    )
    parser.add_argument(
        "--translate-with",
        metavar="MODEL",
        help="translate non-English rows without question_en/answer_en to English with this "
        "litellm model (default: embed them as they are)",
    )
    parser.add_argument("--api-base", help="API base URL of the --translate-with model")
    parser.add_argument(
        "--check", action="store_true", help="validate and summarise only; write nothing"
    )
    parser.add_argument(
        "--max-mb", type=float, help="file size limit in MB (default: $UNIVAR_MAX_UPLOAD_MB or 50)"
    )


def run(args) -> int:
    from univar.ingest import importers

    max_bytes = int(args.max_mb * 1024 * 1024) if args.max_mb else None
    v = None
    if args.format in ("csv", "univar-paper"):
        v = importers.validate_files(
            args.files, layout=args.format, model=args.model, max_bytes=max_bytes
        )
        for note in v.notes:
            print(f"note: {note}", file=sys.stderr)
        for problem in v.errors + ([] if args.accept_formula_cells else v.confirm):
            print(f"problem: {problem}", file=sys.stderr)
        if v.confirm and not args.accept_formula_cells and not v.errors:
            print("rerun with --accept-formula-cells to import them as they are", file=sys.stderr)
        s = v.summary()
        print(
            f"{s['rows']} QA pairs; models: {', '.join(s['models'])}; "
            f"languages: {', '.join(s['languages'])}"
        )
        if args.check:
            return 0 if v.ok and (args.accept_formula_cells or not v.confirm) else 2
    translate = None
    if args.translate_with:
        translate = importers.llm_translator(args.translate_with, args.api_base, args.db)
    try:
        result = importers.import_files(
            args.format,
            args.files,
            args.db,
            dataset=args.dataset,
            model=args.model,
            accept_formulas=args.accept_formula_cells,
            translate=translate,
            max_bytes=max_bytes,
            validation=v,
        )
    except UserError as exc:
        print(f"error: {exc}; nothing was written", file=sys.stderr)
        return 2
    print(f"imported {result.rows} rows into {result.dataset!r}")
    return 0
