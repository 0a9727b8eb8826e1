"""The DuckDB connection policy: short connections, retried locks, all-or-nothing writes.

Connection policy: a DuckDB file can be open read-write in one process at a time, so every
operation opens a connection, does its work and closes it again (`with connect(path) as con`).
Inside one process DuckDB shares the database instance between threads. Across processes a
locked file is retried with backoff, so a CLI job and the app can take turns on one file.
All SQL is parameterised: values never enter SQL text.

Opening a file costs 15-45 ms (its catalog is read), and a page of the app makes a dozen
short connections: inside `kept_open(path)` one extra connection holds the database instance,
so theirs join it at once. It is let go after `KEEP_IDLE_S` without a new connection (a long
embedding or fit in between gives the file back to other processes) and when the block ends.
"""

from __future__ import annotations

import contextlib
import random
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import duckdb

from univar.paths import Db, db_path
from univar.store.schema import FOREIGN_FILE, NotAStoreError, StoreError, migrate, stored_version

_LOCK_WORDS = ("lock", "Conflicting lock", "Could not set lock")
_init_lock = threading.Lock()
_write_locks: dict[Path, threading.RLock] = {}
KEEP_IDLE_S = 1.0
_keep_lock = threading.Lock()
_kept: dict[Path, int] = {}  # path -> how many kept_open blocks want it held
_holders: dict[Path, tuple[duckdb.DuckDBPyConnection, float]] = {}  # path -> (holder, last use)
_reaper: threading.Thread | None = None


def _is_lock_error(exc: Exception) -> bool:
    return isinstance(exc, duckdb.IOException) and any(w in str(exc) for w in _LOCK_WORDS)


def _other_mode_here(exc: Exception) -> bool:
    """This process holds the file open in the other mode (read-only vs read-write)."""
    return "different configuration" in str(exc)


def _busy_here(exc: Exception) -> bool:
    """Another thread of this process is opening or closing the file right now, or holds it
    in the other mode: both pass within moments."""
    return _other_mode_here(exc) or "Unique file handle conflict" in str(exc)


def _open(path: Path, read_only: bool, wait_s: float) -> tuple[duckdb.DuckDBPyConnection, bool]:
    """(connection, opened read-only)."""
    deadline = time.monotonic() + wait_s
    delay = 0.02
    while True:
        try:
            return duckdb.connect(str(path), read_only=read_only), read_only
        except duckdb.Error as exc:
            # DuckDB refuses a second mode for a file open in this process (a page reading
            # while a background job writes): a reader joins the writers' mode, a writer waits
            # for the short-lived readers as it would for a lock. Two threads opening the
            # same file at once can also clash for a moment: wait and try again.
            if _other_mode_here(exc) and read_only:
                read_only = False
                continue
            if _busy_here(exc) and time.monotonic() <= deadline:
                time.sleep(delay * (1 + random.random()))
                delay = min(delay * 2, 0.5)
                continue
            if not _is_lock_error(exc) or time.monotonic() > deadline:
                if _is_lock_error(exc):
                    raise StoreError(
                        f"database {path} is busy in another process for over {wait_s:.0f} s"
                    ) from exc
                raise
            time.sleep(delay * (1 + random.random()))
            delay = min(delay * 2, 0.5)


def _release(path: Path) -> None:
    held = _holders.pop(path, None)
    if held:
        held[0].close()


def _reap() -> None:
    """Let go of holders no connection has used for KEEP_IDLE_S; ends when none is left."""
    global _reaper
    while True:
        time.sleep(KEEP_IDLE_S / 4)
        with _keep_lock:
            now = time.monotonic()
            for path in [p for p, (_, used) in _holders.items() if now - used > KEEP_IDLE_S]:
                _release(path)
            if not _holders:
                _reaper = None
                return


