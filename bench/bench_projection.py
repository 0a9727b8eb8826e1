"""Value-map speed: UMAP cold vs a cached rerun, and the figure at 100,000 points.

    python bench/bench_projection.py [--n 2000] [--figure-points 100000]

A cached rerun must not recompute (it reads `projection_points`), and neither may a smaller
selection: it reads its points of the one layout (`selection_s`, half the QA pairs). Vectors are random but
shaped like MiniLM's (384-d, unit length) and stored in the embedding cache up front, so the
timings are projection only. The figure part builds the map figure and its JSON (what the
page sends to the browser) for a synthetic map of `--figure-points` points.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from univar.encoders import cache

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


class StoredOnly:
    """An encoder whose vectors are all cached already; encoding would be a bug here."""

    id = "bench-random-384"
    dim = 384

    def encode(self, texts, batch_size=64):
        raise AssertionError("the bench pre-stores every vector")


def fill(db: Path, n: int, seed: int = 0) -> list[str]:
    """n QA pairs in 25 languages x 8 models, with random unit vectors in the cache."""
    import numpy as np
    import pandas as pd

    from univar import encoders, store
    from univar.catalog.registry import LANGUAGES

    rng = np.random.default_rng(seed)
    langs = [lang.code for lang in LANGUAGES]
    rows = pd.DataFrame(
        {
            "qa_id": [f"qa{i:07d}" for i in range(n)],
            "dataset": "bench",
            "model": [f"model-{i % 8}" for i in range(n)],
            "language": [langs[(i // 8) % len(langs)] for i in range(n)],
            "question": [f"Question {i} about duty?" for i in range(n)],
            "answer": [f"Answer {i}: " + "freedom and care " * (i % 12) for i in range(n)],
        }
    )
    with store.transaction(db) as con:
        con.register("rows", rows)
        con.execute(
            "INSERT INTO qa_pairs (qa_id, dataset, model, language, question, answer) "
            "SELECT * FROM rows"
        )
    texts = encoders.qa_frame(db)["text"].tolist()
    vecs = rng.normal(size=(n, 384)).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    cache._save(db, StoredOnly.id, [encoders.text_hash(t) for t in texts], vecs)
    return rows["qa_id"].tolist()


def bench_umap(n: int) -> dict:
    from univar.analysis import projection
    from univar.analysis.projection import ProjectionConfig

    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "bench.duckdb"
        ids = fill(db, n)
        config = ProjectionConfig()
        t = time.perf_counter()
        projection.project(db, StoredOnly(), ids, config)
        cold = time.perf_counter() - t
        t = time.perf_counter()
        projection.project(db, StoredOnly(), ids, config)
        cached = time.perf_counter() - t
        t = time.perf_counter()
        projection.project(db, StoredOnly(), ids[: n // 2], config)
        selection = time.perf_counter() - t
    return {
        "points": n,
        "umap_cold_s": round(cold, 2),
        "umap_cached_s": round(cached, 3),
        "selection_s": round(selection, 3),
        "speedup": round(cold / cached, 1),
    }


def bench_figure(n: int) -> dict:
    import numpy as np
    import pandas as pd
    import plotly.io as pio

    from univar.catalog.registry import LANGUAGES
    from univar.figures import value_map

    rng = np.random.default_rng(1)
    langs = [lang.code for lang in LANGUAGES]
    text = "Some answer text that goes on about values, duty and care. " * 5
    points = pd.DataFrame(
        {
            "qa_id": [f"qa{i:07d}" for i in range(n)],
            "x": rng.normal(size=n),
            "y": rng.normal(size=n),
            "model": [f"model-{i % 8}" for i in range(n)],
            "language": [langs[i % len(langs)] for i in range(n)],
            "dataset": "bench",
            "value": "benevolence",
            "framework": "schwartz",
            "question": "Question about duty?",
            "answer": text,
            "question_en": "Question about duty?",
            "answer_en": text,
        }
    )
    # CPU seconds as well as wall seconds: on a shared machine the CPU time is the steadier one
    t, c = time.perf_counter(), time.process_time()
    fig = value_map.value_map_figure(points, "language")
    build, build_cpu = time.perf_counter() - t, time.process_time() - c
    t, c = time.perf_counter(), time.process_time()
    spec = pio.to_json(fig, validate=False)
    to_json, json_cpu = time.perf_counter() - t, time.process_time() - c
    return {
        "figure_points": n,
        "figure_build_s": round(build, 2),
        "figure_build_cpu_s": round(build_cpu, 2),
        "figure_json_s": round(to_json, 2),
        "figure_json_cpu_s": round(json_cpu, 2),
        "figure_json_mb": round(len(spec) / 1e6, 1),
        "webgl": fig.data[0].type == "scattergl",
    }


def run_bench(n: int = 2000, figure_points: int = 100_000) -> dict:
    return {**bench_umap(n), **bench_figure(figure_points)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000, help="points to project with UMAP")
    parser.add_argument("--figure-points", type=int, default=100_000)
    args = parser.parse_args()
    result = run_bench(args.n, args.figure_points)
    print(json.dumps(result, indent=2))
    print(
        f"UMAP on {result['points']:,} points: {result['umap_cold_s']} s cold, "
        f"{result['umap_cached_s']} s cached ({result['speedup']}x). Figure of "
        f"{result['figure_points']:,} points: {result['figure_build_s']} s to build, "
        f"{result['figure_json_mb']} MB of JSON in {result['figure_json_s']} s."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
