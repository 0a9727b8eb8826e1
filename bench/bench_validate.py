"""Memory and time of checking and importing a big CSV: the upload limit's worth of QA pairs.

    python bench/bench_validate.py [--megabytes 190] [--keep FILE]

Generates a CSV of about `megabytes` MB (200,000 rows at 190 MB: answers of ~450 characters,
four rows in five non-English with their English translation) and measures, each in its own
process, the peak resident memory (the same getrusage figure `/usr/bin/time -v` prints as
"Maximum resident set size") and the wall time of:

- page: what the Upload page does, `validate_bytes` on the file's bytes already in memory
  (Streamlit holds an upload's bytes once, so they count);
- check: `python -m univar import --format csv --check FILE` (validation only);
- import: `python -m univar import --format csv FILE --dataset big --db NEW.duckdb`.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MODELS = ("gpt-4o-mini", "aya-101", "Llama-3-8B-Instruct", "Yi-34B-Chat", "SmolLM2-135M")
LANGUAGES = ("eng", "fra", "zho", "deu", "arb")
WORDS = "value freedom family duty honour tradition safety power care nature rules".split()
BYTES_PER_ROW = 1000  # what make_csv writes on average; sets the row count for a size
PAGE_CHILD = """
import sys, time
from pathlib import Path
sys.path.insert(0, {root!r})
from univar.ingest.validate import validate_bytes
data = Path({path!r}).read_bytes()
t0 = time.perf_counter()
v = validate_bytes(data, name="big.csv", max_bytes=len(data) + 1)
assert v.ok, v.errors[:3]
print(len(v.rows), round(time.perf_counter() - t0, 2))
"""


def make_csv(path: Path, rows: int, seed: int = 0) -> int:
    """Writes `rows` generated QA rows to `path` row by row; returns the file's size."""
    rng = random.Random(seed)
    pool = [" ".join(rng.choice(WORDS) for _ in range(70)).capitalize() for _ in range(997)]
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["question", "answer", "model", "language", "question_en", "answer_en"])
        for i in range(rows):
            lang = LANGUAGES[i % len(LANGUAGES)]
            question = f"Question {i // 25}: is {WORDS[i % 11]} more important than {WORDS[i % 7]}?"
            answer = f"{pool[i % len(pool)]}, indeed (#{i})."
            english = (question, answer) if lang != "eng" else ("", "")
            writer.writerow([question, answer, MODELS[(i // 5) % len(MODELS)], lang, *english])
    return path.stat().st_size


def measure(cmd: list[str]) -> dict:
    """Peak RSS (MB) and wall seconds of one child process, and its last line of output.

    os.wait4 reads the child's own rusage (RUSAGE_CHILDREN would be the max over all)."""
    env = os.environ | {"PYTHONPATH": str(ROOT)}
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        started = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, text=True, cwd=ROOT, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        said, problem = out.read().strip().splitlines(), err.read().strip().splitlines()
    if proc.returncode:
        raise RuntimeError(f"{' '.join(cmd[1:5])} ... failed: {problem[-1] if problem else '?'}")
    return {
        "max_rss_mb": round(usage.ru_maxrss / 1024),
        "seconds": round(wall, 1),
        "said": said[-1] if said else "",
    }


def run_bench(megabytes: float = 190, keep: str | None = None) -> dict:
    rows = int(megabytes * 2**20 / BYTES_PER_ROW)
    with tempfile.TemporaryDirectory(prefix="univar-bench-") as tmp:
        path = Path(keep) if keep else Path(tmp) / "big.csv"
        if not (keep and path.exists()):
            make_csv(path, rows)
        size = path.stat().st_size
        cli = [sys.executable, "-m", "univar", "import", "--format", "csv", str(path)]
        limit = ["--max-mb", str(size / 2**20 + 1)]  # the bench file is the limit's size
        db = str(Path(tmp) / "big.duckdb")
        page = [sys.executable, "-c", PAGE_CHILD.format(root=str(ROOT), path=str(path))]
        result = {"rows": rows, "megabytes": round(size / 2**20, 1)}
        result["page"] = measure(page)
        result["check"] = measure([*cli, "--check", *limit, "--db", db])
        result["import"] = measure([*cli, *limit, "--dataset", "big", "--db", db])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--megabytes", type=float, default=190)
    parser.add_argument("--keep", help="generate the CSV here once and reuse it")
    args = parser.parse_args()
    print(json.dumps(run_bench(args.megabytes, args.keep), indent=2))


if __name__ == "__main__":
    main()
