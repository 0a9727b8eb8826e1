"""Embedding overhead: univar's cached embedding vs plain SentenceTransformer.encode.

Goals (issue 3): a first embed through univar takes at most 1.2x plain `encode` on the same
texts; a cached re-embed is at least 20x faster than plain `encode`.

    python bench/bench_embed.py [--n 3000] [--repeats 2]

Texts are real QA pairs from ../shared/data when present, else generated sentences. Plain and
univar runs alternate and the best of each is kept, because other processes share the CPUs.
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
os.environ.setdefault("HF_HUB_OFFLINE", "1")

FULCRA = ROOT.parent / "shared" / "data" / "value_fulcra_trustworthy.jsonl"


def bench_texts(n: int) -> list[str]:
    """n distinct texts shaped like the QA pairs univar embeds."""
    from univar.encoders import qa_text

    texts: list[str] = []
    if FULCRA.exists():
        with open(FULCRA, encoding="utf-8") as fh:
            for line in fh:
                dialogue = json.loads(line)["dialogue"]
                question, _, answer = dialogue.removeprefix("Human: ").partition("\nBob: ")
                texts += [qa_text(question, answer), qa_text(question, "")]
    i = 0
    while len(texts) < n:  # no shared data: varied sentences of QA-like length
        texts.append(qa_text(f"Question {i} about duty and freedom?", f"Answer {i}: " * (i % 40)))
        i += 1
    return texts[:n]


BASE = "all-MiniLM-L6-v2"


def run_bench(n: int = 3000, repeats: int = 2, batch_size: int = 64) -> dict:
    from univar.encoders import embed_texts, load_encoder

    texts = bench_texts(n)
    # The sentence-transformers encoder itself (the app's default may be a trained adapter on
    # it): the comparison is with plain SentenceTransformer.encode on the same model.
    encoder = load_encoder(BASE)
    model = encoder.model
    model.encode(texts[:64], batch_size=batch_size)  # warm-up: first call pays one-time costs
    plain, first, plain_cpu, first_cpu = [], [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(repeats):
            t, c = time.perf_counter(), time.process_time()
            model.encode(texts, batch_size=batch_size, convert_to_numpy=True)
            plain.append(time.perf_counter() - t)
            plain_cpu.append(time.process_time() - c)
            db = Path(tmp) / f"bench{r}.duckdb"
            t, c = time.perf_counter(), time.process_time()
            embed_texts(texts, encoder, db, batch_size=batch_size)
            first.append(time.perf_counter() - t)
            first_cpu.append(time.process_time() - c)
        cached = []
        for _ in range(3):
            t = time.perf_counter()
            embed_texts(texts, encoder, db, batch_size=batch_size)
            cached.append(time.perf_counter() - t)
    result = {
        "n_texts": len(texts),
        "encoder": encoder.id,
        "plain_s": round(min(plain), 3),
        "univar_first_s": round(min(first), 3),
        "univar_cached_s": round(min(cached), 4),
    }
    result["first_vs_plain"] = round(result["univar_first_s"] / result["plain_s"], 3)
    # CPU time (all threads): steadier than wall time when other processes share the cores
    result["first_vs_plain_cpu"] = round(min(first_cpu) / min(plain_cpu), 3)
    result["cached_speedup"] = round(result["plain_s"] / max(result["univar_cached_s"], 1e-9), 1)
    result["goals_met"] = result["first_vs_plain"] <= 1.2 and result["cached_speedup"] >= 20
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=3000)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=64)
    args = parser.parse_args()
    result = run_bench(args.n, args.repeats, args.batch_size)
    print(json.dumps(result, indent=2))
    print(
        f"first embed: {result['first_vs_plain']}x plain encode (goal <= 1.2x); "
        f"cached re-embed: {result['cached_speedup']}x faster than plain (goal >= 20x)"
    )
    return 0 if result["goals_met"] else 1


if __name__ == "__main__":
    sys.exit(main())
