"""Files on a shared server (issue 13, findings 3 and 4): database files and output folders stay
inside the data folder, somebody else's DuckDB file is never written to, an encoder path cannot
make the server walk the whole file system, and encoders (and their own code) come only from
where the operator allows.

Shared-mode tests set UNIVAR_MODE=shared and UNIVAR_DATA_DIR to a tmp folder; the rest of the
suite runs in local mode (conftest.py)."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import duckdb
import pytest
from conftest import ROOT
from streamlit.testing.v1 import AppTest
from test_train import write_fulcra

from univar import encoders, policy, store
from univar.encoders import base
from univar.errors import UserError
from univar.ingest import demo, value_fulcra
from univar.training import settings, train

OUTSIDE = "outside this server's data folder"
NOT_ALLOWED = "is not allowed on this shared server"


@pytest.fixture
def data_dir(tmp_path, monkeypatch) -> Path:
    """A shared server whose data folder is tmp_path/data."""
    data = tmp_path / "data"
    data.mkdir()
    monkeypatch.setenv("UNIVAR_MODE", "shared")
    monkeypatch.setenv("UNIVAR_DATA_DIR", str(data))
    return data


@pytest.fixture(autouse=True)
def no_demo(monkeypatch):
    """The sidebar seeds an empty database with the shipped demo (seconds): not needed here."""
    monkeypatch.setattr(demo, "seed_if_empty", lambda db=None, demo_dir=None: False)


def shared() -> policy.Policy:
    return policy.load()


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def foreign_db(path: Path) -> Path:
    """Somebody else's DuckDB file: a table of its own, no univar schema."""
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE t (x INTEGER)")
    con.execute("INSERT INTO t VALUES (1), (2)")
    con.close()
    return path


def _sidebar_script():
    from pages._shared import sidebar

    sidebar()


def sidebar_app(db) -> AppTest:
    at = AppTest.from_function(_sidebar_script, default_timeout=60)
    at.session_state["db"] = str(db)
    at.run()
    assert not at.exception, at.exception
    return at


def type_db(at: AppTest, text: str) -> AppTest:
    at.sidebar.text_input[0].set_value(text).run()
    assert not at.exception, at.exception
    return at


def unescaped(markdown: str) -> str:
    """An error's text as typed: pages escape Markdown in messages that quote user input."""
    return re.sub(r"\\(.)", r"\1", markdown)


def errors(at: AppTest) -> list[str]:
    return [unescaped(e.value) for e in at.sidebar.error]


# --- database files and output folders ---------------------------------------------------------


def test_shared_mode_keeps_paths_inside_the_data_folder(data_dir, tmp_path):
    rules = shared()
    assert rules.shared
    outside = tmp_path / "elsewhere" / "new" / "x.duckdb"
    (data_dir / "link").symlink_to(tmp_path)  # a way out through a symlink
    for path in (
        outside,
        "../elsewhere/x.duckdb",
        data_dir / ".." / "x.duckdb",
        data_dir / "link" / "x.duckdb",
        "~/x.duckdb",
        data_dir,  # the folder itself is no file and no output folder
    ):
        with pytest.raises(UserError, match=OUTSIDE):
            rules.resolve_inside(path, "database file")
    assert not (tmp_path / "elsewhere").exists()
    assert rules.resolve_inside("mine.duckdb") == data_dir.resolve() / "mine.duckdb"
    assert rules.resolve_inside(data_dir / "a" / "b.duckdb") == data_dir.resolve() / "a/b.duckdb"
    assert not (data_dir / "a").exists()  # resolving creates nothing


def test_local_mode_takes_any_path_as_given(tmp_path):
    rules = policy.load()  # the suite's UNIVAR_MODE=local
    assert not rules.shared
    for path in ("/anywhere/x.duckdb", "../x.duckdb", "rel/x.duckdb"):
        assert rules.resolve_inside(path) == Path(path)


