"""Issue 13, keys and endpoints: the server's own API key never goes to an address a user types,
api_bases off the operator's allow-list are refused in shared mode (and a refused or closed port
reads the same), credentials inside an api_base are never stored or shown, and on a shared
server only the session that started a job may cancel it.

Every request goes to `FaultServer` on loopback, which records the Authorization headers."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest
from fault_server import elicit_config
from streamlit.testing.v1 import AppTest

from univar import store
from univar.catalog import questions
from univar.elicit import engine, jobs
from univar.errors import UserError
from univar.llm import keys as keyring
from univar.llm.endpoints import check_connection, check_reachable
from univar.llm.local_server import free_port
from univar.policy import Policy, origin

ROOT = Path(__file__).resolve().parent.parent
ELICIT = str(ROOT / "pages" / "elicit.py")
UPLOAD = str(ROOT / "pages" / "upload.py")
PLANTED = "sk-planted-operator-4f3e2d1c0b9a8776"
TYPED = "sk-typed-by-the-user-0011223344"
MODEL = "openai/gpt-4o-mini"
SHARED = Policy(mode="shared")


@pytest.fixture
def env(tmp_db, tmp_path, monkeypatch):
    """The operator's OpenAI key in the environment; no local model server."""
    for names in keyring.PROVIDER_ENV.values():
        for name in names:
            monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("OPENAI_API_KEY", PLANTED)
    monkeypatch.setenv("UNIVAR_LOCAL_LLM_URL", f"http://127.0.0.1:{free_port()}/v1")
    monkeypatch.setenv("UNIVAR_DATA_DIR", str(tmp_path))  # shared mode keeps files in here
    monkeypatch.delenv("UNIVAR_ALLOWED_API_BASES", raising=False)
    return monkeypatch


def _share(monkeypatch, *allowed: str) -> None:
    monkeypatch.setenv("UNIVAR_MODE", "shared")
    if allowed:
        monkeypatch.setenv("UNIVAR_ALLOWED_API_BASES", ",".join(allowed))


def _unescaped(text) -> str:
    """A message as written, without the markdown escapes `pages._shared.plain` adds."""
    return str(text).replace("\\", "").replace("\u2060", "")


def _texts(at) -> str:
    kinds = ("error", "success", "info", "caption", "markdown", "warning")
    return "\n".join(_unescaped(e.value) for kind in kinds for e in at.get(kind))


def _elicit_page(db: Path, model: str = MODEL, api_base: str | None = None) -> AppTest:
    at = AppTest.from_file(ELICIT, default_timeout=60)
    at.session_state["db_path"] = str(db)
    at.run()
    at.text_input(key="el_custom").input(model)
    if api_base:
        at.text_input(key="el_custom_base").input(api_base)
    at.number_input(key="el_qn").set_value(1)
    at.number_input(key="el_max_tokens").set_value(16)
    return at.run()


def _run(at, timeout: float = 60.0):
    at.button(key="el_run").click().run()
    assert not at.exception, at.exception
    job = jobs.get(at.session_state["el_job"])
    assert job is not None, _texts(at)
    assert job.wait(timeout) and job.status == "done", job.error
    return at.run()


def _planted_sent(fs) -> bool:
    return any(PLANTED in (a or "") for a in fs.auth)


# --- which key goes where ----------------------------------------------------------------------


def test_key_for_sends_the_operators_key_only_to_its_providers_endpoints(env):
    local = Policy()
    assert keyring.key_for(MODEL, None, policy=local) == (PLANTED, "environment")
    assert keyring.key_for(MODEL, "https://api.openai.com/v1", policy=SHARED)[0] == PLANTED
    assert keyring.key_for(MODEL, "http://127.0.0.1:9/v1", policy=local) == (None, "none")
    assert keyring.key_for(MODEL, "https://evil.example/v1", policy=SHARED) == (None, "none")
    listed = Policy(key_endpoints={"openai": ("https://gw.lab.example",)})
    assert keyring.key_for(MODEL, "https://gw.lab.example/v1", policy=listed)[0] == PLANTED
    assert keyring.key_for(MODEL, "http://h/v1", typed=TYPED, policy=SHARED) == (TYPED, "typed")
    # no key for an api_base: a placeholder, or litellm would fill in the environment's itself
    assert keyring.request_key(MODEL, "http://127.0.0.1:9/v1", policy=local) == "local"
    assert keyring.key_source_label(MODEL, "environment") == "the server's OPENAI key"
    assert keyring.key_source_label(MODEL, "typed") == "your key typed here"


