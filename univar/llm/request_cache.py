"""The request cache and the QA rows of an elicitation, written as they arrive.

One writer thread owns every write of a run, so the event loop never waits for DuckDB. It takes
whatever is queued and commits it in one short transaction: a reply is on disk within
milliseconds of arriving, and `kill -9` loses at most the requests still in flight. Inserts never duplicate: an 'ok' row is
final, an 'error' row is replaced by the next attempt's result (a rerun retries errors).
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import json
import logging
import queue
import threading
import time

from univar import store
from univar.llm.client import Limiter, Reply, Request, RetryPolicy, complete, endpoint_of
from univar.llm.keys import redact_url
from univar.paths import Db, db_path

log = logging.getLogger(__name__)

_REQUEST_SQL = """
INSERT INTO requests (cache_key, purpose, model, api_base, messages, params, status, response,
    error, prompt_tokens, completion_tokens, latency_ms, cost, attempts, run_id)
VALUES {values}
ON CONFLICT (cache_key) DO UPDATE SET status = excluded.status, response = excluded.response,
    error = excluded.error, prompt_tokens = excluded.prompt_tokens,
    completion_tokens = excluded.completion_tokens, latency_ms = excluded.latency_ms,
    cost = excluded.cost, attempts = excluded.attempts, run_id = excluded.run_id,
    created_at = now()
WHERE requests.status <> 'ok'
"""

QA_COLUMNS = (
    "qa_id",
    "dataset",
    "model",
    "language",
    "question_id",
    "sample",
    "question",
    "answer",
    "question_en",
    "answer_en",
    "translator",
    "status",
    "error",
    "answer_key",
    "run_id",
)
_QA_SQL = f"""
INSERT INTO qa_pairs ({", ".join(QA_COLUMNS)}) VALUES {{values}}
ON CONFLICT (qa_id) DO UPDATE SET {", ".join(f"{c} = excluded.{c}" for c in QA_COLUMNS[6:])},
    created_at = now()
