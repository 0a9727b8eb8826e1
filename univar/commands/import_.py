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
        help="import cells that start with = + - @ (after any blanks) as they are (CSV exports "
        "neutralise them)",
    )
    parser.add_argument(
        "--skip-duplicates",
        action="store_true",
        help="leave out rows that repeat an earlier row exactly (the same model, language, "
        "question, answer, sample and every other cell) and say how many; a repeat that "
        "differs in any cell is still refused",
    )
    parser.add_argument(
        "--translate-with",
        metavar="MODEL",
        help="translate non-English rows without question_en/answer_en to English with this "
        "litellm model (default: embed them as they are)",
    )
    parser.add_argument("--api-base", help="API base URL of the --translate-with model")
    parser.add_argument(
        "--api-key-env",
        metavar="NAME",
        help="environment variable holding the key for --api-base (a provider's key goes "
        "only to that provider's own endpoints unless named here)",
    )
    parser.add_argument(
        "--check", action="store_true", help="validate and summarise only; write nothing"
    )
    parser.add_argument(
        "--max-mb",
        type=float,
        help=f"file size limit in MB for this run (default: {_limit()}, the server's upload "
        "limit: max_upload_mb in the [univar] table of .streamlit/secrets.toml or "
        "$UNIVAR_MAX_UPLOAD_MB)",
    )


def _limit() -> str:
    from univar.ingest.csvfile import max_upload_mb

    try:
        return f"{max_upload_mb()} MB"
    except UserError as exc:  # broken settings: --help still works and says why
        return "unreadable: " + str(exc).replace("%", "%%")


def run(args) -> int:
    from univar.ingest import importers

    max_bytes = int(args.max_mb * 1024 * 1024) if args.max_mb else None
    v = None
    if args.format in ("csv", "univar-paper"):
        v = importers.validate_files(
            args.files,
            layout=args.format,
            model=args.model,
            max_bytes=max_bytes,
            skip_duplicates=args.skip_duplicates,
        )
        for note in v.notes:
            print(f"note: {note}", file=sys.stderr)
        blocking = v.errors + ([] if args.accept_formula_cells else v.confirm)
        for problem in blocking:
            print(f"problem: {problem}", file=sys.stderr)
        if v.confirm and not args.accept_formula_cells and not v.errors:
            print("rerun with --accept-formula-cells to import them as they are", file=sys.stderr)
        if v.duplicates and not args.skip_duplicates:
            print(
                "rerun with --skip-duplicates to leave out rows that repeat another exactly",
                file=sys.stderr,
            )
        if v.ok:
            s = v.summary()
            print(
                f"{s['rows']} QA pairs; models: {', '.join(s['models'])}; "
                f"languages: {', '.join(s['languages'])}"
            )
        if args.check or blocking:  # each problem was said once, above
            if blocking and not args.check:
                print("nothing was written", file=sys.stderr)
            return 2 if blocking else 0
    translate = None
    if args.translate_with:
        from univar.commands.elicit import api_key_from_env

        translate = importers.llm_translator(
            args.translate_with,
            args.api_base,
            args.db,
            api_key=api_key_from_env(args.api_key_env),
        )
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
            skip_duplicates=args.skip_duplicates,
        )
    except UserError as exc:
        print(f"error: {exc}; nothing was written", file=sys.stderr)
        return 2
    dropped = f" ({result.dropped} exact duplicate rows dropped)" if result.dropped else ""
    print(f"imported {result.rows} rows into {result.dataset!r}{dropped}")
    return 0
