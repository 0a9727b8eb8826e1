"""Precision and recall of the quality checker against the hand-labelled QA pairs.

    python scripts/quality_eval.py            # the table: per flag support, TP, FP, FN, P, R
    python scripts/quality_eval.py --errors   # and every false positive and false negative
    python scripts/quality_eval.py --json     # the same figures as JSON

The labels live in tests/data/quality_labels.csv: demo rows hold their own text (our own
generated data); Value FULCRA rows hold only their line number in
../shared/data/value_fulcra_trustworthy.jsonl, read from there at run time and skipped, with a
note, where that file is absent. `--draft OUT.csv` draws the same seeded sample again with
blank labels, which is how the labelled file was started.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LABELS = ROOT / "tests" / "data" / "quality_labels.csv"
FULCRA = ROOT.parent / "shared" / "data" / "value_fulcra_trustworthy.jsonl"
DEMO = ROOT / "data" / "demo" / "qa.parquet"

# The shared flag definitions of issue 14, one label column each.
FLAG_COLUMNS = (
    "empty",
    "truncated",
    "not_english",
    "bad_translation",
    "wrong_language",
    "refusal",
    "echo",
    "degenerate",
)
TEXT_COLUMNS = ("question", "answer", "question_en", "answer_en")
ENGLISH_FLAGS = ("not_english", "bad_translation", "truncated")
ENGLISH_FIELDS = ("question_en", "answer_en")
COLUMNS = ("source", "ref", "language", "model", *TEXT_COLUMNS, *FLAG_COLUMNS, "note")

# The sample: a fixed seed, so that nobody picks rows by what looks interesting.
SEED = 14
DEMO_PER_STRATUM = 14  # x 2 models x 6 languages = 168 demo rows
FULCRA_ROWS = 64


@dataclass
class Row:
    source: str
    ref: str
    language: str
    model: str
    question: str
    answer: str
    question_en: str
    answer_en: str
    labels: frozenset[str]
    note: str = ""


@dataclass
class Loaded:
    rows: list[Row]
    notes: list[str] = field(default_factory=list)


def fulcra_pair(record: dict) -> tuple[str, str]:
    """(prompt, response) of one Value FULCRA record: its dialogue is one human turn and one
    reply, 'Human: ...' then '\\nBob: ...'."""
    dialogue = record["dialogue"]
    head, _, reply = dialogue.partition("\nBob:")
    return head.removeprefix("Human:").strip(), reply.strip()


def fulcra_lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines()


def load(labels: Path = LABELS, fulcra: Path = FULCRA) -> Loaded:
    """The labelled rows with their texts; Value FULCRA rows only where `fulcra` exists."""
    with labels.open(newline="", encoding="utf-8") as f:
        records = list(csv.DictReader(f))
    lines = fulcra_lines(fulcra) if fulcra.exists() else None
    out = Loaded(rows=[])
    skipped = 0
    for rec in records:
        texts = {c: rec[c] for c in TEXT_COLUMNS}
        if rec["source"] == "value_fulcra":
            if lines is None:
                skipped += 1
                continue
            record = json.loads(lines[int(rec["ref"]) - 1])
            question, answer = fulcra_pair(record)
            # English rows: the English fields are the question and answer themselves.
            texts = dict(question=question, answer=answer, question_en=question, answer_en=answer)
            rec = {**rec, "model": rec["model"] or record.get("response_source", "")}
        flags = frozenset(c for c in FLAG_COLUMNS if rec[c] == "1")
        out.rows.append(
            Row(
                rec["source"],
                rec["ref"],
                rec["language"],
                rec["model"],
                **texts,
                labels=flags,
                note=rec["note"],
            )
        )
    if skipped:
        out.notes.append(f"{skipped} Value FULCRA rows skipped: {fulcra} is absent")
    return out


def _names(flags) -> set[str]:
    """Flag names from a checker result's `.flags` (names, a name -> reason mapping, or items
    that carry a `.name`)."""
    if isinstance(flags, dict):
        return set(flags)
    return {getattr(f, "name", f) for f in flags}


def checker() -> tuple[Callable[..., object], tuple[str, ...]]:
    # run as a script, sys.path starts at scripts/, not at the checkout
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from univar.quality import checks

    return checks.check_pair, tuple(getattr(checks, "FLAGS", FLAG_COLUMNS))


def predict(rows: Iterable[Row], check: Callable[..., object]) -> list[set[str]]:
    return [names for names, _ in predict_with_reasons(rows, check)]


def predict_with_reasons(
    rows: Iterable[Row], check: Callable[..., object]
) -> list[tuple[set[str], dict[str, str]]]:
    """Per row: the flags the checker raises and its one-line reason for each (where given)."""
    out = []
    for r in rows:
        result = check(r.language, r.question, r.answer, r.question_en, r.answer_en)
        out.append((_names(result.flags), dict(getattr(result, "reasons", {}) or {})))
    return out


def _ratio(a: int, b: int) -> float | None:
    return round(a / b, 3) if b else None


def wilson_low(k: int, n: int, z: float = 1.96) -> float | None:
    """Lower end of the 95% Wilson interval of k successes in n: how low a precision measured
    on a few dozen flagged rows may really be."""
    if not n:
        return None
    p = k / n
    centre = p + z * z / (2 * n)
    spread = z * ((p * (1 - p) + z * z / (4 * n)) / n) ** 0.5
    return round((centre - spread) / (1 + z * z / n), 3)


def evaluate(
    rows: list[Row],
    predicted: list[set[str]],
    checker_flags: Iterable[str] = (),
    reasons: list[dict[str, str]] | None = None,
) -> dict:
    """Per flag support, predicted, TP, FP, FN, precision and recall; the share of rows passing
    by the labels and by the checker; and the refs of every error."""
    per_flag = {}
    errors = []
    for flag in FLAG_COLUMNS:
        tp = fp = fn = 0
        for i, (row, pred) in enumerate(zip(rows, predicted, strict=True)):
            truth, guess = flag in row.labels, flag in pred
            tp += truth and guess
            fp += guess and not truth
            fn += truth and not guess
            if truth != guess:
                why = reasons[i].get(flag, "") if reasons and guess else ""
                errors.append(
                    {"flag": flag, "kind": "FP" if guess else "FN", "row": row, "reason": why}
                )
        per_flag[flag] = dict(
            support=tp + fn,
            predicted=tp + fp,
            tp=tp,
            fp=fp,
            fn=fn,
            precision=_ratio(tp, tp + fp),
            precision_low=wilson_low(tp, tp + fp),
            recall=_ratio(tp, tp + fn),
        )
    n = len(rows)
    by_source: dict[str, dict] = {}
    # demo rows by model (the two tiny models differ most), Value FULCRA as one group
    groups = [r.source if r.source != "demo" else f"demo {r.model}" for r in rows]
    for source in sorted(set(groups)):
        idx = [i for i, g in enumerate(groups) if g == source]
        by_source[source] = dict(
            rows=len(idx),
            pass_labels=_ratio(sum(not rows[i].labels for i in idx), len(idx)),
            pass_checker=_ratio(sum(not predicted[i] for i in idx), len(idx)),
        )
    return dict(
        rows=n,
        flags=per_flag,
        pass_labels=_ratio(sum(not r.labels for r in rows), n),
        pass_checker=_ratio(sum(not p for p in predicted), n),
        by_source=by_source,
        # flags the checker raises that have no label column cannot be scored
        unscored=sorted(set(checker_flags) - set(FLAG_COLUMNS)),
        errors=errors,
    )


def excerpt(text: str, width: int = 90) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def _fmt(x: float | None) -> str:
    return "  -  " if x is None else f"{x:.3f}"


def table(result: dict) -> str:
    head = f"{'flag':<16}{'support':>8}{'pred':>6}{'TP':>5}{'FP':>5}{'FN':>5}{'prec':>8}{'p95low':>8}{'recall':>8}"
    lines = [head, "-" * len(head)]
    for flag, s in result["flags"].items():
        lines.append(
            f"{flag:<16}{s['support']:>8}{s['predicted']:>6}{s['tp']:>5}{s['fp']:>5}{s['fn']:>5}"
            f"{_fmt(s['precision']):>8}{_fmt(s['precision_low']):>8}{_fmt(s['recall']):>8}"
        )
    lines.append("")
    lines.append(
        f"rows passing (no flag): labels {_fmt(result['pass_labels'])}, "
        f"checker {_fmt(result['pass_checker'])} of {result['rows']}"
    )
    for source, s in result["by_source"].items():
        lines.append(
            f"  {source:<22} {s['rows']:>4} rows: labels {_fmt(s['pass_labels'])}, "
            f"checker {_fmt(s['pass_checker'])}"
        )
    if result["unscored"]:
        lines.append("checker flags with no label column: " + ", ".join(result["unscored"]))
    return "\n".join(lines)


def error_lines(result: dict) -> str:
    lines = []
    for kind in ("FP", "FN"):
        errs = [e for e in result["errors"] if e["kind"] == kind]
        lines.append(f"\n{kind} ({len(errs)})")
        for e in sorted(errs, key=lambda e: (e["flag"], e["row"].source, e["row"].ref)):
            r = e["row"]
            lines.append(f"  {e['flag']:<15} {r.source}:{r.ref[:12]} {r.model} {r.language}")
            # the English fields for the flags about them, the texts as asked for the rest
            fields = ENGLISH_FIELDS if e["flag"] in ENGLISH_FLAGS else ("question", "answer")
            for name in fields:
                lines.append(f"  {'':<15} {name}: {excerpt(getattr(r, name))}")
            if e.get("reason"):
                lines.append(f"  {'':<15} checker: {e['reason']}")
            if r.note:
                lines.append(f"  {'':<15} note: {r.note}")
    return "\n".join(lines)


def as_json(result: dict) -> dict:
    out = {k: v for k, v in result.items() if k != "errors"}
    out["errors"] = [
        {
            "flag": e["flag"],
            "kind": e["kind"],
            "source": e["row"].source,
            "ref": e["row"].ref,
            "reason": e.get("reason", ""),
        }
        for e in result["errors"]
    ]
    return out


def sample_demo(df):
    """The seeded demo sample: DEMO_PER_STRATUM rows of every model x language."""
    import pandas as pd

    df = df.sort_values("qa_id")
    parts = [
        g.sample(n=DEMO_PER_STRATUM, random_state=SEED)
        for _, g in df.groupby(["model", "language"], sort=True)
    ]
    return pd.concat(parts)


def sample_fulcra(n_lines: int) -> list[int]:
    """The seeded Value FULCRA sample: FULCRA_ROWS distinct 1-based line numbers."""
    import numpy as np

    rng = np.random.default_rng(SEED)
    return sorted(int(i) + 1 for i in rng.choice(n_lines, size=FULCRA_ROWS, replace=False))


def draft(out: Path, demo: Path = DEMO, fulcra: Path = FULCRA) -> int:
    """Write the seeded sample with blank labels, the way the labelled file was started."""
    import pandas as pd

    blank = dict.fromkeys(FLAG_COLUMNS, "")
    with out.open("w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=COLUMNS)
        w.writeheader()
        for r in sample_demo(pd.read_parquet(demo)).itertuples():
            w.writerow(
                dict(
                    source="demo",
                    ref=r.qa_id,
                    language=r.language,
                    model=r.model,
                    **{c: getattr(r, c) for c in TEXT_COLUMNS},
                    **blank,
                    note="",
                )
            )
        # Value FULCRA rows carry only their line number: the text stays in ../shared/data.
        empty = dict.fromkeys(TEXT_COLUMNS, "")
        for n in sample_fulcra(len(fulcra_lines(fulcra))):
            w.writerow(
                dict(
                    source="value_fulcra",
                    ref=str(n),
                    language="eng",
                    model="",
                    **empty,
                    **blank,
                    note="",
                )
            )
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--labels", type=Path, default=LABELS)
    ap.add_argument("--fulcra", type=Path, default=FULCRA)
    ap.add_argument("--json", action="store_true", help="print the figures as JSON")
    ap.add_argument("--errors", action="store_true", help="list false positives and negatives")
    ap.add_argument(
        "--draft", type=Path, metavar="OUT.csv", help="write the seeded sample, unlabelled"
    )
    args = ap.parse_args(argv)
    if args.draft:
        return draft(args.draft, fulcra=args.fulcra)
    loaded = load(args.labels, args.fulcra)
    check, checker_flags = checker()
    found = predict_with_reasons(loaded.rows, check)
    result = evaluate(
        loaded.rows, [f for f, _ in found], checker_flags, reasons=[r for _, r in found]
    )
    if args.json:
        print(json.dumps({**as_json(result), "notes": loaded.notes}, indent=2))
        return 0
    for note in loaded.notes:
        print(f"note: {note}")
    print(table(result))
    if args.errors:
        print(error_lines(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
