"""AppTest of the Elicit page: plan, run with progress, run again from the cache, history, and
one clear message (nothing written) for a wrong key or an unreachable host."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from fault_server import FaultServer
from streamlit.testing.v1 import AppTest
from test_connection import BAD_KEY, GOOD_KEY, KeyServer

from univar import store
from univar.elicit import jobs
from univar.llm.local_server import free_port
from univar.policy import origin

PAGE = str(Path(__file__).resolve().parent.parent / "pages" / "elicit.py")


@pytest.fixture
def app(tmp_db, monkeypatch):
    for name in ("OPENAI_API_KEY", "UNIVAR_LOCAL_LLM_URL"):
        monkeypatch.delenv(name, raising=False)
    # Nothing listens here: the page must not offer local models.
    monkeypatch.setenv("UNIVAR_LOCAL_LLM_URL", f"http://127.0.0.1:{free_port()}/v1")
    at = AppTest.from_file(PAGE, default_timeout=60)
    at.session_state["db_path"] = str(tmp_db)
    return at.run()


def _choose(at, api_base: str, *, questions=3, languages=("eng",), key=None):
    at.text_input(key="el_custom").input("openai/fake")
    at.text_input(key="el_custom_base").input(api_base)
    at.multiselect(key="el_languages").set_value(list(languages))
    at.number_input(key="el_qn").set_value(questions)
    at.number_input(key="el_max_tokens").set_value(32)
    at.run()
    if key is not None:
        at.text_input(key=key_field(api_base)).input(key).run()
    return at


def key_field(api_base: str) -> str:
    """The page's key field of openai/... at `api_base`: one per provider and host."""
    return f"el_key_openai@{origin(api_base)}"


def _texts(at) -> str:
    parts = [
        e.value
        for kind in ("error", "success", "info", "caption", "markdown")
        for e in at.get(kind)
    ]
    return "\n".join(str(p) for p in parts)


def _run_until_finished(at, timeout=60.0):
    at.button(key="el_run").click().run()
    assert not at.exception, at.exception
    job = jobs.get(at.session_state["el_job"])
    assert job is not None, _texts(at)
    assert job.wait(timeout)
    at.run()  # the page's poll: the fragment draws the finished job
    return job


def _stored(db) -> tuple[int, int]:
    if not db.exists():
        return 0, 0
    with store.connect(db) as con:
        return (
            con.execute("SELECT count(*) FROM runs").fetchall()[0][0],
            con.execute("SELECT count(*) FROM qa_pairs").fetchall()[0][0],
        )


def test_page_renders_with_nothing_chosen(app):
    assert not app.exception
    assert "Choose at least one model" in _texts(app)
    assert app.button(key="el_run").disabled
    labels = app.multiselect(key="el_languages").options
    assert "fra — French (Français)" in labels and len(labels) == 25
    assert "No elicitation has run" in _texts(app)
    known = app.multiselect(key="el_known").options
    assert any("Mistral AI" in o for o in known) and any("self-hosted" in o for o in known)


def test_plan_run_progress_then_run_again_from_cache(app, tmp_db):
    with FaultServer(delay_s=0.02) as fs:
        at = _choose(app, fs.api_base, questions=3, languages=("eng", "fra"))
        metrics = {m.label: m.value for m in at.get("metric")}
        assert (metrics["QA pairs"], metrics["Already stored"]) == ("6", "0")
        # eng: 1 answer each; fra: translate, answer, translate the answer back (the
        # question's English is the bank's)
        assert metrics["Requests to send"] == str(3 + 3 * 3)
        assert "6 answers, 6 translations" in _texts(at)
        job = _run_until_finished(at)
        assert job.status == "done" and job.totals().done == 6
        text = _texts(at)
        assert "Finished" in text and "0 failed" in text
        assert [r["status"] for r in at.dataframe[-1].value.to_dict("records")] == ["done"]

        at.run()
        metrics = {m.label: m.value for m in at.get("metric")}
        assert (metrics["Already stored"], metrics["Requests to send"]) == ("6", "0")
        sent = fs.requests
        again = _run_until_finished(at)
        assert fs.requests == sent and again.requests_sent() == 0
        assert "0 requests" in _texts(at)
    assert _stored(tmp_db) == (2, 6)


