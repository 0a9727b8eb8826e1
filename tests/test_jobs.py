"""Background jobs and run history, against real HTTP servers on loopback through litellm."""

from __future__ import annotations

import threading
import time

import pytest
from fault_server import FaultServer
from test_connection import BAD_KEY, GOOD_KEY, KeyServer

from univar import store
from univar.catalog import questions
from univar.elicit import engine, history, jobs
from univar.elicit.settings import ElicitConfig, GenerationConfig
from univar.errors import UserError
from univar.llm.local_server import free_port


@pytest.fixture(scope="module")
def bank():
    return questions.select_questions(None, 5)


def _config(api_base: str, bank, languages=("eng", "fra"), **kw) -> ElicitConfig:
    kw = {"concurrency": 2, "generation": GenerationConfig(max_tokens=32)} | kw
    return ElicitConfig(
        model="openai/fake",
        api_base=api_base,
        languages=languages,
        question_ids=tuple(q.question_id for q in bank),
        **kw,
    )


def _qa_rows(db) -> list[tuple]:
    with store.connect(db) as con:
        return con.execute(
            "SELECT model, language, question_id, sample, status FROM qa_pairs"
        ).fetchall()


def _wait_for(predicate, timeout=30.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.02)


def test_cancel_keeps_finished_answers_and_resume_completes_without_duplicates(tmp_db, bank):
    with FaultServer(delay_s=0.15) as fs:
        config = _config(fs.api_base, bank)
        job = jobs.start(config, tmp_db)
        assert jobs.get(job.job_id) is job and job in jobs.list_jobs(tmp_db, live_only=True)
        _wait_for(lambda: job.totals().done >= 3)
        job.cancel()
        assert job.wait(30) and job.status == "cancelled"
        done_at_cancel = job.totals().done
        rows = _qa_rows(tmp_db)
        assert 3 <= len(rows) == done_at_cancel < 10  # every finished answer is stored
        assert all(r[4] == "ok" for r in rows)

        [past] = history.past_runs(tmp_db, live=jobs.live_run_models(tmp_db))
        assert past.stopped and past.status == "cancelled" and past.config == config
        sent_before = fs.requests
        resumed = jobs.restart(past.run_id, tmp_db)
        assert resumed.wait(60) and resumed.status == "done", resumed.error
        summary = resumed.summaries[0]
        assert summary.from_cache == done_at_cancel and summary.asked == 10 - done_at_cancel

    rows = _qa_rows(tmp_db)
    assert len(rows) == 10 and len({r[:4] for r in rows}) == 10  # one row per QA pair
    # Nothing finished before the cancel was asked again: a fra pair costs at most 4 requests
    # (translate, answer, 2 back), an eng pair 1; plus one connection test for the resume.
    assert fs.requests - sent_before == 1 + summary.requests
    assert 0 < summary.requests <= 4 * (10 - done_at_cancel)


def test_same_job_again_finishes_from_cache_with_zero_requests(tmp_db, bank):
    with FaultServer() as fs:
        config = _config(fs.api_base, bank, languages=("eng",))
        assert jobs.start(config, tmp_db).wait(60)
        before = fs.requests
        again = jobs.start(config, tmp_db)
        assert again.wait(30) and again.status == "done"
        assert fs.requests == before  # no connection test either: nothing to send
        assert again.requests_sent() == 0 and again.totals().cached == 5
    statuses = [r.status for r in history.past_runs(tmp_db, live=jobs.live_run_models(tmp_db))]
    assert statuses == ["done", "done"]


def test_a_second_tab_gets_the_running_job_not_a_second_one(tmp_db, bank):
    with FaultServer(delay_s=0.2) as fs:
        config = _config(fs.api_base, bank, languages=("eng",), concurrency=1)
        first = jobs.start(config, tmp_db)
        assert jobs.start(config, tmp_db) is first
        other = _config(fs.api_base, bank[:2], languages=("eng",))
        with pytest.raises(UserError, match="already running"):
            jobs.start(other, tmp_db)
        assert jobs.cancel(first.job_id) and first.wait(30)
        assert not jobs.cancel(first.job_id)  # already stopped


def test_progress_is_listed_per_model_and_language_before_the_first_answer(tmp_db, bank):
    with FaultServer(delay_s=0.05) as fs:
        job = jobs.start(_config(fs.api_base, bank), tmp_db)
        rows = job.progress()
        assert {(p.model, p.language) for p in rows} == {
            ("openai/fake", "eng"),
            ("openai/fake", "fra"),
        }
        assert all(p.total == 5 for p in rows)
        assert job.wait(60) and job.status == "done"
        assert job.totals().done == 10 and job.totals().tokens > 0