def test_sidebar_refuses_a_database_outside_and_creates_nothing(data_dir, tmp_path):
    at = sidebar_app(data_dir / "univar.duckdb")
    outside = tmp_path / "elsewhere" / "new"
    type_db(at, str(outside / "x.duckdb"))
    (message,) = errors(at)  # one refusal, one line
    assert OUTSIDE in message and "\n" not in message
    assert at.session_state["db"] == str(data_dir / "univar.duckdb")
    assert not (tmp_path / "elsewhere").exists()

    type_db(at, "mine.duckdb")  # a relative name goes into the data folder
    assert at.session_state["db"] == str(data_dir.resolve() / "mine.duckdb")


def test_sidebar_in_local_mode_still_takes_any_path(tmp_path):
    at = sidebar_app(tmp_path / "first.duckdb")
    other = tmp_path / "elsewhere" / "second.duckdb"
    type_db(at, str(other))
    assert at.session_state["db"] == str(other)
    assert not errors(at)


def test_a_foreign_duckdb_file_is_refused_and_left_untouched(tmp_path):
    path = foreign_db(tmp_path / "theirs.duckdb")
    before = digest(path)
    for attempt in (
        store.check_store,
        store.schema_version,
        lambda p: store.connect(p).__enter__(),
    ):
        with pytest.raises(store.NotAStoreError, match="not a UniVaR database"):
            attempt(path)
    with pytest.raises(store.NotAStoreError):
        with store.transaction(path) as con:
            con.execute("CREATE TABLE mine (y INTEGER)")
    assert issubclass(store.NotAStoreError, UserError)  # the CLI prints it as one line
    assert issubclass(store.NotAStoreError, store.StoreError)

    at = sidebar_app(tmp_path / "mine.duckdb")
    type_db(at, str(path))
    (message,) = errors(at)
    assert "theirs.duckdb is not a UniVaR database" in message and "\n" not in message
    assert at.session_state["db"] == str(tmp_path / "mine.duckdb")
    assert digest(path) == before
    assert duckdb.connect(str(path), read_only=True).execute("SHOW TABLES").fetchall() == [("t",)]


def test_a_univar_store_and_a_new_file_still_open(tmp_path):
    new = tmp_path / "new.duckdb"
    store.check_store(new)  # a missing file becomes a new database
    assert not new.exists()
    assert store.schema_version(new) >= 1
    store.check_store(new)  # and is a UniVaR store from then on


def test_train_output_folder_stays_inside_the_data_folder(data_dir, tmp_path):
    rules = shared()
    with pytest.raises(UserError, match=OUTSIDE):
        train.check_out(tmp_path / "elsewhere" / "run", resume=False, policy=rules)
    assert train.check_out("run", resume=False, policy=rules) == data_dir.resolve() / "run"
    root = train.runs_root(rules)
    assert root == data_dir / "encoders"
    cfg = settings.TrainConfig(mode="head")
    assert train.default_out(cfg, root).parent == root
    assert train.check_out(train.default_out(cfg, root), resume=False, policy=rules)
    # local mode (and the CLI) keep out/encoders/ and any folder
    assert train.runs_root(policy.load(environ={"UNIVAR_MODE": "local"})) == (
        ROOT / "out" / "encoders"
    )
    assert train.check_out(tmp_path / "any", resume=False) == tmp_path / "any"
    assert not (tmp_path / "elsewhere").exists() and not (data_dir / "run").exists()


def test_train_page_refuses_an_output_folder_outside(data_dir, tmp_path):
    db = data_dir / "univar.duckdb"
    write_fulcra(tmp_path / "small.jsonl", n_questions=30)
    value_fulcra.load_value_fulcra(tmp_path / "small.jsonl", db, dataset="small")
    at = AppTest.from_file(str(ROOT / "pages" / "train_evaluate.py"), default_timeout=120)
    at.session_state["db"] = str(db)
    at.run()
    at.radio(key="te_mode").set_value("head").run()
    at.text_input(key="te_out").set_value(str(tmp_path / "elsewhere" / "enc"))
    at.button(key="te_start").click().run()
    assert not at.exception, at.exception
    assert any(OUTSIDE in unescaped(e.value) for e in at.error)
    assert "te_job" not in at.session_state
    assert not (tmp_path / "elsewhere").exists()