@pytest.mark.parametrize("mode", ["local", "shared"])
def test_elicit_page_never_sends_the_server_key_to_a_typed_api_base(env, fs, tmp_db, mode):
    if mode == "shared":
        _share(env, fs.api_base)
    at = _elicit_page(tmp_db, api_base=fs.api_base)
    at.button(key="el_test").click().run()
    assert any("answered" in s.value for s in at.success), _texts(at)
    at = _run(at)
    assert fs.requests >= 2 and not _planted_sent(fs)
    assert f"at {fs.api_base} uses none" in _texts(at)

    # a key typed for this endpoint goes with its requests (and only then)
    at.text_input(key=f"el_key_openai@{origin(fs.api_base)}").input(TYPED).run()
    assert "uses your key typed here" in _texts(at)
    sent = fs.requests
    at.button(key="el_test").click().run()
    at.number_input(key="el_qn").set_value(2).run()  # one question not asked yet
    at = _run(at)
    assert fs.requests > sent + 1 and not _planted_sent(fs)
    assert set(fs.auth[sent:]) == {f"Bearer {TYPED}"}
    assert PLANTED not in _texts(at) and TYPED not in _texts(at)


def test_elicit_page_names_the_server_key_for_the_providers_own_api(env, tmp_db):
    at = _elicit_page(tmp_db)  # openai/gpt-4o-mini, no api_base: the user's own env key
    assert "**openai** uses the server's OPENAI key" in _texts(at)
    assert not [w for w in at.text_input if w.key and w.key.startswith("el_key_")]
    assert PLANTED not in _texts(at)


def _upload_page(db: Path, fs, key: str | None = None, text: str = "Quelle valeur ?") -> AppTest:
    at = AppTest.from_file(UPLOAD, default_timeout=60)
    at.session_state["db"] = str(db)
    at.run()
    csv = f"question,answer,model,language\n{text},La liberté.,m,fra\n".encode()
    at.get("file_uploader")[0].upload("french.csv", csv, "text/csv").run()
    at.checkbox(key="up_translate").check().run()
    _labelled(at.text_input, "Translator model").input(MODEL)
    _labelled(at.text_input, "Its api_base").input(fs.api_base).run()
    if key:
        at.text_input(key="up_t_key").input(key).run()
    _labelled(at.checkbox, "Embed").uncheck().run()
    return at


def _labelled(widgets, label: str):
    return next(w for w in widgets if w.label.startswith(label))


def _import(at) -> AppTest:
    next(b for b in at.button if b.label == "Import").click().run()
    assert not at.exception, at.exception
    return at


@pytest.mark.parametrize("mode", ["local", "shared"])
def test_upload_translator_never_gets_the_server_key(env, fs, tmp_db, mode):
    if mode == "shared":
        _share(env, fs.api_base)
    at = _import(_upload_page(tmp_db, fs))
    assert not at.error, _texts(at)
    assert fs.requests == 2 and not _planted_sent(fs)  # question and answer, no key
    assert "The translator uses none" in _texts(at)

    at = _upload_page(tmp_db, fs, key=TYPED, text="Autre question ?")
    assert "The translator uses your key typed here" in _texts(at)
    _labelled(at.text_input, "Dataset name").input("second").run()
    at = _import(at)
    assert not at.error, _texts(at)
    assert fs.auth[2:] == [f"Bearer {TYPED}"]  # the answer was translated before: cached


# --- the allow-list ----------------------------------------------------------------------------


def test_shared_mode_refuses_an_api_base_off_the_list_and_sends_nothing(env, fs, tmp_db):
    _share(env, "https://llm.lab.example/v1")
    at = _elicit_page(tmp_db, api_base=fs.api_base)
    errors = [_unescaped(e.value) for e in at.error]
    assert len(errors) == 1, errors
    assert "not allowed" in errors[0] and "allowed_api_bases" in errors[0]
    assert "UNIVAR_ALLOWED_API_BASES" in errors[0]
    assert at.button(key="el_run").disabled and at.button(key="el_test").disabled

    up = _import(_upload_page(tmp_db, fs))
    assert len(up.error) == 1 and "allowed_api_bases" in _unescaped(up.error[0].value)
    # nor does any core call send it, whoever calls
    with pytest.raises(UserError, match="allowed_api_bases"):
        check_connection(MODEL, fs.api_base, TYPED, policy=SHARED)
    bank = questions.select_questions(None, 1)
    with pytest.raises(UserError, match="allowed_api_bases"):
        engine.run(elicit_config(fs, bank, n=1), tmp_db, policy=SHARED)
    assert fs.requests == 0
    with store.connect(tmp_db) as con:
        assert con.execute("SELECT count(*) FROM runs").fetchall()[0][0] == 0


def test_a_closed_port_and_an_open_one_read_the_same_in_shared_mode():
    closed = f"http://127.0.0.1:{free_port()}/v1"
    with socket.create_server(("127.0.0.1", 0)) as listener:
        listener.setblocking(False)
        open_ = f"http://127.0.0.1:{listener.getsockname()[1]}/v1"
        messages = []
        for url in (closed, open_):
            with pytest.raises(UserError) as err:
                check_reachable(url, policy=SHARED)
            messages.append(str(err.value).replace(url, "URL"))
        with pytest.raises(BlockingIOError):
            listener.accept()  # not even probed
    assert messages[0] == messages[1] and "allowed_api_bases" in messages[0]
    # allow-listed hosts that cannot be reached: one sentence whatever the reason
    refused, unknown = closed, "http://no-such-host.invalid/v1"
    listed = Policy(mode="shared", allowed_api_bases=(refused, unknown))
    said = []
    for url in (refused, unknown):
        with pytest.raises(UserError) as err:
            check_reachable(url, policy=listed)
        said.append(str(err.value).replace(url, "URL"))
        result = check_connection("openai/fake", url, TYPED, policy=listed, timeout_s=5)
        said.append(result.message.replace(url, "URL"))
    assert set(said) == {"cannot reach URL"}