def _hold(path: Path) -> None:
    """After a read-write open of a store: inside kept_open, keep (or refresh) its holder."""
    global _reaper
    with _keep_lock:
        if not _kept.get(path):
            return
        con = _holders[path][0] if path in _holders else duckdb.connect(str(path))
        _holders[path] = (con, time.monotonic())
        if _reaper is None:
            _reaper = threading.Thread(target=_reap, name="univar-db-holder", daemon=True)
            _reaper.start()


@contextlib.contextmanager
def kept_open(path: Db = None) -> Iterator[None]:
    """Connections to `path` made inside the block (any thread) share one open database
    instance instead of each opening the file; see the module's docstring."""
    path = db_path(path).resolve()
    with _keep_lock:
        _kept[path] = _kept.get(path, 0) + 1
    try:
        yield
    finally:
        with _keep_lock:
            _kept[path] -= 1
            if not _kept[path]:
                del _kept[path]
                _release(path)


@contextlib.contextmanager
def connect(
    path: Db = None, *, read_only: bool = False, wait_s: float = 60.0
) -> Iterator[duckdb.DuckDBPyConnection]:
    """Open the store for one operation; creates and migrates it on first use."""
    path = db_path(path).resolve()
    if read_only and not path.exists():
        raise StoreError(f"database {path} does not exist")
    path.parent.mkdir(parents=True, exist_ok=True)
    con, opened_read_only = _open(path, read_only, wait_s)
    try:
        if not opened_read_only:  # a reader that joined the writers waits for their migration
            with _init_lock:  # one cheap SELECT when the schema is current
                migrate(con)
        else:  # the same cheap SELECT: somebody else's file is named as such, not half-read
            stored_version(con)
        if not opened_read_only:  # a store now: never somebody else's file
            _hold(path)
        yield con
    finally:
        con.close()


def check_store(path: Db = None) -> None:
    """Refuse an existing file that is not a UniVaR store before anything writes to it; a
    missing file is fine (it becomes a new database). Only reads the file."""
    path = db_path(path)
    if not path.exists():
        return
    try:
        with connect(path, read_only=True):
            pass  # opening it checks its schema
    except duckdb.Error as exc:  # not a DuckDB file at all, or one of a newer DuckDB
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise NotAStoreError(
            f"{path.name} cannot be opened as a DuckDB database: {first}"
        ) from None
    except NotAStoreError:
        raise NotAStoreError(f"{path.name} is {FOREIGN_FILE}") from None


def write_lock(path: Db = None) -> threading.RLock:
    """This process's lock on one file's write transactions. Threads share one DuckDB
    instance per file, whose optimistic transactions fail when two write the same rows
    ('Conflict on update', or 'duplicate key' at COMMIT): two app sessions eliciting one
    model, or importing while a job writes, take turns here instead of failing."""
    path = db_path(path).resolve()
    with _init_lock:
        return _write_locks.setdefault(path, threading.RLock())


def rollback(con: duckdb.DuckDBPyConnection) -> None:
    """ROLLBACK unless DuckDB already did (a failed COMMIT rolls back by itself, and the
    'no transaction is active' error would hide the one that matters)."""
    with contextlib.suppress(duckdb.TransactionException):
        con.execute("ROLLBACK")


@contextlib.contextmanager
def transaction(path: Db = None, **kw) -> Iterator[duckdb.DuckDBPyConnection]:
    """All or nothing: commits when the block ends, rolls back on any exception."""
    with connect(path, **kw) as con, write_lock(path):
        con.execute("BEGIN TRANSACTION")
        try:
            yield con
        except BaseException:
            rollback(con)
            raise
        con.execute("COMMIT")


def query_df(sql: str, params: list | tuple | dict | None = None, path: Db = None):
    """Run one SELECT and return a pandas DataFrame."""
    with connect(path) as con:
        return con.execute(sql, params or []).df()


def schema_version(path: Db = None) -> int:
    with connect(path) as con:
        return int(
            con.execute("SELECT value FROM meta WHERE key='schema_version'").fetchall()[0][0]
        )
