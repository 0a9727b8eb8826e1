"""Starting things from a page: the local model server (the Elicit page's button) and a survey
(the value map's button where a model$language has none), each in the background with its
progress. The slow tests start the real llama.cpp server and survey the real SmolLM2."""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from pages._shared import plain
from univar import store
from univar.elicit import jobs, survey
from univar.elicit.settings import ElicitConfig
from univar.errors import UserError
from univar.ingest import demo
from univar.llm import local_server
from univar.policy import Policy
from univar.store import runs

ROOT = Path(__file__).resolve().parent.parent
ELICIT = str(ROOT / "pages" / "elicit.py")
APP = str(ROOT / "app.py")
START = "local_start"


@pytest.fixture
def nothing_local(tmp_path, monkeypatch):
    """Where the app looks for local models nothing listens yet; logs go to this test."""
    url = f"http://127.0.0.1:{local_server.free_port()}/v1"
    monkeypatch.setenv("UNIVAR_LOCAL_LLM_URL", url)
    monkeypatch.setattr(local_server, "BACKGROUND_LOG_DIR", tmp_path / "llm-server")
    yield url
    local_server.stop_background()


def elicit_page(db) -> AppTest:
    at = AppTest.from_file(ELICIT, default_timeout=60)
    at.session_state["db_path"] = str(db)
    at.run()
    assert not at.exception, at.exception
    return at


def texts(at: AppTest) -> str:
    kinds = ("caption", "info", "error", "success", "markdown")
    shown = "\n".join(str(e.value) for kind in kinds for e in at.get(kind))
    return shown.replace("\\", "").replace("\u2060", "")  # as read: escapes and joints gone


def progress_texts(at: AppTest) -> list[str]:
    return [p.proto.text.replace("\\", "") for p in at.get("progress")]


def test_loopback_addresses_only():
    assert local_server.loopback_address("http://127.0.0.1:8123/v1") == ("127.0.0.1", 8123)
    assert local_server.loopback_address("http://localhost:8123/v1/") == ("localhost", 8123)
    for url in ("http://10.0.0.2:8123/v1", "https://127.0.0.1:8123/v1", "http://127.0.0.1:8123"):
        assert local_server.loopback_address(url) is None, url


def test_a_shared_server_starts_no_process(tmp_db, nothing_local, monkeypatch):
    with pytest.raises(UserError, match="starts no processes"):
        local_server.start_background(nothing_local, policy=Policy(mode="shared"))
    assert local_server.background(nothing_local) is None
    monkeypatch.setenv("UNIVAR_MODE", "shared")
    at = elicit_page(tmp_db)
    assert not [b for b in at.button if b.key == START]
    assert "its operator starts one with `python -m univar serve-local`" in texts(at)


def test_local_mode_offers_the_start_button(tmp_db, nothing_local):
    at = elicit_page(tmp_db)
    assert f"No local model server answers at {nothing_local}." in texts(at)
    (button,) = [b for b in at.button if b.key == START]
    assert button.label.startswith("Start the local models")


def stored_elicitation(db, model: str, api_base: str) -> None:
    """A run record of `model` at `api_base`, as an elicitation leaves: where a survey goes."""
    cfg = ElicitConfig(model, ("eng",), ("q1",), api_base=api_base)
    with store.connect(db) as con:
        runs.start_run(con, "elicit", dataclasses.asdict(cfg), finished={})