WHERE qa_pairs.status <> 'ok'
"""  # noqa: S608 -- column names are the constants above, values are parameters

_STOP = object()


def request_row(req: Request, reply: Reply, run_id: str) -> list:
    """A `requests` row: the messages and sampling parameters, never a key or a header."""
    return [
        req.key,
        req.purpose,
        req.model,
        redact_url(req.api_base),
        json.dumps(req.message_dicts(), ensure_ascii=False),
        json.dumps(req.params_dict()),
        reply.status,
        reply.text,
        reply.error,
        reply.prompt_tokens,
        reply.completion_tokens,
        reply.latency_ms,
        reply.cost,
        reply.attempts,
        run_id,
    ]


def load_ok_replies(con, models: list[str]) -> dict[str, Reply]:
    """cache_key -> the stored reply, for every 'ok' request of these models."""
    rows = con.execute(
        "SELECT cache_key, response, prompt_tokens, completion_tokens, cost FROM requests "
        "WHERE status = 'ok' AND model IN (SELECT unnest(?))",
        [models],
    ).fetchall()
    return {
        k: Reply("ok", text=t, prompt_tokens=p, completion_tokens=c, cost=cost, cached=True)
        for k, t, p, c, cost in rows
    }


def load_done_qa(con, dataset: str, model: str) -> set[str]:
    rows = con.execute(
        "SELECT qa_id FROM qa_pairs WHERE status = 'ok' AND dataset = ? AND model = ?",
        [dataset, model],
    ).fetchall()
    return {r[0] for r in rows}


class Writer(threading.Thread):
    """Commits queued rows at once, batching whatever queued up meanwhile.

    Opening and closing a DuckDB file costs ~25 ms of CPU (closing checkpoints it), far more
    than a commit (~2 ms), so the writer keeps its connection across batches while replies keep
    coming. It lets the file go when idle for `idle_s`, and after holding it `hold_s` it lets go
    for `pause_s` so another process (the app) can get in; replies arriving meanwhile wait in
    the queue for at most that pause.
    """

    idle_s, hold_s, pause_s = 0.5, 2.0, 0.1

    def __init__(self, db: Db, batch: int = 256):
        super().__init__(name="univar-writer", daemon=True)
        self.db, self.batch = db, batch
        self.q: queue.Queue = queue.Queue()
        self.error: BaseException | None = None
        self.written = 0
        self._file: contextlib.ExitStack | None = None
        self._final = None  # called with the write error (or None) -> (sql, params)

    def request(self, req: Request, reply: Reply, run_id: str) -> None:
        self.q.put((_REQUEST_SQL, request_row(req, reply, run_id), None))

    def qa(self, row: dict) -> concurrent.futures.Future:
        """Queue a QA row; the future resolves once it (and every reply queued before it, its
        own requests included) is committed. Awaiting it is the engine's back-pressure: a
        QA pair is finished only when it is on disk."""
        done: concurrent.futures.Future = concurrent.futures.Future()
        self.q.put((_QA_SQL, [row.get(c) for c in QA_COLUMNS], done))
        return done

    def _release(self) -> None:
        if self._file is not None:
            self._file, file = None, self._file
            file.close()

    def connection(self):
        """The writer's connection, opened if needed. Before `start()` the caller may use it
        (the run's first transaction), which saves one open and close of the file."""
        if self._file is None:
            self._file = contextlib.ExitStack()
            self._con = self._file.enter_context(store.connect(self.db))
            self._opened = time.monotonic()
        return self._con

    def _write(self, work: list) -> None:
        with store.write_lock(self.db):  # threads of one process take turns: see store
            self._commit(work)

    def _commit(self, work: list) -> None:
        con = self.connection()
        by_sql: dict[str, dict] = {}
        for sql, params, _ in work:  # a key once per statement: DuckDB refuses a double update
            by_sql.setdefault(sql, {})[params[0]] = params
        con.execute("BEGIN TRANSACTION")
        try:
            for sql, rows in by_sql.items():
                rows = list(rows.values())
                for i in range(0, len(rows), 200):  # one multi-row INSERT: ~10x fewer ms
                    chunk = rows[i : i + 200]
                    row = "(" + ", ".join("?" * len(chunk[0])) + ")"
                    values = ", ".join([row] * len(chunk))
                    con.execute(sql.format(values=values), [v for r in chunk for v in r])
        except BaseException:
            con.execute("ROLLBACK")
            raise
        con.execute("COMMIT")
        self.written += len(work)

    def run(self) -> None:
        try:
            while True:
                try:
                    items = [self.q.get(timeout=self.idle_s if self._file else None)]
                except queue.Empty:
                    self._release()
                    continue
                while len(items) < self.batch:
                    try:
                        items.append(self.q.get_nowait())
                    except queue.Empty:
                        break
                work = [i for i in items if i is not _STOP]
                if work and self.error is None:
                    try:
                        self._write(work)
                    except Exception as exc:  # surfaced by close(); the run stops asking
                        log.error("writing to %s failed: %s", self.db, exc)
                        self.error = exc
                        self._release()
                for *_, done in work:
                    if done is not None and self.error is None:
                        done.set_result(None)
                    elif done is not None:
                        done.set_exception(self.error)
                if len(work) < len(items):
                    self._run_final()
                    return
                if self._file is not None and time.monotonic() - self._opened > self.hold_s:
                    self._release()
                    time.sleep(self.pause_s)
        finally:
            self._release()

    def _run_final(self) -> None:
        if self._final is None:
            return
        try:  # even after a write error: the run's row must say how it ended
            self.connection().execute(*self._final(self.error))
        except Exception as exc:
            self.error = self.error or exc

    def close(self, final=None) -> None:
        """Flush everything queued, then run `final(error)` -> (sql, params), one last
        statement that knows whether a write failed; let the file go; raise a write error."""
        self._final = final
        if self.is_alive():
            self.q.put(_STOP)
            self.join()
        else:
            try:
                self._run_final()
            finally:
                self._release()
        if self.error is not None:
            raise self.error


class CachedAsker:
    """Sends requests through the cache outside an elicitation (surveys, batch translation): a
    stored 'ok' reply is reused, every new reply goes to `writer` as it arrives. Start the
    writer before asking and close it after."""

    def __init__(
        self,
        db: Db,
        models,
        run_id: str,
        *,
        api_keys: dict,
        keys: list,
        policy: RetryPolicy,
        concurrency: int,
    ):

        self.run_id, self.api_keys, self.keys, self.policy = run_id, api_keys, keys, policy
        self.limiter = Limiter(concurrency)
        with store.connect(db) as con:
            self.cache = load_ok_replies(con, sorted(set(models)))
        self.writer = Writer(db_path(db))
        self.sent = 0

    async def ask(self, req: Request) -> Reply:
        if req.key in self.cache:
            return self.cache[req.key]
        slot = self.limiter.for_endpoint(endpoint_of(req.model, req.api_base))
        reply = await complete(
            req,
            api_key=self.api_keys.get(req.model),
            policy=self.policy,
            slot=slot,
            keys=self.keys,
        )
        self.sent += 1
        self.writer.request(req, reply, self.run_id)
        if reply.status == "ok":
            self.cache[req.key] = reply
        return reply
