"""Shared fixtures: a fresh DuckDB file per test, real tiny models once per session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# No test may reach a hub or litellm's price table.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

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