# --- credentials inside an api_base ------------------------------------------------------------


def test_credentials_in_an_api_base_are_never_stored_or_shown(env, fs, tmp_db):
    base = fs.api_base.replace("http://", "http://alice:s3cr3t-pass-77@") + "?api-key=xyz-tok-99"
    at = _elicit_page(tmp_db, model="openai/fake", api_base=base)
    at.multiselect(key="el_languages").set_value(["eng", "fra"]).run()
    at = _run(at)
    assert fs.requests > 0  # the real URL was used
    with store.connect(tmp_db) as con:
        stored = con.execute("SELECT config FROM runs").fetchall()[0][0]
        texts = con.execute(
            "SELECT string_agg(coalesce(api_base, ''), ' ') FROM requests"
        ).fetchall()[0][0]
        texts += con.execute(
            "SELECT string_agg(coalesce(translator, ''), ' ') FROM qa_pairs"
        ).fetchall()[0][0]
    history = str(at.dataframe[-1].value.to_dict("records"))
    for where in (stored, texts, history, _texts(at)):
        assert "s3cr3t" not in where and "xyz-tok" not in where
    assert keyring.MASK in stored and "127.0.0.1" in history
    for path in tmp_db.parent.glob(tmp_db.name + "*"):  # the file and its WAL
        assert b"s3cr3t" not in path.read_bytes() and b"xyz-tok" not in path.read_bytes()

    # this session typed the URL: its run can go there again; another session must retype it
    [run_id] = [r["run"] for r in at.dataframe[-1].value.to_dict("records")]
    with pytest.raises(UserError, match="credentials"):
        jobs.restart(run_id, tmp_db)
    at.button(key="el_again").click().run()
    job = jobs.get(at.session_state["el_job"])
    assert job.wait(30) and job.status == "done" and job.configs[0].api_base == base


# --- who may cancel ----------------------------------------------------------------------------


def _slow_job(fs, db, policy, owner="first"):
    fs.delay_s = 0.3
    bank = questions.select_questions(None, 6)
    config = elicit_config(fs, bank, n=6, concurrency=1)
    return jobs.start(config, db, owner=owner, policy=policy, preflight=False)


def test_shared_mode_only_the_owner_may_cancel(env, fs, tmp_db, tmp_path):
    shared = Policy(mode="shared", data_dir=tmp_path, allowed_api_bases=(fs.api_base,))
    job = _slow_job(fs, tmp_db, shared)
    try:
        with pytest.raises(UserError, match="another browser session"):
            jobs.cancel(job.job_id, by="second")
        with pytest.raises(UserError, match="another browser session"):
            job.cancel()
        assert job.live and not job.cancel_event.is_set()
        # a second session asking for the same job watches it; it does not get control
        again = jobs.start(job.configs, tmp_db, owner="second", policy=shared, preflight=False)
        assert again is job and not again.may_control("second")
    finally:
        assert jobs.cancel(job.job_id, by="first")
    assert job.wait(30) and job.status == "cancelled", job.error


def test_local_mode_any_tab_may_cancel(env, fs, tmp_db):
    job = _slow_job(fs, tmp_db, Policy())
    assert job.may_control("second") and jobs.cancel(job.job_id, by="second")
    assert job.wait(30) and job.status == "cancelled"


def test_shared_page_shows_another_sessions_job_read_only(env, fs, tmp_db):
    _share(env, fs.api_base)
    fs.delay_s = 0.3
    first = _elicit_page(tmp_db, model="openai/fake", api_base=fs.api_base)
    first.number_input(key="el_qn").set_value(6)
    first.number_input(key="el_concurrency").set_value(1).run()
    first.button(key="el_run").click().run()
    job = jobs.get(first.session_state["el_job"])
    try:
        deadline = time.monotonic() + 30
        while job.status != "running":
            assert time.monotonic() < deadline
            time.sleep(0.05)
        second = AppTest.from_file(ELICIT, default_timeout=60)
        second.session_state["db_path"] = str(tmp_db)
        second.run()
        assert "Running openai/fake" in _texts(second)
        assert "Started in another browser session" in _texts(second)
        assert not [b for b in second.button if b.key == f"el_cancel_{job.job_id}"]
        first.run()
        assert first.button(key=f"el_cancel_{job.job_id}")  # the owner has it
        first.button(key=f"el_cancel_{job.job_id}").click().run()
    finally:
        job.cancel_event.set()
    assert job.wait(30) and job.status == "cancelled"
