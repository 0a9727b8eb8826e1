"""Shared fixtures: a fresh DuckDB file per test, real tiny models once per session."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

# No test may reach a hub or litellm's price table.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
# The suite plays one user on their own machine unless a test says otherwise: AppTest and the
# test servers do not listen on loopback only, which would otherwise mean a shared server.
os.environ.setdefault("UNIVAR_MODE", "local")
# Fitted reducers of value-map layouts go to a folder of this run, never the checkout's .cache/
os.environ.setdefault("UNIVAR_LAYOUT_DIR", tempfile.mkdtemp(prefix="univar-layouts-"))

ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = ROOT.parent / "shared" / "data"


@pytest.fixture
def tmp_db(tmp_path, monkeypatch) -> Path:
    """A new, empty database file; also the default for code that reads UNIVAR_DB."""
    path = tmp_path / "test.duckdb"
    monkeypatch.setenv("UNIVAR_DB", str(path))
    return path


def shared_file(name: str) -> Path:
    """A file of ../shared/data, or a skip that says why (it is absent on a user's machine)."""
    path = SHARED_DATA / name
    if not path.exists():
        pytest.skip(f"{path} is absent: public test data lives in ../shared/data")
    return path


@pytest.fixture(scope="module")
def fault_server():
    """tests/fault_server.py on loopback: an OpenAI-compatible server that injects faults.
    One per module: requests a module left hanging must not count in the next one's."""
    from fault_server import FaultServer

    with FaultServer() as server:
        yield server


@pytest.fixture
def fs(fault_server):
    """The fault server, answering normally, counters at zero."""
    return fault_server.reset()


# --- local LLM servers ---
# Owned by the local-LLM work (univar/local_llm.py). Tests use `local_llm.api_base("smollm2")`
# (or "gemma3") with litellm's `model="openai/smollm2", api_key="local"`.


@pytest.fixture(scope="session")
def local_llm(tmp_path_factory):
    """SmolLM2 and Gemma-3 behind a real llama.cpp server, as OpenAI-compatible endpoints.

    Reuses a server already answering on 127.0.0.1:$UNIVAR_TEST_LLM_PORT (default 8010) with both
    aliases (`python -m univar serve-local`); otherwise starts one on a free port for the session
    and stops it at the end. Skips when llama-cpp-python cannot be installed.
    """
    from univar.llm import local_server as llm

    port = int(os.environ.get("UNIVAR_TEST_LLM_PORT", llm.DEFAULT_PORT))
    running = llm.attach(port=port)
    if running is not None:
        yield running
        return
    try:
        llm.ensure_llama_cpp()
    except (llm.LocalLLMError, OSError) as exc:
        pytest.skip(f"llama-cpp-python cannot be installed: {str(exc).splitlines()[0]}")
    with llm.start(port=llm.free_port(), log_dir=tmp_path_factory.mktemp("llm-server")) as server:
        yield server


@pytest.fixture(scope="module")
def smollm2(request) -> str:
    """The api_base of a SmolLM2 server: one already up ($UNIVAR_LOCAL_LLM_URL or the default
    port), else one of this module's own (SmolLM2 only: it starts in seconds)."""
    from univar.llm import local_server as llm

    for url in (os.environ.get("UNIVAR_LOCAL_LLM_URL"), f"http://127.0.0.1:{llm.DEFAULT_PORT}/v1"):
        if url and "smollm2" in llm.served_models(url):
            return url
    try:
        llm.ensure_llama_cpp()
        server = llm.start(("smollm2",), port=llm.free_port())
    except (llm.LocalLLMError, OSError) as exc:
        pytest.skip(f"no local SmolLM2 server: {str(exc).splitlines()[0]}")
    request.addfinalizer(server.stop)
    return server.api_base("smollm2")


# --- end local LLM servers ---