def test_wrong_key_shows_one_message_and_writes_nothing(app, tmp_db):
    with KeyServer() as server:
        at = _choose(app, server.api_base, key=BAD_KEY)
        at.button(key="el_run").click().run()
        errors = [e.value for e in at.error]
        assert len(errors) == 1 and "refused the API key" in errors[0]
        assert BAD_KEY not in _texts(at) and "el_job" not in at.session_state
        assert _stored(tmp_db) == (0, 0)

        at.button(key="el_test").click().run()
        assert any("refused the API key" in e.value for e in at.error)

        at.text_input(key=key_field(server.api_base)).input(GOOD_KEY).run()
        job = _run_until_finished(at)
        assert job.status == "done", job.error
    assert GOOD_KEY.encode() not in tmp_db.read_bytes()  # the key lives in session memory only


def test_unreachable_host_shows_one_message_and_writes_nothing(app, tmp_db):
    at = _choose(app, f"http://127.0.0.1:{free_port()}/v1")
    at.button(key="el_run").click().run()
    errors = [e.value for e in at.error]
    assert len(errors) == 1 and "cannot reach" in errors[0]
    assert _stored(tmp_db) == (0, 0)


def test_cancel_then_resume_from_history(app, tmp_db):
    with FaultServer(delay_s=0.3) as fs:
        at = _choose(app, fs.api_base, questions=6)
        at.number_input(key="el_concurrency").set_value(1).run()
        at.button(key="el_run").click().run()
        job = jobs.get(at.session_state["el_job"])
        deadline = time.monotonic() + 30
        while job.totals().done < 1:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        at.run()
        # A second tab (another session of the same server) sees the same running job.
        other = AppTest.from_file(PAGE, default_timeout=60)
        other.session_state["db_path"] = str(tmp_db)
        other.run()
        assert "Running openai/fake" in _texts(other)
        assert other.button(key=f"el_cancel_{job.job_id}")
        at.button(key=f"el_cancel_{job.job_id}").click().run()
        assert job.wait(30) and job.status == "cancelled"
        at.run()
        assert "Cancelled" in _texts(at)
        assert at.button(key="el_resume").disabled is False
        at.button(key="el_resume").click().run()
        resumed = jobs.get(at.session_state["el_job"])
        assert resumed is not job and resumed.wait(30) and resumed.status == "done"
    assert _stored(tmp_db)[1] == 6


def test_questions_by_framework_and_value_and_from_a_file(app):
    with FaultServer() as fs:
        at = _choose(app, fs.api_base)
        at.radio(key="el_qmode").set_value("By framework and value").run()
        assert "Choose at least one model" in _texts(at)  # no framework chosen yet
        at.multiselect(key="el_frameworks").set_value(["Hofstede"]).run()
        options = at.multiselect(key="el_values").options
        assert len(options) == 6 and any("Hofstede ·" in o for o in options)
        all_six = {m.label: m.value for m in at.get("metric")}["QA pairs"]
        value = at.multiselect(key="el_values").value
        at.multiselect(key="el_values").set_value([at.multiselect(key="el_values").options[0]])
        at.run()
        one = {m.label: m.value for m in at.get("metric")}["QA pairs"]
        assert value == [] and 0 < int(one) < int(all_six) == 30

        at.radio(key="el_qmode").set_value("From a CSV file").run()
        csv = b"question,framework,code\nWould you lie to protect a friend?,mine,loyal\n"
        csv += b"Is tradition worth keeping when it costs you?,mine,trad\n"
        at.get("file_uploader")[0].upload("my_questions.csv", csv, "text/csv").run()
        assert {m.label: m.value for m in at.get("metric")}["QA pairs"] == "2"
        at.get("file_uploader")[0].upload("bad.csv", b"text\nhello\n", "text/csv").run()
        assert any("missing column 'question'" in e.value for e in at.error)


def test_an_instruments_items_as_questions(app):
    with FaultServer() as fs:
        at = _choose(app, fs.api_base)
        at.radio(key="el_qmode").set_value("An instrument's items").run()
        at.selectbox(key="el_instrument").set_value("univar-portraits").run()
        assert not at.exception, at.exception
        assert {m.label: m.value for m in at.get("metric")}["QA pairs"] == "57"
        at.selectbox(key="el_instrument").set_value("pvq-rr").run()
        assert any("has no item text" in e.value for e in at.error)  # licensed: import it first
