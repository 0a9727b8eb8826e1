"""Seconds for `run_checks` (what `python -m univar check` does) on 10,000 QA pairs.

    python bench/bench_check.py [--n 10000] [--batch-size 1000]

Builds a temporary DuckDB with `n` QA pairs made from the shipped demo's 2,514 real answers
(data/demo/qa.parquet): each copy after the first gets its own ids and its words rotated, so
every text is distinct (as in a real dataset, nothing is answered from the checker's caches)
while keeping its language, script and length. Then checks them all in a fresh process state
and reports seconds and pairs per second. Goal (issue 14): about a minute or less on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TEXTS = ("question", "answer", "question_en", "answer_en")


def _rotate(text, k: int):
    if not isinstance(text, str) or k == 0:
        return text
    words = text.split(" ")
    k %= max(len(words), 1)
    return " ".join(words[k:] + words[:k]) + f" ({k})"


def build(db: Path, n: int) -> int:
    import pandas as pd

    from univar import ids, store
    from univar.ingest.demo import DEMO_DIR, QA_FILE

    demo = pd.read_parquet(DEMO_DIR / QA_FILE)
    copies = []
    for k in range(-(-n // len(demo))):
        part = demo.copy()
        for column in TEXTS:
            part[column] = [_rotate(t, k) for t in part[column]]
        part["question_id"] = part["question_id"] + f"-{k}"
        copies.append(part)
    frame = pd.concat(copies, ignore_index=True).head(n)
    frame["dataset"] = "bench"
    frame["qa_id"] = [
        ids.qa_id("bench", r.model, r.language, r.question_id, int(r.sample))
        for r in frame.itertuples()
    ]
    with store.transaction(db) as con:
        con.execute("INSERT INTO datasets (dataset, kind) VALUES ('bench', 'import')")
        con.register("bench_qa", frame)
        con.execute(
            "INSERT INTO qa_pairs (qa_id, dataset, model, language, question_id, sample, "
            "question, answer, question_en, answer_en) SELECT qa_id, dataset, model, language, "
            "question_id, sample, question, answer, question_en, answer_en FROM bench_qa"
        )
    return len(frame)


def run_bench(n: int = 10_000, batch_size: int = 1000) -> dict:
    from univar import quality

    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "bench.duckdb"
        rows = build(db, n)
        started = time.perf_counter()
        cpu = time.process_time()
        done = quality.run_checks(db, batch_size=batch_size)
        seconds = time.perf_counter() - started
        cpu = time.process_time() - cpu
        assert done["checked"] == rows, done
    return {
        "qa_pairs": rows,
        "seconds": round(seconds, 1),
        "cpu_seconds": round(cpu, 1),
        "pairs_per_s": round(rows / seconds),
        "flagged": done["flagged"],
        "goal_s": 60,
        "load_before": round(os.getloadavg()[0], 1),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--batch-size", type=int, default=1000)
    args = parser.parse_args()
    result = run_bench(args.n, args.batch_size)
    print(json.dumps(result, indent=2))
    print(
        f"checked {result['qa_pairs']:,} QA pairs in {result['seconds']} s "
        f"({result['pairs_per_s']:,}/s, {result['cpu_seconds']} s CPU); goal <= 60 s"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
