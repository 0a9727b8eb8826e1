"""Run records: one pair of functions opens and closes every run's row, with one id format."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pandas as pd
import pytest

from univar import store
from univar.config import stable_hash
from univar.errors import UserError
from univar.ingest import importers
from univar.ingest.validate import validate_bytes
from univar.store import runs

PACKAGE = Path(__file__).resolve().parent.parent / "univar"
ID = re.compile(r"^(?P<kind>[a-z]+)-\d{8}-\d{6}-[0-9a-f]{8}$")
GOOD = b"question,answer,model,language\nIs honesty important?,Yes.,demo-model,eng\n"


def run_row(db, run_id: str) -> dict:
    frame = store.query_df("SELECT * FROM runs WHERE run_id = ?", [run_id], path=db)
    assert len(frame) == 1
    return frame.iloc[0].to_dict()


def test_a_run_starts_running_and_finishes_with_its_counts(tmp_db):
    config = {"model": "demo", "languages": ["eng", "fra"], "out": "runs/x", "seed": 0}
    with store.connect(tmp_db) as con:
        run_id = runs.start_run(con, "train", config)
    row = run_row(tmp_db, run_id)
    assert row["kind"] == "train" and row["status"] == "running"
    assert json.loads(row["config"]) == config
    assert row["config_hash"] == stable_hash(config)
    assert pd.isna(row["counts"]) and pd.isna(row["finished_at"])
    # a new connection closes it: the row was committed, not left in a transaction
    with store.connect(tmp_db) as con:
        runs.finish_run(con, run_id, "done", {"steps": 3, "qas": 12})
    row = run_row(tmp_db, run_id)
    assert row["status"] == "done" and json.loads(row["counts"]) == {"steps": 3, "qas": 12}
    assert row["finished_at"] >= row["started_at"]


def test_finish_statement_is_what_finish_run_executes(tmp_db):
    with store.connect(tmp_db) as con:
        run_id = runs.start_run(con, "elicit", {"model": "m"})
        sql, params = runs.finish_statement(run_id, "cancelled", {"ok": 1})
        assert params == ["cancelled", json.dumps({"ok": 1}), run_id]
        con.execute(sql, params)  # what the elicitation writer does in its turn
    row = run_row(tmp_db, run_id)
    assert row["status"] == "cancelled" and json.loads(row["counts"]) == {"ok": 1}


def test_a_run_row_inside_a_rolled_back_transaction_is_gone(tmp_db):
    with pytest.raises(RuntimeError), store.transaction(tmp_db) as con:
        runs.start_run(con, "elicit", {"model": "m"})
        raise RuntimeError("the run's first transaction fails")
    assert store.query_df("SELECT count(*) AS n FROM runs", path=tmp_db)["n"][0] == 0


@pytest.mark.parametrize("kind", runs.KINDS)
def test_run_ids_have_one_format(kind):
    made = {runs.new_run_id(kind) for _ in range(50)}
    assert len(made) == 50  # unique within one second too
    for run_id in made:
        match = ID.match(run_id)
        assert match and match["kind"] == kind, run_id


def test_an_unknown_kind_is_refused(tmp_db):
    with pytest.raises(ValueError, match="unknown run kind"):
        runs.new_run_id("export")
    with store.connect(tmp_db) as con, pytest.raises(ValueError):
        runs.start_run(con, "export", {})


def test_an_import_is_recorded_as_already_done(tmp_db):
    result = importers.import_validation(validate_bytes(GOOD), tmp_db, dataset="mine")
    assert ID.match(result.run_id)["kind"] == "import"
    row = run_row(tmp_db, result.run_id)
    assert row["kind"] == "import" and row["status"] == "done"
    assert row["finished_at"] >= row["started_at"]
    counts = {"rows": 1, "untranslated": 0, "with_value": 0}
    assert json.loads(row["counts"]) == counts
    config = json.loads(row["config"])
    assert {k: config[k] for k in counts} == counts and config["translated"] == 0
    assert row["config_hash"] == stable_hash(config)
    qa = store.query_df("SELECT DISTINCT run_id FROM qa_pairs", path=tmp_db)
    assert list(qa["run_id"]) == [result.run_id]


def test_a_refused_import_leaves_no_run_row(tmp_db):
    # two questions under one question_id pass validation but share a qa_id: refused inside
    # the transaction, after the run's row was written
    clash = (
        b"question,answer,model,language,question_id\n"
        b"Is honesty important?,Yes.,demo-model,eng,q1\n"
        b"Is kindness important?,No.,demo-model,eng,q1\n"
    )
    with pytest.raises(UserError, match="distinct `sample` numbers"):
        importers.import_validation(validate_bytes(clash), tmp_db, dataset="mine")
    assert store.query_df("SELECT count(*) AS n FROM runs", path=tmp_db)["n"][0] == 0


def _kinds_started_in_code() -> dict[str, str]:
    """{kind: where} of every `start_run(con, "<kind>", ...)` call in univar/."""
    found = {}
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call):
                continue
            name = getattr(node.func, "attr", None) or getattr(node.func, "id", None)
            if name != "start_run" or path.name == "runs.py":
                continue
            where = f"{path.relative_to(PACKAGE.parent)}:{node.lineno}"
            kind = node.args[1] if len(node.args) > 1 else None
            # a kind that is not a literal would hide from this check
            assert isinstance(kind, ast.Constant) and isinstance(kind.value, str), where
            found[kind.value] = where
    return found


def test_every_kind_the_code_starts_is_known():
    used = _kinds_started_in_code()
    assert set(used) <= set(runs.KINDS), used
    assert set(used) == {"elicit", "survey", "train", "import"}  # the scan saw every caller
