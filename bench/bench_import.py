"""CSV import speed: rows per second through validation and through the one-transaction write.

    python bench/bench_import.py [--rows 50000] [--repeats 2]

The file is generated: 5 models x 5 languages, answers about as long as real LLM answers
(~600 characters), a few cells per row that need no translation. Best of `repeats`, because
other processes share the CPUs. 20,000 such rows are about 23 MB.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

MODELS = ("gpt-4o-mini", "aya-101", "Llama-3-8B-Instruct", "Yi-34B-Chat", "SmolLM2-135M")
LANGUAGES = ("eng", "fra", "zho", "deu", "arb")
WORDS = "value freedom family duty honour tradition safety power care nature rules".split()


def make_csv(rows: int, seed: int = 0) -> bytes:
    rng = random.Random(seed)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["question", "answer", "model", "language", "question_en", "answer_en"])
    for i in range(rows):
        lang = LANGUAGES[i % len(LANGUAGES)]
        question = (
            f"Question {i // 25}: is {rng.choice(WORDS)} more important than {rng.choice(WORDS)}?"
        )
        answer = " ".join(rng.choice(WORDS) for _ in range(90)).capitalize() + ", indeed."
        english = (question, answer) if lang != "eng" else ("", "")
        writer.writerow([question, answer, MODELS[(i // 5) % len(MODELS)], lang, *english])
    return out.getvalue().encode("utf-8")


def run_bench(rows: int = 20_000, repeats: int = 2) -> dict:
    """Rows/s of validation and of the database write for a generated CSV of `rows` rows."""
    from univar.ingest import importers, validate

    data = make_csv(rows)
    best_check = best_write = float("inf")
    for r in range(repeats):
        t0 = time.perf_counter()
        v = validate.validate_bytes(data, name="bench.csv", max_bytes=len(data) + 1)
        t1 = time.perf_counter()
        assert v.ok and len(v.rows) == rows, v.errors[:3]
        with tempfile.TemporaryDirectory() as tmp:
            db = Path(tmp) / "bench.duckdb"
            t2 = time.perf_counter()
            importers.import_validation(v, db, dataset=f"bench{r}")
            t3 = time.perf_counter()
        best_check, best_write = min(best_check, t1 - t0), min(best_write, t3 - t2)
    return {
        "rows": rows,
        "megabytes": round(len(data) / 2**20, 2),
        "validate_s": round(best_check, 3),
        "write_s": round(best_write, 3),
        "validate_rows_per_s": round(rows / best_check),
        "write_rows_per_s": round(rows / best_write),
        "total_rows_per_s": round(rows / (best_check + best_write)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    print(json.dumps(run_bench(args.rows, args.repeats), indent=2))


if __name__ == "__main__":
    main()
