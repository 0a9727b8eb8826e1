"""Ask an LLM the value questions in several languages, translated both ways (cached; rerun to resume)."""

from __future__ import annotations

import os
import sys

from univar.catalog import questions, registry
from univar.config import field_default
from univar.elicit.settings import ElicitConfig, GenerationConfig
from univar.errors import UserError


def add_arguments(p) -> None:
    g = GenerationConfig()

    def default(name: str):
        return field_default(ElicitConfig, name)

    p.add_argument("--model", required=True, help="litellm model string, e.g. openai/gpt-4o-mini")
    p.add_argument(
        "--api-base",
        default=default("api_base"),
        help="OpenAI-compatible endpoint, e.g. http://127.0.0.1:8010/v1",
    )
    p.add_argument(
        "--api-key-env",
        metavar="NAME",
        help="environment variable holding the key for --api-base and --translator-api-base "
        "(a provider's key, e.g. OPENAI_API_KEY, goes only to that provider's own endpoints "
        "unless named here)",
    )
    p.add_argument("--languages", required=True, help="ISO 639-3 codes, e.g. eng,fra,zho")
    p.add_argument(
        "--questions",
        default="all",
        help="all (the value questions), a number N (value-balanced), control (the non-value "
        "controls) or control:N, instrument:NAME (e.g. instrument:univar-portraits) or a CSV",
    )
    p.add_argument(
        "--samples",
        type=int,
        default=default("samples"),
        help="answers per question and language (default: %(default)s)",
    )
    p.add_argument(
        "--concurrency",
        type=int,
        default=default("concurrency"),
        help="requests in flight per endpoint (default: %(default)s)",
    )
    p.add_argument(
        "--translator",
        default=default("translator"),
        help="litellm model that translates (default: --model)",
    )
    p.add_argument(
        "--translator-api-base",
        default=default("translator_api_base"),
        help="endpoint of the translator model",
    )
    p.add_argument(
        "--fallback-translator",
        default=default("fallback_translator"),
        help="litellm model asked for an answer's English when the translator's two tries do "
        "not read as English (default: none)",
    )
    p.add_argument(
        "--fallback-translator-api-base",
        default=default("fallback_translator_api_base"),
        help="endpoint of the fallback translator",
    )
    p.add_argument("--temperature", type=float, default=g.temperature)
    p.add_argument("--top-p", type=float, default=g.top_p)
    p.add_argument("--max-tokens", type=int, default=g.max_tokens, help="new tokens per answer")
    p.add_argument(
        "--system-prompt", default=g.system_prompt, help="default: none, as in the paper"
    )
    p.add_argument(
        "--timeout",
        type=float,
        default=default("timeout_s"),
        help="seconds per request attempt (default: %(default)s)",
    )
    p.add_argument("--max-retries", type=int, default=default("max_retries"))
    p.add_argument(
        "--dataset",
        default=default("dataset"),
        help="dataset name the answers go into (default: %(default)s)",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def api_key_from_env(name: str | None) -> str | None:
    """The key in environment variable `name` (None: no name given); UserError when unset."""
    if not name:
        return None
    if not os.environ.get(name):
        raise UserError(f"--api-key-env {name}: that environment variable is not set")
    return os.environ[name]


def run(args) -> int:
    """Exit 0 when every QA pair has an answer, 1 when some failed (rerun retries them)."""
    from univar.elicit import engine
    from univar.elicit.plan import prepare

    api_key = api_key_from_env(args.api_key_env)

    config = ElicitConfig(
        model=registry.check_model_string(args.model),
        languages=registry.parse_languages(args.languages),
        question_ids=("-",),  # replaced below, once the languages and model are known good
        api_base=(args.api_base or "").rstrip("/") or None,
        samples=args.samples,
        concurrency=args.concurrency,
        timeout_s=args.timeout,
        max_retries=args.max_retries,
        translator=args.translator,
        translator_api_base=(args.translator_api_base or "").rstrip("/") or None,
        fallback_translator=args.fallback_translator,
        fallback_translator_api_base=(args.fallback_translator_api_base or "").rstrip("/") or None,
        dataset=args.dataset,
        generation=GenerationConfig(
            temperature=args.temperature,
            top_p=args.top_p,
            max_tokens=args.max_tokens,
            system_prompt=args.system_prompt,
        ),
    )
    qs = questions.select_questions(args.db, args.questions)
    config = type(config)(**{**config.__dict__, "question_ids": tuple(q.question_id for q in qs)})
    prepare(config, args.db, qs)  # fails fast on an unreachable endpoint, before the plan
    print(engine.plan(config, args.db, questions=qs).line(), file=sys.stderr)

    bar = None
    if not args.no_progress:
        from tqdm import tqdm

        bar = tqdm(
            total=len(qs) * len(config.languages) * config.samples,
            unit="qa",
            file=sys.stderr,
            dynamic_ncols=True,
        )

    def progress(counters) -> None:
        cs = counters.values()
        bar.n = sum(c.done for c in cs)
        bar.set_postfix(cached=sum(c.cached for c in cs), failed=sum(c.failed for c in cs))

    try:
        summary = engine.run(
            config,
            args.db,
            questions=qs,
            api_key=api_key,
            translator_api_key=api_key if config.translator_api_base else None,
            progress=progress if bar else None,
        )
    finally:
        if bar is not None:
            bar.close()
    print(summary.line())
    _check_quality(args.db, config.dataset)
    if summary.failed:
        print(
            f"{summary.failed} QA pairs failed; see `python -m univar stats` and rerun to "
            "retry them",
            file=sys.stderr,
        )
    return 1 if summary.failed else 0


def _check_quality(db, dataset: str) -> None:
    """Quality verdicts of the answers just stored; a failing checker only says so."""
    from univar.quality import check_new

    done = check_new(db, datasets=[dataset], say=lambda m: print(m, file=sys.stderr))
    if done and done["checked"]:
        print(
            f"quality checks: {done['checked']:,} new QA pairs, {done['flagged']:,} flagged "
            "(`python -m univar check` shows the table)",
            file=sys.stderr,
        )
