"""Elicitation throughput against a loopback server that answers after 100 ms.

64 questions at concurrency 16 vs 1 (goal: >= 8x faster; best of 3 runs each), then the same job again, which must
be served from the cache without one request. The fault server runs in its own process, as a
real endpoint would, so its threads do not compete with the client for the GIL.

    python bench/bench_elicit.py            # prints a JSON line; run_bench() returns the dict
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

_SERVER = """
import sys, threading
sys.path.insert(0, {tests!r})
from fault_server import FaultServer
with FaultServer(delay_s={delay}) as s:
    print(s.api_base, flush=True)
    sys.stdin.read()  # serve until the parent closes our stdin (or dies)
"""


def _served_count(api_base: str) -> int:
    with urllib.request.urlopen(api_base.rsplit("/v1", 1)[0] + "/stats", timeout=5) as r:
        return json.loads(r.read())["requests"]


def run_bench(
    n_questions: int = 64, latency_s: float = 0.1, concurrency: int = 16, repeats: int = 3
) -> dict:
    from univar.catalog import questions
    from univar.elicit import engine
    from univar.elicit.settings import ElicitConfig

    code = _SERVER.format(tests=str(ROOT / "tests"), delay=latency_s)
    server = subprocess.Popen(
        [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        api_base = server.stdout.readline().strip()
        qs = questions.select_questions(None, n_questions)
        ids = tuple(q.question_id for q in qs)
        result: dict = {"questions": n_questions, "latency_s": latency_s}
        with tempfile.TemporaryDirectory() as tmp:
            # Warm-up outside the timings: litellm's import (~4 s) and its HTTP session.
            warm = ElicitConfig(
                model="openai/bench",
                api_base=api_base,
                languages=("eng",),
                question_ids=ids[:2],
                dataset="warm-up",
            )
            engine.run(warm, Path(tmp) / "warm.duckdb", questions=qs)
            # Best of `repeats`, alternating: other work on a shared 2-core machine only ever
            # slows a run down, so the fastest run is the least disturbed one.
            for rep in range(repeats):
                for conc in (1, concurrency):
                    db = Path(tmp) / f"c{conc}-{rep}.duckdb"
                    cfg = ElicitConfig(
                        model="openai/bench",
                        api_base=api_base,
                        languages=("eng",),
                        question_ids=ids,
                        concurrency=conc,
                    )
                    start = time.perf_counter()
                    summary = engine.run(cfg, db, questions=qs)
                    took = round(time.perf_counter() - start, 3)
                    result.setdefault(f"runs_c{conc}", []).append(took)
                    result[f"seconds_c{conc}"] = min(result[f"runs_c{conc}"])
                    result[f"failed_c{conc}"] = result.get(f"failed_c{conc}", 0) + summary.failed
            before = _served_count(api_base)
            start = time.perf_counter()
            again = engine.run(cfg, db, questions=qs)
            result["seconds_cached_rerun"] = round(time.perf_counter() - start, 3)
            result["cached_rerun_requests"] = _served_count(api_base) - before
            result["cached_rerun_ratio"] = round(again.from_cache / again.total, 3)
        result["speedup"] = round(result["seconds_c1"] / result[f"seconds_c{concurrency}"], 2)
        result["goal_speedup"] = 8.0
        result["speedup_ok"] = result["speedup"] >= 8.0
        return result
    finally:
        server.stdin.close()
        server.wait(timeout=10)


if __name__ == "__main__":
    print(json.dumps(run_bench()))