def test_where_a_survey_goes(tmp_db, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    local = "http://127.0.0.1:8123/v1"
    monkeypatch.setenv("UNIVAR_LOCAL_LLM_URL", local)
    assert jobs.survey_target("openai/smollm2", tmp_db) == ("openai/smollm2", local)
    assert jobs.survey_target("openai/gpt-4o-mini", tmp_db) is None  # no key for it here
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    assert jobs.survey_target("openai/gpt-4o-mini", tmp_db) == ("openai/gpt-4o-mini", None)
    stored_elicitation(tmp_db, "openai/gpt-4o-mini", "http://127.0.0.1:9/v1")
    assert jobs.survey_target("openai/gpt-4o-mini", tmp_db)[1] == "http://127.0.0.1:9/v1"


def survey_script():
    import os

    from pages._shared_start import survey_offer

    survey_offer(os.environ["UNIVAR_DB"], "openai/fake$eng")


def test_the_survey_button_stores_the_answers(tmp_db, fs, monkeypatch):
    stored_elicitation(tmp_db, "openai/fake", fs.api_base)
    assert jobs.survey_target("openai/fake", tmp_db) == ("openai/fake", fs.api_base)
    gate = threading.Event()
    real_run = survey.run
    monkeypatch.setattr(survey, "run", lambda *a, **k: (gate.wait(60), real_run(*a, **k))[1])
    at = AppTest.from_function(survey_script, default_timeout=60)
    at.run()
    assert not at.exception, at.exception
    assert "No survey of openai/fake$eng yet" in texts(at)
    (button,) = [b for b in at.button if b.label == f"Survey {plain('openai/fake$eng')}"]
    button.click().run()
    assert not at.exception, at.exception
    (job,) = jobs.survey_jobs(tmp_db)
    assert job.live and job.identities == ("openai/fake$eng",)
    (shown,) = progress_texts(at)
    assert shown.startswith("Surveying openai/fake$eng: 0 of 57 items")
    gate.set()
    assert job.wait(60) and job.status == "done", job.error
    answers = store.query_df(
        "SELECT count(*) AS n FROM survey_responses WHERE model = 'openai/fake'", path=tmp_db
    )["n"][0]
    assert answers == 57 and job.totals().done == 57
    assert list(
        store.query_df("SELECT status FROM runs WHERE kind = 'survey'", path=tmp_db)["status"]
    ) == ["done"]


def test_a_model_nobody_can_reach_gets_the_command(tmp_db, monkeypatch):
    monkeypatch.setattr(jobs, "survey_target", lambda *args: None)
    at = AppTest.from_function(survey_script, default_timeout=60)
    at.run()
    assert not at.exception, at.exception
    assert not at.button
    assert at.code[0].value == "python -m univar survey --model openai/fake --languages eng"


# --- the real server ----------------------------------------------------------------------------


@pytest.mark.slow
def test_the_start_button_starts_the_real_local_server(tmp_db, nothing_local, monkeypatch):
    try:
        local_server.ensure_llama_cpp()
    except (local_server.LocalLLMError, OSError) as exc:
        pytest.skip(f"llama-cpp-python cannot be installed: {str(exc).splitlines()[0]}")
    reached, gate = threading.Event(), threading.Event()
    real_file = local_server.model_file

    def held(name):  # holds the start at its first GGUF file, to see the progress there
        reached.set()
        gate.wait(60)
        return real_file(name)

    monkeypatch.setattr(local_server, "model_file", held)
    at = elicit_page(tmp_db)
    at.button(key=START).click().run()
    assert not at.exception, at.exception
    bg = local_server.background(nothing_local)
    assert bg is not None and reached.wait(60) and bg.live
    at.run()  # the page's poll
    (shown,) = progress_texts(at)
    assert "preparing the GGUF file of smollm2" in shown
    assert "They stop when this app stops." in texts(at)
    gate.set()
    assert bg.wait(300) and bg.state == "up", bg.error
    assert set(local_server.served_models(nothing_local)) == set(local_server.MODELS)
    at.run()
    assert not at.exception, at.exception
    assert at.multiselect(key="el_local").options == [
        "smollm2 — SmolLM2-135M-Instruct",
        "gemma3 — Gemma-3-270M",
    ]
    assert "Up: started by this app" in texts(at)
    assert not [b for b in at.button if b.key == START]
    process = bg.server.process
    local_server.stop_background()
    assert process.wait(30) is not None and bg.state == "stopped"


CHILD = """
import sys
from univar.llm import local_server
bg = local_server.start_background(sys.argv[1], models=("smollm2",), log_dir=sys.argv[2])
assert bg.wait(300) and bg.state == "up", bg.error
print(bg.server.process.pid, flush=True)
sys.stdin.read()  # until the test kills this process
"""


def gone(pid: int) -> bool:
    """No such process, or one that has exited and waits to be reaped."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return True
    return "\nState:\tZ" in status or "\nState:\tX" in status


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the server's tie is Linux's")
def test_the_server_dies_with_the_app_even_by_sigkill(tmp_path):
    try:
        local_server.ensure_llama_cpp()
    except (local_server.LocalLLMError, OSError) as exc:
        pytest.skip(f"llama-cpp-python cannot be installed: {str(exc).splitlines()[0]}")
    url = f"http://127.0.0.1:{local_server.free_port()}/v1"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    app = subprocess.Popen(
        [sys.executable, "-c", CHILD, url, str(tmp_path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        server_pid = int(app.stdout.readline())
        assert "smollm2" in local_server.served_models(url)
        app.send_signal(signal.SIGKILL)
        app.wait(30)
        deadline = time.monotonic() + 60
        while not gone(server_pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert gone(server_pid)
    finally:
        app.kill()
        app.wait(30)


@pytest.mark.slow
def test_the_value_maps_survey_button_surveys_the_real_smollm2(tmp_db, smollm2, monkeypatch):
    monkeypatch.setenv("UNIVAR_LOCAL_LLM_URL", smollm2)
    who = "openai/smollm2$eng"
    assert demo.seed_if_empty(tmp_db)
    with store.transaction(tmp_db) as con:  # the demo's own survey of it, gone
        for table in ("survey_scores", "survey_responses"):
            con.execute(f"DELETE FROM {table} WHERE model = 'openai/smollm2'")
    at = AppTest.from_file(APP, default_timeout=180)
    at.run()
    assert not at.exception, at.exception
    at.selectbox(key="map_profile_identity").set_value(who).run()
    assert not at.exception, at.exception
    assert f"No survey of {who} yet" in texts(at)
    at.button(key=f"survey_start_{who}").click().run()
    assert not at.exception, at.exception
    (job,) = jobs.survey_jobs(tmp_db)
    assert job.wait(900) and job.status == "done", job.error
    rows = store.query_df(
        "SELECT count(*) AS n, count(rating) AS rated FROM survey_responses"
        " WHERE model = 'openai/smollm2' AND language = 'eng'",
        path=tmp_db,
    )
    assert rows["n"][0] == 57 and rows["rated"][0] > 0  # a weak model, but it rates some
    sent = store.query_df(
        "SELECT count(*) AS n FROM requests WHERE purpose = 'survey'", path=tmp_db
    )["n"][0]
    assert sent > 0  # asked for real: the demo brings no cached replies
    at.run()
    assert not at.exception, at.exception
    assert f"No survey of {who} yet" not in texts(at)  # its profile instead