# --- the encoder path --------------------------------------------------------------------------


def old_fingerprint(path: Path) -> str:
    """The unbounded walk this replaced: ids must not change, or every cached vector is lost."""
    h = hashlib.sha256()
    for f in sorted(path.rglob("*")):
        if f.is_file() and not f.name.startswith("."):
            h.update(str(f.relative_to(path)).encode())
            h.update(f.read_bytes())
    return h.hexdigest()[:12]


def model_folder(path: Path, n_files: int = 3) -> Path:
    (path / "1_Pooling").mkdir(parents=True)
    (path / "1_Pooling" / "config.json").write_text("{}")
    (path / ".hidden").write_text("not hashed")
    for i in range(n_files):
        (path / f"part{i}.bin").write_bytes(bytes([i]) * 100)
    return path


def test_fingerprint_ids_are_unchanged(tmp_path):
    folder = model_folder(tmp_path / "m")
    assert base._dir_fingerprint(str(folder)) == old_fingerprint(folder)


def test_fingerprint_is_remembered_until_a_file_changes(tmp_path, monkeypatch):
    monkeypatch.setattr(base, "FINGERPRINT_MEMO", tmp_path / "memo" / "fingerprints.json")
    folder = str(model_folder(tmp_path / "m"))
    first = base._dir_fingerprint(folder)
    memo = json.loads(base.FINGERPRINT_MEMO.read_text())
    assert memo[folder]["hash"] == first
    # a new process trusts the memo while every file's stat is unchanged ...
    memo[folder]["hash"] = "remembered"
    base.FINGERPRINT_MEMO.write_text(json.dumps(memo))
    base._dir_fingerprint.cache_clear()
    assert base._dir_fingerprint(folder) == "remembered"
    # ... and reads the folder again once a file was written, even to the same size
    (Path(folder) / "part1.bin").write_bytes(b"\x09" * 100)
    base._dir_fingerprint.cache_clear()
    fresh = base._dir_fingerprint(folder)
    assert fresh == old_fingerprint(Path(folder)) != first
    base._dir_fingerprint.cache_clear()


def test_fingerprint_refuses_the_file_system_and_home_before_listing(monkeypatch):
    def never(*args, **kwargs):
        raise AssertionError("listed a folder it should have refused")

    monkeypatch.setattr(Path, "rglob", never)
    for path in ("/", str(Path.home()), str(Path.home() / ".")):
        with pytest.raises(UserError, match="whole file system or home folder"):
            base._dir_fingerprint(path)
    with pytest.raises(UserError, match="whole file system"):
        encoders.encoder_id("/")  # the way the sidebar's "Other encoder" reaches it
    with pytest.raises(UserError, match="whole file system"):
        encoders.LazyEncoder("/")


@pytest.mark.parametrize(
    "limit, value, match",
    [("FINGERPRINT_MAX_ENTRIES", 5, "files and folders"), ("FINGERPRINT_MAX_BYTES", 250, "GB")],
)
def test_fingerprint_refuses_a_folder_over_the_limits_before_reading(
    tmp_path, monkeypatch, limit, value, match
):
    folder = model_folder(tmp_path / "big", n_files=8)  # 11 entries, 800 bytes
    monkeypatch.setattr(base, limit, value)
    opened = []
    monkeypatch.setattr(base, "open", lambda *a, **k: opened.append(a), raising=False)
    with pytest.raises(UserError, match=match):
        base._dir_fingerprint(str(folder))
    assert opened == []  # refused before a byte was hashed


