"""Check QA pairs for quality problems (language, refusals, echoes, leaks; resumable) and summarise."""

from __future__ import annotations

import json
import sys


def add_arguments(parser) -> None:
    parser.add_argument("--dataset", action="append", help="only this dataset (repeatable)")
    parser.add_argument(
        "--recheck",
        action="store_true",
        help="check every selected QA pair again, replacing its verdict under this checker",
    )
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def _table(frame, totals: dict) -> str:
    from univar.quality import FLAGS

    flags = [f for f in FLAGS if totals["by_flag"][f]]
    head = ["model$language", "QA pairs", "checked", "passing", "share", *flags]
    rows = [
        [
            r.identity,
            f"{r.qa_pairs:,}",
            f"{r.checked:,}",
            f"{r.passing:,}",
            "-" if r.checked == 0 else f"{r.share_passing:.0%}",
            *(f"{getattr(r, f):,}" for f in flags),
        ]
        for r in frame.itertuples()
    ]
    widths = [max(len(str(x)) for x in col) for col in zip(head, *rows, strict=True)]

    def line(cells) -> str:
        first = f"{cells[0]:<{widths[0]}}"
        return "  ".join(
            [first, *(f"{c:>{w}}" for c, w in zip(cells[1:], widths[1:], strict=True))]
        )

    return "\n".join([line(head), *map(line, rows)])


def run(args) -> int:
    from univar import quality

    bars = []

    def progress(done: float, total: float, message: str = "") -> None:
        if not bars:  # made at the first report, when the number to check is known
            from tqdm import tqdm

            bars.append(tqdm(total=total, unit="qa", file=sys.stderr, dynamic_ncols=True))
            bars[0].set_description("checking")
        bars[0].n = done
        bars[0].refresh()

    try:
        result = quality.run_checks(
            args.db,
            datasets=args.dataset,
            recheck=args.recheck,
            progress=None if args.no_progress else progress,
        )
    finally:
        for bar in bars:
            bar.close()
    frame = quality.summary(args.db, datasets=args.dataset)
    totals = quality.totals(frame)
    if args.json:
        rows = json.loads(frame.to_json(orient="records"))
        print(json.dumps({"run": result, "totals": totals, "identities": rows}, indent=2))
        return 0
    print(
        f"checked {result['checked']:,} QA pairs in {result['seconds']:.1f} s "
        f"({result['already_checked']:,} already checked; checker {result['checker_version']})",
        file=sys.stderr,
    )
    if frame.empty:
        print("no QA pairs to check")
        return 0
    print(_table(frame, totals))
    share = totals["share_passing"]
    flagged = ", ".join(f"{n:,} {f}" for f, n in totals["by_flag"].items() if n) or "none"
    print(
        f"\nall: {totals['passing']:,} of {totals['checked']:,} checked QA pairs pass "
        f"({'-' if share is None else f'{share:.1%}'}); flags: {flagged}"
    )
    if totals["unchecked"]:
        print(f"{totals['unchecked']:,} QA pairs are not checked yet (they pass every filter)")
    return 0
