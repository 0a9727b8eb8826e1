"""Load the value taxonomy and question bank into the store, or list the bank's questions."""

from __future__ import annotations

import argparse

from univar.catalog import questions


def add_arguments(p) -> None:
    sub = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    load = sub.add_parser(
        "load", help="upsert data/values.csv and data/questions.csv into the store"
    )
    ls = sub.add_parser("list", help="print questions: all, N value-balanced, or a CSV file")
    for action in (
        load,
        ls,
    ):  # `questions load --db X` reads as naturally as `questions --db X load`
        action.add_argument("--db", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    ls.add_argument(
        "--questions", default="all", help="all, a number N, control, control:N or a CSV file"
    )
    ls.add_argument("--framework", help="only this framework (case-insensitive)")
    ls.add_argument("--value", help="only this value code (case-insensitive)")


def run(args) -> int:
    if args.action == "load":
        n_values, n_questions = questions.load_bank(args.db)
        print(f"loaded {n_values} values and {n_questions} questions")
        return 0
    picked = questions.select_questions(args.db, args.questions)
    for q in picked:
        if args.framework and (q.framework or "").lower() != args.framework.lower():
            continue
        if args.value and (q.value_code or "").lower() != args.value.lower():
            continue
        print(f"{q.question_id}\t{q.framework or '-'}\t{q.value_code or '-'}\t{q.question}")
    return 0
