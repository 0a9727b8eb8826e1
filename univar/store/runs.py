"""Run records: one row in `runs` per elicitation, survey, training or import, opened and closed here.

A run's id is `<kind>-<UTC date>-<time>-<8 hex>`: sortable by start, unique across processes. The
stored config never holds a secret (configs carry no keys). Imports only the schema's neighbours.
"""

from __future__ import annotations

import json
import time
import uuid

import duckdb

from univar.config import stable_hash

KINDS = ("elicit", "survey", "train", "import")


def new_run_id(kind: str) -> str:
    if kind not in KINDS:
        raise ValueError(f"unknown run kind {kind!r}")
    return f"{kind}-{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}-{uuid.uuid4().hex[:8]}"


def start_run(
    con: duckdb.DuckDBPyConnection,
    kind: str,
    config: dict,
    *,
    finished: dict | None = None,
) -> str:
    """Insert a run's row on `con` (inside the caller's transaction, where it has one) and
    return its id. `finished`: the counts of a run that is done as it starts (an import)."""
    run_id = new_run_id(kind)
    if finished is None:
        con.execute(
            "INSERT INTO runs (run_id, kind, config, config_hash, status) "
            "VALUES (?, ?, ?, ?, 'running')",
            [run_id, kind, json.dumps(config), stable_hash(config)],
        )
    else:
        con.execute(
            "INSERT INTO runs (run_id, kind, config, config_hash, status, counts, finished_at) "
            "VALUES (?, ?, ?, ?, 'done', ?, current_timestamp)",
            [run_id, kind, json.dumps(config), stable_hash(config), json.dumps(finished)],
        )
    return run_id


def finish_statement(run_id: str, status: str, counts: dict) -> tuple[str, list]:
    """The SQL and parameters that close a run: for a writer thread that runs it in its turn."""
    return (
        "UPDATE runs SET status = ?, counts = ?, finished_at = current_timestamp WHERE run_id = ?",
        [status, json.dumps(counts), run_id],
    )


def finish_run(con: duckdb.DuckDBPyConnection, run_id: str, status: str, counts: dict) -> None:
    con.execute(*finish_statement(run_id, status, counts))
