"""Survey an LLM with the 57 PVQ-RR-keyed portraits and score 19 Schwartz values per language.

Each item is asked on the 6-point scale (translated for other languages), the rating is parsed
from the reply (unparseable replies are stored with no rating), and the value scores are the
value means centred on the respondent's mean. Requests are cached: a rerun asks only what is
missing. `--list` prints the stored scores instead.
"""

from __future__ import annotations

import argparse
import sys

from univar.config import field_default
from univar.elicit import survey
from univar.errors import UserError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    def default(name: str):
        return field_default(survey.SurveyConfig, name)

    parser.add_argument("--model", help="litellm model string, e.g. openai/smollm2")
    parser.add_argument(
        "--api-base",
        default=default("api_base"),
        help="API base URL (self-hosted or local servers)",
    )
    parser.add_argument("--api-key", help="API key (default: the provider's env variable)")
    parser.add_argument(
        "--languages",
        default=",".join(default("languages")),
        help="comma-separated ISO 639-3 codes (default: %(default)s)",
    )
    parser.add_argument(
        "--instrument",
        default=default("instrument"),
        choices=survey.SURVEY_INSTRUMENTS,
        help="univar-portraits (shipped) or pvq-rr (after `import --format pvq-rr FILE`)",
    )
    parser.add_argument(
        "--samples",
        type=int,
        default=default("samples"),
        help="answers per item (default: %(default)s)",
    )
    parser.add_argument("--temperature", type=float, default=default("temperature"))
    parser.add_argument("--top-p", type=float, default=default("top_p"))
    parser.add_argument("--max-tokens", type=int, default=default("max_tokens"))
    parser.add_argument("--concurrency", type=int, default=default("concurrency"))
    parser.add_argument(
        "--translator",
        default=default("translator"),
        help="litellm model that translates (default: --model)",
    )
    parser.add_argument(
        "--translator-api-base",
        default=default("translator_api_base"),
        help="API base URL of the translator",
    )
    parser.add_argument("--list", action="store_true", help="print stored scores and exit")


def _print_scores(df) -> None:
    if df.empty:
        print("no survey scores stored")
        return
    table = df.pivot_table(index="value_name", columns="identity", values="centred", sort=False)
    print(table.round(2).to_string())


def run(args: argparse.Namespace) -> int:

    if args.list:
        _print_scores(survey.survey_profile(args.db, None, args.instrument))
        return 0
    if not args.model:
        raise UserError("--model is required (or use --list)")
    cfg = survey.SurveyConfig(
        model=args.model,
        languages=tuple(args.languages.split(",")),
        instrument=args.instrument,
        api_base=args.api_base,
        samples=args.samples,
        temperature=args.temperature,
        top_p=args.top_p,
        max_tokens=args.max_tokens,
        concurrency=args.concurrency,
        translator=args.translator,
        translator_api_base=args.translator_api_base,
    )

    def progress(language: str, rated: int, total: int) -> None:
        print(f"{language}: {rated}/{total} answers gave a rating", file=sys.stderr)

    _print_scores(survey.run(cfg, args.db, api_key=args.api_key, progress=progress))
    return 0
