"""Faults of a real HTTP endpoint, through litellm: each ends as a retried answer or a clear
error row; nothing crashes; nothing is lost; a rerun after the fault asks only what failed.

The server is tests/fault_server.py on loopback (no mock of litellm or HTTP)."""

from __future__ import annotations

import email.utils
import time

import pytest
from fault_server import elicit_config

from univar import store
from univar.catalog import questions
from univar.elicit import engine
from univar.elicit.settings import ElicitConfig
from univar.llm.client import MAX_REPLY_CHARS

# Retryable faults and the words their error row must carry so a user can tell them apart.
TRANSIENT = {
    "429": "429",
    "500": "500",
    "503": "503",
    "hang": "timed out",
    "reset": "connection",
    "invalid_json": "unterminated string",
    "non_utf8": "utf-8",
}
# Replies that arrive whole but hold no answer: not retried within the run (a rerun retries).
UNUSABLE = {"empty_choices": "no choices", "null_content": "not text"}


@pytest.fixture(scope="module")
def bank():
    return questions.select_questions(None, 6)


def _config(fs, bank, n=2, languages=("eng",), **kw) -> ElicitConfig:
    return elicit_config(fs, bank, n, languages, **({"timeout_s": 1.0} | kw))


def _rows(db) -> list[tuple]:
    with store.connect(db) as con:
        return con.execute(
            "SELECT language, question_id, sample, status, error, answer FROM qa_pairs "
            "ORDER BY language, question_id, sample"
        ).fetchall()


def _one_row_per_pair(rows, expected: int) -> None:
    assert len(rows) == expected and len({r[:3] for r in rows}) == expected


@pytest.mark.parametrize("mode", sorted(TRANSIENT))
def test_transient_fault_is_retried_into_an_answer(tmp_db, fs, bank, mode):
    fs.script = [mode, mode]  # the first two attempts fail, the third answers
    summary = engine.run(_config(fs, bank, n=1), tmp_db, questions=bank)
    assert summary.ok == 1 and summary.failed == 0 and summary.attempts == 3
    [row] = _rows(tmp_db)
    assert row[3] == "ok" and row[5].startswith("My answer to")
    with store.connect(tmp_db) as con:
        assert con.execute("SELECT status, attempts FROM requests").fetchall() == [("ok", 3)]


@pytest.mark.parametrize("mode", sorted(TRANSIENT | UNUSABLE))
def test_lasting_fault_ends_as_a_clear_error_row_and_a_rerun_completes(tmp_db, fs, bank, mode):
    fs.mode = mode
    config = _config(fs, bank, n=2, max_retries=1)
    summary = engine.run(config, tmp_db, questions=bank)
    assert summary.failed == 2 and summary.status == "done"
    rows = _rows(tmp_db)
    _one_row_per_pair(rows, 2)
    for _, _, _, status, error, _ in rows:
        assert status == "error" and "\n" not in error and len(error) <= 500
        assert (TRANSIENT | UNUSABLE)[mode] in error.lower(), error

    fs.mode = "ok"
    fs.reset_counters()
    again = engine.run(config, tmp_db, questions=bank)
    assert again.ok == 2 and fs.requests == 2  # only the failed ones are asked again
    rows = _rows(tmp_db)
    _one_row_per_pair(rows, 2)
    assert all(r[3] == "ok" and r[4] is None for r in rows)


def test_ten_megabyte_answer_is_kept_truncated_and_the_store_stays_small(tmp_db, fs, bank):
    fs.mode = "huge"
    summary = engine.run(_config(fs, bank, n=1, timeout_s=30.0), tmp_db, questions=bank)
    assert summary.ok == 1
    [row] = _rows(tmp_db)
    assert MAX_REPLY_CHARS <= len(row[5]) < MAX_REPLY_CHARS + 200
    assert row[5].endswith("characters]") and "truncated by univar" in row[5]
    with store.connect(tmp_db) as con:
        stored = con.execute("SELECT max(length(response)) FROM requests").fetchall()[0][0]
    assert stored == len(row[5])  # the cache holds the truncated text too
    assert tmp_db.stat().st_size < 8 * 2**20  # an empty store is ~4 MB; 10 MB never got in


def test_retry_after_in_seconds_and_as_a_date_is_honoured(tmp_db, fs, bank):
    config = _config(fs, bank, n=1, retry_max_s=5.0)
    fs.retry_after, fs.script = "1", ["429"]
    started = time.monotonic()
    assert engine.run(config, tmp_db, questions=bank).ok == 1
    assert time.monotonic() - started >= 0.9  # backoff alone would wait ~0.01 s

    date = email.utils.formatdate(time.time() + 2, usegmt=True)  # second resolution
    fs.retry_after, fs.script = date, ["503"]
    config = _config(fs, bank[1:], n=1, retry_max_s=5.0)
    started = time.monotonic()
    assert engine.run(config, tmp_db, questions=bank).ok == 1
    assert time.monotonic() - started >= 0.9


def test_retry_after_beyond_the_longest_wait_is_capped(tmp_db, fs, bank):
    fs.retry_after, fs.script = "3600", ["429"]
    started = time.monotonic()
    assert engine.run(_config(fs, bank, n=1, retry_max_s=0.2), tmp_db, questions=bank).ok == 1
    assert time.monotonic() - started < 30


def test_a_storm_of_every_fault_loses_nothing_across_languages(tmp_db, fs, bank):
    # the first 40 requests cycle through every fault; translation chains (fra) pass through
    # them too. Six retries outlast any run of faults one request meets.
    fs.script = [
        m
        for _ in range(5)
        for m in ("429", "500", "503", "reset", "invalid_json", "non_utf8", "empty_choices", "ok")
    ]
    config = _config(fs, bank, n=6, languages=("eng", "fra"), concurrency=8, max_retries=6)
    summary = engine.run(config, tmp_db, questions=bank)
    assert summary.total == 12 and summary.ok + summary.failed == 12
    rows = _rows(tmp_db)
    _one_row_per_pair(rows, 12)
    words = tuple((TRANSIENT | UNUSABLE).values())
    assert all(any(w in r[4].lower() for w in words) for r in rows if r[3] != "ok")

    again = engine.run(config, tmp_db, questions=bank)  # fault-free now: the rest completes
    assert again.failed == 0 and again.from_cache == summary.ok
    rows = _rows(tmp_db)
    _one_row_per_pair(rows, 12)
    assert all(r[3] == "ok" for r in rows)
    with store.connect(tmp_db) as con:
        fra = con.execute(
            "SELECT count(*) FROM qa_pairs WHERE language = 'fra' AND question LIKE '[French] %' "
            "AND answer_en LIKE '[English] %'"
        ).fetchall()[0][0]
    assert fra == 6  # every chain went out and came back through the translator

    fs.reset_counters()
    assert engine.run(config, tmp_db, questions=bank).from_cache == 12 and fs.requests == 0
