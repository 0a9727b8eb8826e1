"""store.kept_open: a page's short connections share one open database instance, and the
file goes back to other processes when the block ends or sits idle (issue 16, item 3)."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest
from test_shared_files import foreign_db

from univar import store
from univar.store import connection

WRITE_ELSEWHERE = (
    "import duckdb, sys; con = duckdb.connect(sys.argv[1]); "
    "con.execute('CREATE TABLE IF NOT EXISTS other_process (x INT)'); con.close()"
)


def _other_process_writes(path) -> bool:
    """Whether another process can open the file read-write right now (no waiting)."""
    done = subprocess.run(
        [sys.executable, "-c", WRITE_ELSEWHERE, str(path)], capture_output=True, text=True
    )
    return done.returncode == 0


def _held(path) -> bool:
    return path.resolve() in connection._holders


def test_connections_inside_the_block_share_one_holder_released_at_its_end(tmp_db):
    store.schema_version(tmp_db)  # create the store
    with store.kept_open(tmp_db):
        assert not _held(tmp_db)  # nothing is opened until a connection is made
        with store.connect(tmp_db) as con:
            con.execute("SELECT 1").fetchall()
        assert _held(tmp_db)
        holder = connection._holders[tmp_db.resolve()][0]
        store.query_df("SELECT count(*) AS n FROM qa_pairs", path=tmp_db)
        assert connection._holders[tmp_db.resolve()][0] is holder  # joined, not reopened
        assert not _other_process_writes(tmp_db)  # held: this process has the file
    assert not _held(tmp_db)
    assert _other_process_writes(tmp_db)


def test_an_idle_holder_gives_the_file_back_inside_the_block(tmp_db, monkeypatch):
    monkeypatch.setattr(connection, "KEEP_IDLE_S", 0.1)
    store.schema_version(tmp_db)
    with store.kept_open(tmp_db):
        store.schema_version(tmp_db)
        assert _held(tmp_db)
        deadline = time.monotonic() + 10
        while _held(tmp_db) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _held(tmp_db)
        assert _other_process_writes(tmp_db)  # a CLI job can take its turn meanwhile
        store.schema_version(tmp_db)  # and the next connection holds it again
        assert _held(tmp_db)


def test_nested_blocks_release_with_the_outermost(tmp_db):
    store.schema_version(tmp_db)
    with store.kept_open(tmp_db):
        with store.kept_open(tmp_db):
            store.schema_version(tmp_db)
        assert _held(tmp_db)
    assert not _held(tmp_db)


def test_outside_a_block_nothing_is_held(tmp_db):
    store.schema_version(tmp_db)
    assert not _held(tmp_db)
    assert _other_process_writes(tmp_db)


def test_read_only_connections_and_foreign_files_are_never_held(tmp_path):
    ours = tmp_path / "ours.duckdb"
    store.schema_version(ours)
    theirs = foreign_db(tmp_path / "theirs.duckdb")
    with store.kept_open(ours), store.kept_open(theirs):
        with store.connect(ours, read_only=True):
            pass
        assert not _held(ours)
        with pytest.raises(store.NotAStoreError):
            with store.connect(theirs):
                pass
        assert not _held(theirs)
