"""`python -m univar <verb>`: the same core calls the pages make.

Each verb lives in `univar/commands/<verb>.py` with `add_arguments(parser)` and `run(args) -> int`
and a one-line module docstring used as its help. Modules load only when their verb is used,
so `python -m univar --help` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from univar.errors import UserError

VERBS = {
    "serve-local": "serve_local",
    "questions": "questions",
    "elicit": "elicit",
    "stats": "stats",
    "check": "check",
    "embed": "embed",
    "project": "project",
    "train": "train",
    "evaluate": "evaluate",
    "diagnose": "diagnose",
    "expression": "expression",
    "import": "import_",
    "survey": "survey",
    "export": "export",
    "demo": "demo",
}


def _module(verb: str):
    return importlib.import_module(f"univar.commands.{VERBS[verb]}")


def build_parser(verbs: list[str] | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m univar", description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    sub = parser.add_subparsers(dest="verb", metavar="VERB")
    for verb in verbs if verbs is not None else VERBS:
        try:
            module = _module(verb)
        except ModuleNotFoundError:
            continue  # a verb whose module is not written yet stays hidden
        p = sub.add_parser(verb, help=(module.__doc__ or "").strip().splitlines()[0])
        p.add_argument("--db", help="DuckDB file (default: $UNIVAR_DB or data/univar.duckdb)")
        module.add_arguments(p)
        p.set_defaults(_run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    # Only build the subparser that is asked for: importing every verb module would be slow.
    verb = next((a for a in argv if not a.startswith("-")), None)
    parser = build_parser([verb] if verb in VERBS else None)
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    if not getattr(args, "_run", None):
        parser.print_help()
        return 2
    try:
        return int(args._run(args) or 0)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: finished work is saved; rerun to continue", file=sys.stderr)
        return 130
