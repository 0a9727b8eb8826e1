"""`kill -9` of a real `python -m univar ...` process while it elicits, embeds or imports: the
DuckDB file opens afterwards, what was committed is intact, and a rerun completes the job
with no duplicates and without asking again what was already answered."""

from __future__ import annotations

import csv
import io
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from fault_server import FaultServer

from univar import store
from univar.ingest import importers
from univar.ingest.validate import validate_bytes

ROOT = Path(__file__).resolve().parent.parent


def _univar(*args: str, db: Path, python=("-m", "univar")) -> subprocess.Popen:
    env = os.environ | {"PYTHONUNBUFFERED": "1", "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    return subprocess.Popen(
        [sys.executable, *python, *args, "--db", str(db)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _kill9(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGKILL)
    proc.wait(30)
    assert proc.returncode == -signal.SIGKILL


def _wait(predicate, proc: subprocess.Popen, timeout: float = 180.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if proc.poll() is not None:
            pytest.fail(f"the process ended before the kill: {proc.stderr.read()[-800:]}")
        assert time.monotonic() < deadline, "timed out waiting for the process to get going"
        time.sleep(0.02)


def _one(db: Path, sql: str, params=()):
    with store.connect(db) as con:
        return con.execute(sql, list(params)).fetchall()[0]


def _csv(rows: int, words: int = 6) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["question", "answer", "model", "language"])
    for i in range(rows):
        writer.writerow(
            [
                f"Question {i}: duty or freedom?",
                f"Answer {i} " + "yes " * words,
                f"model-{i % 3}",
                "eng",
            ]
        )
    return out.getvalue().encode()


@pytest.mark.slow
def test_kill_during_elicitation_then_rerun(tmp_path):
    """Killed twice (as the file is created, then mid-run), then run to the end."""
    db = tmp_path / "elicit.duckdb"
    # 12 questions in eng and fra: 12 + 3 x 12 = 48 distinct requests, 24 QA pairs
    args = (
        "elicit",
        "--model",
        "openai/fake",
        "--languages",
        "eng,fra",
        "--questions",
        "12",
        "--concurrency",
        "2",
        "--no-progress",
        "--timeout",
        "20",
    )
    with FaultServer(delay_s=0.1) as fs:
        for kill_when in (db.exists, lambda: fs.requests >= 20):
            proc = _univar(*args, "--api-base", fs.api_base, db=db)
            _wait(kill_when, proc)
            _kill9(proc)
            total, distinct = _one(
                db, "SELECT count(*), count(DISTINCT (language, question_id)) FROM qa_pairs"
            )
            assert total == distinct < 24

        ok_requests = _one(db, "SELECT count(*) FROM requests WHERE status = 'ok'")[0]
        assert 10 <= ok_requests < 48
        fs.reset_counters()
        rerun = _univar(*args, "--api-base", fs.api_base, db=db)
        out, err = rerun.communicate(timeout=300)
        assert rerun.returncode == 0, err[-800:]
        assert fs.requests == 48 - ok_requests  # nothing answered before a kill asked again
    total, distinct, ok = _one(
        db,
        "SELECT count(*), count(DISTINCT (model, language, question_id, sample)), "
        "count(*) FILTER (status = 'ok') FROM qa_pairs",
    )
    assert total == distinct == ok == 24
    assert _one(db, "SELECT count(*), count(DISTINCT cache_key) FROM requests") == (48, 48)


@pytest.mark.slow
def test_kill_during_embedding_then_rerun(tmp_path):
    db = tmp_path / "embed.duckdb"
    importers.import_validation(validate_bytes(_csv(400)), db, dataset="d")
    progress: list[int] = []

    def read(stream):
        for part in iter(lambda: stream.read(32), ""):
            for chunk in part.replace("\r", "\n").split("\n"):
                if chunk.startswith("embedding ") and "/" in chunk:
                    progress.append(int(chunk.split()[1].partition("/")[0].replace(",", "")))

    # `python -m univar embed` with 64-text write chunks (1024 by default), so that on two
    # shared cores a kill lands after some chunks are stored within seconds, not minutes
    small_chunks = (
        "import runpy, sys, univar.encoders.cache as e; e.WRITE_CHUNK = 64; "
        "sys.argv[0] = 'univar'; runpy.run_module('univar', run_name='__main__')"
    )
    args = ("embed", "--batch-size", "16")
    proc = _univar(*args, db=db, python=("-c", small_chunks))
    threading.Thread(target=read, args=(proc.stderr,), daemon=True).start()
    # progress 128: the second chunk is encoded, so the first one's write has finished
    _wait(lambda: progress and progress[-1] >= 128, proc, timeout=300)
    _kill9(proc)

    cached = _one(db, "SELECT count(*) FROM embeddings")[0]
    assert 64 <= cached < 400
    rerun = _univar(*args, db=db)
    out, err = rerun.communicate(timeout=600)
    assert rerun.returncode == 0, err[-800:]
    assert f"embedding 0/{400 - cached:,} new texts" in err  # only the rest is computed
    counts = _one(db, "SELECT count(*), count(DISTINCT (encoder_id, text_hash)) FROM embeddings")
    assert counts == (400, 400)


def _wait_for_file(path: Path, proc: subprocess.Popen, timeout: float = 300.0) -> None:
    """Until `path` exists (or the process has ended: then there is nothing left to kill)."""
    deadline = time.monotonic() + timeout
    while not path.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)


@pytest.mark.slow
@pytest.mark.parametrize(
    "when, delay_s",
    [("validated", 0.5), ("wal", 0.0), ("wal", 0.3)],
    ids=["building-rows", "writing-wal", "checkpointing"],
)
def test_kill_during_import_is_all_or_nothing(tmp_path, when, delay_s):
    db = tmp_path / "import.duckdb"
    importers.import_validation(validate_bytes(_csv(3)), db, dataset="before")
    big = tmp_path / "big.csv"
    big.write_bytes(_csv(40_000, words=40))
    args = ("import", str(big), "--dataset", "big", "--max-mb", "200")

    proc = _univar(*args, db=db)
    proc.stdout.readline()  # the summary line: validation is over, the write begins
    if when == "wal":  # DuckDB writes the WAL as the transaction commits, then checkpoints
        _wait_for_file(db.with_name(db.name + ".wal"), proc)
    time.sleep(delay_s)
    if proc.poll() is None:
        _kill9(proc)

    assert _one(db, "SELECT count(*) FROM qa_pairs WHERE dataset = 'before'")[0] == 3
    rows, named = _one(
        db,
        "SELECT (SELECT count(*) FROM qa_pairs WHERE dataset = 'big'), "
        "(SELECT count(*) FROM datasets WHERE dataset = 'big')",
    )
    assert (rows, named) in ((0, 0), (40_000, 1))  # all or nothing
    if rows == 0:
        rerun = _univar(*args, db=db)
        out, err = rerun.communicate(timeout=600)
        assert rerun.returncode == 0, err[-800:]
    total, distinct = _one(
        db, "SELECT count(*), count(DISTINCT qa_id) FROM qa_pairs WHERE dataset = 'big'"
    )
    assert total == distinct == 40_000
