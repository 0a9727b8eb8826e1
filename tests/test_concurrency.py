"""Two users on one DuckDB file at once: two processes (the CLI beside the app) and two threads
(two Streamlit sessions in one server) elicit and import together. No lock error reaches the
user and no row is lost: the store opens per operation and retries a locked file."""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from fault_server import FaultServer

from univar import store
from univar.catalog import questions
from univar.elicit import engine
from univar.elicit.settings import ElicitConfig
from univar.ingest import importers
from univar.ingest.validate import validate_bytes

ROOT = Path(__file__).resolve().parent.parent
LOCK_WORDS = ("lock", "busy", "conflict", "traceback")


def _csv(rows: int, tag: str) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["question", "answer", "model", "language"])
    for i in range(rows):
        writer.writerow([f"{tag} question {i}?", f"{tag} answer {i}.", f"{tag}-model", "eng"])
    return out.getvalue().encode()


def _counts(db: Path) -> dict[str, tuple[int, int]]:
    """dataset -> (QA rows, distinct (model, language, question, sample))."""
    with store.connect(db) as con:
        rows = con.execute(
            "SELECT dataset, count(*) FILTER (status = 'ok'), "
            "count(DISTINCT (model, language, question_id, sample)) FROM qa_pairs GROUP BY 1"
        ).fetchall()
    return {d: (n, k) for d, n, k in rows}


def _univar(*args: str, db: Path) -> subprocess.Popen:
    env = os.environ | {"LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    return subprocess.Popen(
        [sys.executable, "-m", "univar", *args, "--db", str(db)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.slow
def test_two_processes_elicit_and_import_into_one_file(tmp_path):
    db = tmp_path / "shared.duckdb"
    files = {}
    for tag in ("first", "second"):
        files[tag] = tmp_path / f"{tag}.csv"
        files[tag].write_bytes(_csv(2000, tag))
    with FaultServer(delay_s=0.05) as fs:
        elicit_args = (
            "elicit",
            "--model",
            "openai/fake",
            "--api-base",
            fs.api_base,
            "--languages",
            "eng,fra",
            "--questions",
            "15",
            "--concurrency",
            "4",
            "--no-progress",
        )
        procs = [
            _univar(*elicit_args, "--dataset", "cli-a", db=db),
            _univar(*elicit_args, "--dataset", "cli-b", db=db),
            _univar("import", str(files["first"]), "--dataset", "upload-1", db=db),
            _univar("import", str(files["second"]), "--dataset", "upload-2", db=db),
        ]
        results = [(p.args, *p.communicate(timeout=600), p.returncode) for p in procs]
    for args, out, err, code in results:
        assert code == 0, f"{args[3:5]} failed: {err[-800:]}"
        text = (out + err).lower()
        assert not any(w in text for w in LOCK_WORDS), f"{args[3:5]} showed: {text[-800:]}"
    counts = _counts(db)
    assert counts["cli-a"] == counts["cli-b"] == (30, 30)
    assert counts["upload-1"] == counts["upload-2"] == (2000, 2000)
    with store.connect(db) as con:
        # both jobs asked the same requests: the cache table holds each once
        n, distinct = con.execute(
            "SELECT count(*), count(DISTINCT cache_key) FROM requests"
        ).fetchall()[0]
    # eng: one answer each; fra: question out, answer, answer back (question_en is the bank's)
    assert n == distinct == 15 + 3 * 15


def test_two_sessions_elicit_and_import_in_threads(tmp_path):
    db = tmp_path / "shared.duckdb"
    bank = questions.select_questions(None, 6)
    ids = tuple(q.question_id for q in bank)
    errors: list[BaseException] = []

    with FaultServer(delay_s=0.02) as fs:

        def session_elicit(dataset: str) -> None:
            config = ElicitConfig(
                model="openai/fake",
                api_base=fs.api_base,
                languages=("eng", "fra"),
                question_ids=ids,
                concurrency=4,
                dataset=dataset,
            )
            summary = engine.run(config, db, questions=bank)
            assert summary.failed == 0, summary.line()

        def session_import(dataset: str) -> None:
            v = validate_bytes(_csv(500, dataset), name=f"{dataset}.csv")
            importers.import_validation(v, db, dataset=dataset)

        def guarded(fn, *args):
            try:
                fn(*args)
            except BaseException as exc:  # collected: the assertion below shows them
                errors.append(exc)

        jobs = [
            (session_elicit, "page-a"),
            (session_elicit, "page-b"),
            (session_import, "upload-a"),
            (session_import, "upload-b"),
        ]
        threads = [threading.Thread(target=guarded, args=job) for job in jobs]
        for t in threads:
            t.start()
        for t in threads:
            t.join(300)
    assert not errors, [f"{type(e).__name__}: {e}" for e in errors]
    counts = _counts(db)
    assert counts["page-a"] == counts["page-b"] == (12, 12)
    assert counts["upload-a"] == counts["upload-b"] == (500, 500)
