"""Where the project's folders are, and which DuckDB file a call means. Imports nothing of ours."""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = PROJECT_ROOT / "data"
ASSETS_DIR = PROJECT_ROOT / "assets"
CACHE_DIR = PROJECT_ROOT / ".cache"
DEFAULT_DB = DATA_DIR / "univar.duckdb"

# What every `db` parameter accepts: a path, or None for the default database.
Db = str | os.PathLike | None


def layout_dir() -> Path:
    """Where the value map's fitted reducers live (`analysis.projection`): plain arrays, read
    without pickle, in a folder only univar writes; a reducer never travels inside a database,
    which may come from anyone. UNIVAR_LAYOUT_DIR, an operator's setting like every environment
    variable, moves it."""
    env = os.environ.get("UNIVAR_LAYOUT_DIR")
    return Path(env) if env else CACHE_DIR / "layouts"


def db_path(explicit: Db = None) -> Path:
    """--db wins, then UNIVAR_DB, then data/univar.duckdb."""
    if explicit:
        return Path(explicit)
    env = os.environ.get("UNIVAR_DB")
    return Path(env) if env else DEFAULT_DB
