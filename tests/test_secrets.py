"""API keys: lookup order, listing without revealing, redaction, and a planted key that must
appear nowhere: not in the database file, the CLI's output or its debug log."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from fault_server import FaultServer

from univar.llm import keys as keyring

ROOT = Path(__file__).resolve().parent.parent
PLANTED = "sk-test-PLANTED-9f8e7d6c5b4a39281706"


@pytest.fixture
def clean_env(monkeypatch):
    for names in keyring.PROVIDER_ENV.values():
        for name in names:
            monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_lookup_order_explicit_then_environment_then_secrets_file(clean_env, tmp_path):
    toml = tmp_path / "secrets.toml"
    toml.write_text(
        'OPENAI_API_KEY = "from-file-openai"\n[keys]\nANTHROPIC_API_KEY = "from-file-ant"\n'
    )
    assert keyring.resolve_api_key("openai/gpt-4o-mini", secrets_path=toml) == "from-file-openai"
    assert (
        keyring.resolve_api_key("anthropic/claude-3-5-haiku", secrets_path=toml) == "from-file-ant"
    )
    clean_env.setenv("OPENAI_API_KEY", "from-env")
    assert keyring.resolve_api_key("openai/gpt-4o-mini", secrets_path=toml) == "from-env"
    assert keyring.resolve_api_key("gpt-4o", secrets_path=toml) == "from-env"  # bare name
    assert keyring.resolve_api_key("openai/x", "explicit", secrets_path=toml) == "explicit"
    assert keyring.resolve_api_key("groq/llama3-8b-8192", secrets_path=toml) is None
    assert keyring.resolve_api_key("ollama_chat/llama3", secrets_path=toml) is None


def test_a_broken_secrets_file_supplies_nothing_and_says_nothing(clean_env, tmp_path):
    toml = tmp_path / "secrets.toml"
    toml.write_text('OPENAI_API_KEY = "sk-unterminated\n')
    assert keyring.resolve_api_key("openai/x", secrets_path=toml) is None
    assert keyring.present_keys(toml) == {}


def test_present_keys_names_providers_never_values(clean_env, tmp_path):
    toml = tmp_path / "secrets.toml"
    toml.write_text('GROQ_API_KEY = "gsk_abcdefghijklmnop"\n')
    clean_env.setenv("OPENAI_API_KEY", PLANTED)
    present = keyring.present_keys(toml)
    assert present == {"openai": "environment", "groq": "secrets.toml"}
    assert PLANTED not in repr(present)
    assert set(keyring.known_keys(toml)) == {PLANTED, "gsk_abcdefghijklmnop"}


def test_redact_known_keys_and_key_shaped_text():
    text = f"401: bad key {PLANTED}; also sk-ant-abcdefghijklmn and hf_abcdefghijkl, k=mysecret1"
    out = keyring.redact(text, ["mysecret1"])
    assert PLANTED not in out and "mysecret1" not in out and "sk-ant-" not in out
    assert "hf_abcdefghijkl" not in out and out.count(keyring.MASK) == 4
    assert keyring.redact("nothing secret here", []) == "nothing secret here"


def test_provider_of():
    assert keyring.provider_of("anthropic/claude-3-5-haiku") == "anthropic"
    assert keyring.provider_of("together_ai/mistralai/Mixtral") == "together_ai"
    assert keyring.provider_of("claude-3-opus") == "anthropic"
    assert keyring.provider_of("mystery") is None


def test_planted_key_appears_nowhere_even_when_the_server_quotes_it(tmp_path):
    db = tmp_path / "planted.duckdb"
    env = dict(
        os.environ,
        OPENAI_API_KEY=PLANTED,
        LITELLM_LOCAL_MODEL_COST_MAP="True",
        PYTHONPATH=str(ROOT),
    )
    with FaultServer() as fs:
        # some requests meet a server that echoes the Authorization header in its 401,
        # others a 500 with retries, the rest answer
        fs.script = ["auth_echo", "auth_echo", "500", "ok", "auth_echo"]
        argv = [
            sys.executable,
            "-m",
            "univar",
            "-v",
            "elicit",
            "--db",
            str(db),
            "--model",
            "openai/fake",
            "--api-base",
            fs.api_base,
            # a provider's key goes to another endpoint only when named for it
            "--api-key-env",
            "OPENAI_API_KEY",
            "--languages",
            "eng,fra",
            "--questions",
            "4",
            "--max-retries",
            "1",
            "--concurrency",
            "2",
        ]
        run = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True)
        stats = subprocess.run(
            [sys.executable, "-m", "univar", "stats", "--db", str(db)],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
        )
    assert fs.auth[0] == f"Bearer {PLANTED}"  # the key was really used ...
    assert run.returncode == 1 and "failed" in run.stdout  # ... and some requests failed
    for text in (run.stdout, run.stderr, stats.stdout, stats.stderr):
        assert PLANTED not in text and PLANTED[8:] not in text
    files = [p for p in tmp_path.iterdir() if p.name.startswith("planted.duckdb")]
    assert files
    for path in files:
        data = path.read_bytes()
        assert PLANTED.encode() not in data and PLANTED[8:].encode() not in data
    import duckdb

    with duckdb.connect(str(db), read_only=True) as con:
        errors = [
            e
            for (e,) in con.execute("SELECT error FROM requests WHERE error IS NOT NULL").fetchall()
        ]
    assert any("[REDACTED]" in e for e in errors)