def test_shared_mode_allows_listed_encoders_data_folders_and_hub_names(data_dir):
    rules = shared()
    for name in encoders.encoder_choices():
        assert encoders.check_allowed(name, rules) == name
    assert encoders.check_allowed(None, rules) == encoders.resolve_name(None)
    assert encoders.check_allowed("CAiRE/UniVaR-lambda-5", rules) == "CAiRE/UniVaR-lambda-5"
    mine = model_folder(data_dir / "mine")
    assert encoders.check_allowed("mine", rules) == str(mine.resolve())
    assert encoders.check_allowed(str(mine), rules) == str(mine.resolve())


def test_shared_mode_refuses_other_encoder_paths_with_one_message(data_dir, tmp_path):
    rules = shared()
    there = model_folder(tmp_path / "there")
    (data_dir / "link").symlink_to(there)
    names = {
        "an existing folder": str(there),
        "a missing folder": str(tmp_path / "not-there"),
        "the root": "/",
        "a system folder": "/etc",
        "a missing system path": "/etc/no-such-thing",
        "a way up": "../there",
        "home": "~",
        "a symlink out of the data folder": "link",
        "a project folder that looks like a hub name": "pages",
    }
    messages = {}
    for what, name in names.items():
        with pytest.raises(UserError) as refused:
            encoders.check_allowed(name, rules)
        messages[what] = str(refused.value).replace(repr(name), "NAME")
    assert len(set(messages.values())) == 1, messages
    assert NOT_ALLOWED in next(iter(messages.values()))
    # local mode: any path, as before (the fingerprint bounds still apply)
    local = policy.load(environ={"UNIVAR_MODE": "local"})
    assert encoders.check_allowed(str(there), local) == str(there)


def test_trust_remote_code_is_the_operators_switch(data_dir, monkeypatch):
    with pytest.raises(UserError, match="operator has not allowed"):
        encoders.check_allowed("CAiRE/UniVaR-lambda-5", shared(), trust_remote_code=True)
    monkeypatch.setenv("UNIVAR_TRUST_REMOTE_CODE", "1")
    assert encoders.check_allowed("CAiRE/UniVaR-lambda-5", shared(), trust_remote_code=True)
    local = policy.load(environ={"UNIVAR_MODE": "local"})
    assert encoders.check_allowed("CAiRE/UniVaR-lambda-5", local, trust_remote_code=True)


def pick_other_encoder(at: AppTest) -> AppTest:
    from pages._shared import OTHER_ENCODER

    at.sidebar.selectbox[0].set_value(OTHER_ENCODER).run()
    assert not at.exception, at.exception
    return at


def test_sidebar_other_encoder_in_shared_mode(data_dir, monkeypatch):
    at = pick_other_encoder(sidebar_app(data_dir / "univar.duckdb"))
    before = at.session_state["encoder"]
    # no switch for the model's own code: the operator has not allowed it
    assert not at.sidebar.checkbox
    assert any("trust_remote_code" in c.value for c in at.sidebar.caption)
    for name in ("/", "/etc"):
        at.sidebar.text_input[1].set_value(name).run()
        assert not at.exception, at.exception
        assert any(NOT_ALLOWED in e for e in errors(at))
        assert at.session_state["encoder"] == before

    monkeypatch.setenv("UNIVAR_TRUST_REMOTE_CODE", "true")
    at.run()
    assert at.sidebar.checkbox[0].label.startswith("Run the encoder's own code")


def test_sidebar_other_encoder_refuses_the_file_system_in_local_mode(tmp_path):
    at = pick_other_encoder(sidebar_app(tmp_path / "univar.duckdb"))
    before = at.session_state["encoder"]
    at.sidebar.text_input[1].set_value("/").run()
    assert not at.exception, at.exception
    assert any("whole file system" in e for e in errors(at))
    assert at.session_state["encoder"] == before
    assert at.sidebar.checkbox  # local mode keeps the switch
