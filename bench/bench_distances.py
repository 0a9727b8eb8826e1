"""Compare's distance table with its uncertainty: computed cold, then again from the store.

    python bench/bench_distances.py [--identities 12] [--questions 200] [--dim 384]

Synthetic vectors of `identities` model$language identities (3 models x languages) that all
answered the same `questions` (a common direction, a strong per-question pull, an offset per
identity, noise: the shape of real answer embeddings), in a fresh database. For each metric,
`uncertainty.distance_table` between identities with the default settings (200 bootstrap
resamples of the questions, 999 within-question permutations per pair): the first call
computes and stores the table, the second reads it back. Goal: the cold table in under 10 s
on 2 cores, the second from the cache.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

GOAL_S = 10.0


def synthetic(identities: int, questions: int, dim: int, seed: int = 0):
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    common = rng.normal(size=dim)
    pull = 1.2 * rng.normal(size=(questions, dim))
    rows, vecs = [], []
    for k in range(identities):
        model, language = f"model-{k % 3}", f"lang-{k // 3}"
        offset = 0.25 * rng.normal(size=dim)
        for q in range(questions):
            rows.append(
                {
                    "qa_id": f"qa-{k}-{q}",
                    "model": model,
                    "language": language,
                    "identity": f"{model}${language}",
                    "question_id": f"q{q}",
                    "question_en": f"Question {q}?",
                }
            )
            vecs.append(common + pull[q] + offset + rng.normal(size=dim))
    return pd.DataFrame(rows), np.asarray(vecs, dtype=np.float32)


def run_bench(identities: int = 12, questions: int = 200, dim: int = 384) -> dict:
    from univar.analysis import distances, uncertainty

    frame, vecs = synthetic(identities, questions, dim)
    out = {
        "data": f"{identities} identities x {questions} questions, dim {dim}",
        "cpus": os.cpu_count(),
        "settings": dataclasses.asdict(uncertainty.UncertaintyConfig()),
        "goal_s": GOAL_S,
    }
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "distances.duckdb"
        for metric in distances.METRICS:
            started = time.perf_counter()
            table = uncertainty.distance_table(db, frame, vecs, "bench", "identity", metric)
            cold = time.perf_counter() - started
            started = time.perf_counter()
            again = uncertainty.distance_table(db, frame, vecs, "bench", "identity", metric)
            cached = time.perf_counter() - started
            assert again.pairs.equals(table.pairs)
            distinct = int((table.pairs["p_value"] < uncertainty.ALPHA).sum())
            out[metric] = {
                "cold_s": round(cold, 2),
                "cached_s": round(cached, 3),
                "pairs": len(table.pairs),
                "pairs_distinguishable": distinct,
                "goal_met": cold < GOAL_S,
            }
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--identities", type=int, default=12)
    parser.add_argument("--questions", type=int, default=200)
    parser.add_argument("--dim", type=int, default=384)
    args = parser.parse_args()
    print(json.dumps(run_bench(args.identities, args.questions, args.dim), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
