"""Score which Schwartz values a model$language's answers express (the Value FULCRA scorer)."""

from __future__ import annotations

import json
import sys

from univar.commands.embed import add_quality_argument, embedding_progress, quality_of


def add_arguments(parser) -> None:
    parser.add_argument("--identity", required=True, help="model$language, e.g. 'gemini$eng'")
    add_quality_argument(parser)
    parser.add_argument("--json", action="store_true", help="print the profile as JSON")


def _table(frame) -> str:
    head = f"{'value':<16} {'answers':>7} {'supporting':>10} {'opposing':>8} {'net':>6}"
    lines = [head]
    for r in frame.itertuples():
        if r.n:
            cells = f"{r.share_supporting:>10.0%} {r.share_opposing:>8.0%} {r.net:>+6.2f}"
        else:
            cells = f"{'-':>10} {'-':>8} {'-':>6}"
        lines.append(f"{r.value_name:<16} {r.n:>7,} {cells}")
    return "\n".join(lines)


def run(args) -> int:
    from univar.analysis import expression

    scorer = expression.load_scorer()
    show = embedding_progress(args.json)
    shown = []

    def progress(done: float, total: float, message: str = "") -> None:
        shown.append(total)
        show(scorer.base_encoder, done, total)

    quality = quality_of(args)
    frame = expression.value_expression(
        args.db, args.identity, quality=quality, progress=progress, scorer=scorer
    )
    if any(shown) and not args.json:
        print(file=sys.stderr)  # ends the progress line
    f1, majority = scorer.held_out()
    if args.json:
        out = {
            "identity": args.identity,
            "quality": quality.describe(),
            "scorer": {
                "name": scorer.card.get("name"),
                "version": scorer.card.get("version"),
                "base_encoder": scorer.base_encoder,
                "held_out_macro_f1": f1,
                "held_out_majority_macro_f1": majority,
            },
            "values": json.loads(frame.to_json(orient="records")),
        }
        print(json.dumps(out, ensure_ascii=False, indent=2))
        return 0
    n = int(frame["n"].iloc[0]) if len(frame) else 0
    print(
        f"{args.identity}: {n:,} answers ({quality.describe()}), scored by "
        f"{scorer.card.get('name')} ({scorer.headline()}, Value FULCRA held-out; estimates)"
    )
    print(_table(frame))
    return 0