def test_wrong_key_is_one_message_and_nothing_is_written(tmp_db, bank):
    with KeyServer() as server:
        config = _config(server.api_base, bank, languages=("eng",))
        with pytest.raises(UserError, match="refused the API key") as err:
            jobs.start(config, tmp_db, api_keys={"openai/fake": BAD_KEY})
        assert BAD_KEY not in str(err.value)
        assert server.requests == 1  # the connection test only
        assert not tmp_db.exists()
        job = jobs.start(config, tmp_db, api_keys={"openai/fake": GOOD_KEY})
        assert job.wait(30) and job.status == "done", job.error


def test_unreachable_host_is_one_message_and_nothing_is_written(tmp_db, bank):
    config = _config(f"http://127.0.0.1:{free_port()}/v1", bank, languages=("eng",))
    with pytest.raises(UserError, match="cannot reach"):
        jobs.start(config, tmp_db)
    assert not tmp_db.exists()


def test_an_engine_failure_is_kept_on_the_job_with_keys_redacted(tmp_db, bank, monkeypatch):

    def boom(config, db, **kw):
        raise RuntimeError(f"exploded with {kw['api_key']}")

    monkeypatch.setattr(engine, "run", boom)
    with FaultServer() as fs:
        job = jobs.start(
            _config(fs.api_base, bank), tmp_db, api_keys={"openai/fake": GOOD_KEY}, preflight=False
        )
        assert job.wait(10) and job.status == "failed"
    assert "exploded" in job.error and GOOD_KEY not in job.error
    assert not hasattr(job, "api_keys")


def test_history_marks_a_running_row_without_a_job_as_interrupted(tmp_db, bank):
    config = _config("http://127.0.0.1:9/v1", bank)
    from univar.config import stable_hash

    text = history.json.dumps(history.dataclasses.asdict(config))
    with store.connect(tmp_db) as con:
        con.execute(
            "INSERT INTO runs (run_id, kind, config, config_hash, status) "
            "VALUES ('r1', 'elicit', ?, ?, 'running')",
            [text, stable_hash(config)],
        )
    [past] = history.past_runs(tmp_db, live=jobs.live_run_models(tmp_db))
    assert past.status == "interrupted" and past.stopped and past.config == config
    assert history.load_config("r1", tmp_db) == config
    assert "eng, fra" in past.settings() and history.table([past])[0]["run"] == "r1"
    with pytest.raises(UserError, match="no elicitation run"):
        history.load_config("nope", tmp_db)


def test_config_from_json_ignores_unknown_fields():
    config = history.config_from_json(
        '{"model": "openai/x", "languages": ["eng"], "question_ids": ["q1"], "future": 1,'
        ' "generation": {"temperature": 0.2, "later": true}}'
    )
    assert config.languages == ("eng",) and config.generation.temperature == 0.2


def test_jobs_share_one_registry_across_threads(tmp_db, bank):
    """Streamlit runs each browser session in its own thread of one process."""
    seen = []
    with FaultServer(delay_s=0.1) as fs:
        job = jobs.start(_config(fs.api_base, bank, languages=("eng",)), tmp_db)
        t = threading.Thread(target=lambda: seen.extend(jobs.list_jobs(tmp_db, live_only=True)))
        t.start()
        t.join()
        assert job.wait(30)
    assert seen == [job]


def test_a_page_can_read_while_a_job_holds_the_file_open(tmp_db):
    """DuckDB refuses a read-only connection to a file open read-write in the same process."""
    with store.connect(tmp_db) as writer:
        writer.execute("SELECT 1").fetchall()
        with store.connect(tmp_db, read_only=True) as reader:
            assert reader.execute("SELECT count(*) FROM runs").fetchall() == [(0,)]


def test_readers_and_a_writer_in_one_process_never_clash(tmp_db):
    """A page plans (read-only) while a job's writer commits: both must just wait their turn."""
    errors: list[BaseException] = []
    writing = threading.Event()
    with store.connect(tmp_db):
        pass  # the file exists: readers open it from the first moment

    def write():
        for i in range(10):
            with store.transaction(tmp_db) as con:
                con.execute("INSERT INTO meta VALUES (?, 'x')", [f"k{i}"])
                time.sleep(0.003)  # a batch of rows takes a moment
        writing.set()

    def read():
        while not writing.is_set():
            with store.connect(tmp_db, read_only=True) as con:
                con.execute("SELECT count(*) FROM meta").fetchall()
            time.sleep(0.005)  # a page reads now and then, not in a tight loop

    def guarded(fn):
        try:
            fn()
        except BaseException as exc:  # collected for the assertion below
            errors.append(exc)
            writing.set()

    threads = [threading.Thread(target=guarded, args=(f,)) for f in (write, read, read)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
