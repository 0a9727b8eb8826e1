"""Ask an LLM the value questions in many languages, translated both ways, cached in DuckDB.

    qs = questions.select_questions(db, 20)
    cfg = ElicitConfig(model="openai/gpt-4o-mini", languages=("eng", "fra"),
                       question_ids=tuple(q.question_id for q in qs))
    elicit.plan(cfg, db, questions=qs)          # what it would send, what is cached
    elicit.run(cfg, db, questions=qs, progress=callback, cancel=threading.Event())

One QA pair = (language, question, sample). Its chain: translate the question into the
language, ask it, translate the answer back to English (English skips translation). The
question's English is the bank's own text, never a round trip through a weak translator; an
answer translation that does not read as English is asked again with a stricter prompt, then
of the fallback translator where one is set, and what still fails is kept for the quality
checks to flag.
Every request goes through the cache (`requests`, keyed by what changes the reply), so a rerun
asks only what is missing or failed; a QA pair already stored 'ok' is not even looked at.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import threading
import time

from univar import policy as policies
from univar import store
from univar.catalog import registry
from univar.catalog.questions import Question, register
from univar.elicit import translation
from univar.elicit.plan import (
    Counters,
    Plan,
    Summary,
    Unit,
    answer_request,
    plan,
    prepare,
    qa_id,
    units_of,
)
from univar.elicit.settings import ElicitConfig
from univar.llm import keys as keyring
from univar.llm.client import (
    Limiter,
    Reply,
    Request,
    RetryPolicy,
    complete,
    endpoint_of,
    run_blocking,
)
from univar.llm.request_cache import Writer, load_done_qa, load_ok_replies
from univar.paths import Db, db_path
from univar.progress import Listener
from univar.quality import language
from univar.store import runs

__all__ = ["Counters", "Plan", "Summary", "plan", "run", "arun", "qa_id"]

_CANCELLED = Reply("error", error="cancelled")


@dataclasses.dataclass
class _Tally:
    """What one QA pair's chain sent itself (a request shared in flight counts once)."""

    sent: int = 0
    tokens: int = 0
    cost: float | None = None


class _Engine:
    """One run's state: the in-memory cache, in-flight requests, totals and the writer."""

    def __init__(self, config: ElicitConfig, run_id, writer, cache, keys, api_keys, cancel):
        self.cfg, self.run_id, self.writer, self.cache = config, run_id, writer, cache
        self.keys, self.api_keys, self.cancel = keys, api_keys, cancel
        self.policy = RetryPolicy(
            config.timeout_s, config.max_retries, config.retry_base_s, config.retry_max_s
        )
        self.limiter = Limiter(config.concurrency)
        self.inflight: dict[str, asyncio.Future] = {}
        self.failed: dict[str, Reply] = {}  # a request fails once per run; a rerun retries it
        self.sent = self.attempts = self.prompt_tokens = self.completion_tokens = 0
        self.cost: float | None = None
        self.translator = translation.translator_of(
            config.model, config.api_base, config.translator, config.translator_api_base
        )
        # (translator, strict wording) in the order an answer's English is asked for
        self.english_attempts = [(self.translator, False), (self.translator, True)]
        if config.fallback_translator:
            fallback = (config.fallback_translator, config.fallback_translator_api_base)
            self.english_attempts.append((fallback, False))

    async def ask(self, req: Request, tally: _Tally) -> Reply:
        key = req.key
        hit = self.cache.get(key) or self.failed.get(key)
        if hit is not None:
            return hit
        if self.writer.error is not None:
            raise self.writer.error
        if key in self.inflight:  # another QA pair sends the same request: wait for it
            return await asyncio.shield(self.inflight[key])
        if self.cancel is not None and self.cancel.is_set():
            return _CANCELLED
        self.inflight[key] = asyncio.ensure_future(self._send(req))
        reply = await asyncio.shield(self.inflight[key])
        tally.sent += 1
        tally.tokens += (reply.prompt_tokens or 0) + (reply.completion_tokens or 0)
        if reply.cost is not None:
            tally.cost = (tally.cost or 0.0) + reply.cost
        return reply

    async def _send(self, req: Request) -> Reply:
        slot = self.limiter.for_endpoint(endpoint_of(req.model, req.api_base))
        api_key = self.api_keys.get(req.model)
        try:
            reply = await complete(
                req,
                api_key=api_key,
                policy=self.policy,
                slot=slot,
                cancel=self.cancel,
                keys=self.keys,
            )
        finally:
            self.inflight.pop(req.key, None)
        self.sent += 1
        self.attempts += reply.attempts
        self.prompt_tokens += reply.prompt_tokens or 0
        self.completion_tokens += reply.completion_tokens or 0
        if reply.cost is not None:
            self.cost = (self.cost or 0.0) + reply.cost
        self.writer.request(req, reply, self.run_id)  # on disk before anyone uses it
        (self.cache if reply.status == "ok" else self.failed)[req.key] = reply
        return reply

    def _tr(self, text: str, source: str, target: str) -> Request:
        return translation.request(text, source, target, *self.translator)

    async def english(self, text: str, source: str, tally: _Tally) -> str | Reply:
        """`text` in English: the first translation that reads as English (`english_attempts`),
        else the last one. A Reply when the first request failed or the run was cancelled."""
        best = None
        for (model, api_base), strict in self.english_attempts:
            req = translation.request(text, source, "eng", model, api_base, strict=strict)
            r = await self.ask(req, tally)
            if r is _CANCELLED or (r.status != "ok" and best is None):
                return r
            if r.status != "ok":  # a retry that failed keeps the earlier translation
                return best
            best = translation.clean(r.text, "eng")
            if language.is_english(best):
                return best
        return best

    async def unit(self, u: Unit, tally: _Tally) -> dict | None:
        """One QA pair's chain; returns its qa_pairs row, or None when cancelled midway."""
        cfg, lang, q = self.cfg, u.language, u.question
        name = registry.language(lang).name
        row = {
            "qa_id": qa_id(cfg, u),
            "dataset": cfg.dataset,
            "model": cfg.model,
            "language": lang,
            "question_id": q.question_id,
            "sample": u.sample,
            "question": q.question,
            "status": "ok",
            "run_id": self.run_id,
        }
        if lang != "eng":
            row["translator"] = translation.label(*self.translator)
            r = await self.ask(self._tr(q.question, "eng", lang), tally)
            if r is _CANCELLED:
                return None
            if r.status != "ok":
                return self._fail(row, f"translating the question English->{name}: {r.error}")
            row["question"] = translation.clean(r.text, lang)
        req = answer_request(cfg, row["question"], u.sample)
        a = await self.ask(req, tally)
        if a is _CANCELLED:
            return None
        row["answer_key"] = req.key
        if a.status != "ok":
            return self._fail(row, f"answer: {a.error}")
        row["answer"] = a.text
        if lang != "eng":
            row["question_en"] = q.question
            english = await self.english(a.text, lang, tally)
            if english is _CANCELLED:
                return None
            if isinstance(english, Reply):
                return self._fail(row, f"translating the answer {name}->English: {english.error}")
            row["answer_en"] = english
        return row

    def _fail(self, row: dict, error: str) -> dict:
        return row | {"status": "error", "error": keyring.redact(error, self.keys)[:500]}


def _api_keys(config: ElicitConfig, api_key, translator_api_key, policy) -> dict[str, str | None]:
    """model -> key for the elicited model and the translator (`keys.request_key`): typed
    ones, the operator's where the policy lets it go, a placeholder for keyless servers."""
    t_model, t_base = translation.translator_of(
        config.model, config.api_base, config.translator, config.translator_api_base
    )
    same_account = (keyring.provider_of(t_model), t_base) == (
        keyring.provider_of(config.model),
        config.api_base,
    )
    t_typed = translator_api_key or (api_key if same_account else None)
    fallback = {}
    if config.fallback_translator:  # the operator's key for its provider only, never a typed one
        fb_model, fb_base = config.fallback_translator, config.fallback_translator_api_base
        fallback[fb_model] = keyring.request_key(fb_model, fb_base, policy=policy)
    return fallback | {
        t_model: keyring.request_key(t_model, t_base, typed=t_typed, policy=policy),
        config.model: keyring.request_key(
            config.model, config.api_base, typed=api_key, policy=policy
        ),
    }


async def _drive(engine: _Engine, units, done_ids, counters, progress) -> None:
    """Workers pull QA pairs from one iterator; the endpoint slots cap what is in flight."""
    pending = iter(units)
    cancel = engine.cancel

    async def worker():
        for u in pending:
            if cancel is not None and cancel.is_set():
                return
            c = counters[(engine.cfg.model, u.language)]
            if qa_id(engine.cfg, u) in done_ids:
                c.done, c.cached = c.done + 1, c.cached + 1
            else:
                tally = _Tally()
                row = await engine.unit(u, tally)
                if row is None:
                    continue
                await asyncio.wrap_future(engine.writer.qa(row))  # on disk before it counts
                c.done += 1
                c.failed += row["status"] == "error"
                c.cached += row["status"] == "ok" and tally.sent == 0
                c.tokens += tally.tokens
                if tally.cost is not None:
                    c.cost = (c.cost or 0.0) + tally.cost
            if progress is not None:
                progress(counters)

    n_workers = max(1, min(len(units), 2 * engine.cfg.concurrency))
    tasks = [asyncio.ensure_future(worker()) for _ in range(n_workers)]
    try:
        await asyncio.gather(*tasks)
    except BaseException:  # one failed (a write error, a raising callback): stop the rest
        for task in tasks + list(engine.inflight.values()):
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise


def _summary(run_id, status, counters, engine: _Engine, elapsed) -> Summary:
    cs = list(counters.values())
    done, cached, failed = (sum(getattr(c, f) for c in cs) for f in ("done", "cached", "failed"))
    total = sum(c.total for c in cs)
    return Summary(
        run_id=run_id,
        status=status,
        total=total,
        ok=done - failed,
        asked=done - cached,
        from_cache=cached,
        failed=failed,
        skipped=total - done,
        requests=engine.sent,
        attempts=engine.attempts,
        prompt_tokens=engine.prompt_tokens,
        completion_tokens=engine.completion_tokens,
        elapsed_s=elapsed,
        cost=0.0 if engine.sent == 0 else engine.cost,  # nothing sent costs nothing
        per_language={lang: dataclasses.asdict(c) for (_, lang), c in counters.items()},
    )


async def arun(
    config: ElicitConfig,
    db: Db = None,
    *,
    questions: list[Question] | None = None,
    api_key: str | None = None,
    translator_api_key: str | None = None,
    progress: Listener[dict[tuple[str, str], Counters]] | None = None,
    cancel: threading.Event | None = None,
    policy: policies.Policy | None = None,
) -> Summary:
    """Elicit every QA pair of `config` that is not stored yet. `questions` supplies questions
    from outside the bank (a user's file); `progress` gets the per-(model, language) counters
    after each QA pair; setting `cancel` stops new requests (finished ones are kept).
    `api_key`, `translator_api_key`: keys typed for those endpoints; `policy` (default: the
    CLI's) says where the operator's keys may go and which api_bases are allowed."""
    policy = policies.given(policy)
    qs = prepare(config, db, questions, policy=policy)  # every check, before any write
    started = time.monotonic()
    api_keys = _api_keys(config, api_key, translator_api_key, policy)
    keys = keyring.known_keys() + [k for k in (api_key, translator_api_key) if k]
    config_json = keyring.redact(json.dumps(dataclasses.asdict(config), default=str), keys)
    writer = Writer(db_path(db))
    con = writer.connection()  # the writer's connection serves the run's first transaction
    lock = store.write_lock(db)  # another session's run writes the same rows: take turns
    lock.acquire()
    con.execute("BEGIN TRANSACTION")
    try:
        register(con, qs.values())
        con.execute(
            "INSERT INTO datasets (dataset, kind, description) VALUES (?, 'elicited', ?) "
            "ON CONFLICT DO NOTHING",
            [config.dataset, "answers elicited through litellm"],
        )
        run_id = runs.start_run(con, "elicit", json.loads(config_json))
        cache = load_ok_replies(con, sorted(api_keys))
        done_ids = load_done_qa(con, config.dataset, config.model)
        con.execute("COMMIT")
    except BaseException:
        store.rollback(con)
        writer.close()
        raise
    finally:
        lock.release()
    writer.start()
    engine = _Engine(config, run_id, writer, cache, keys, api_keys, cancel)
    counters = {(config.model, lang): Counters() for lang in config.languages}
    units = units_of(config, qs)
    for u in units:
        counters[(config.model, u.language)].total += 1
    status = "failed"
    try:
        await _drive(engine, units, done_ids, counters, progress)
        status = "cancelled" if cancel is not None and cancel.is_set() else "done"
    except (asyncio.CancelledError, KeyboardInterrupt):
        status = "cancelled"
        raise
    finally:
        summary = _summary(run_id, status, counters, engine, time.monotonic() - started)

        def final(write_error):
            summary.status = "failed" if write_error is not None else summary.status
            return runs.finish_statement(run_id, summary.status, summary.counts())

        writer.close(final)  # all that arrived is on disk before the run's row is closed
    return summary


def run(config: ElicitConfig, db: Db = None, **kwargs) -> Summary:
    """Elicit, blocking; keyword arguments as for `arun`. Works inside a notebook's loop too."""
    return run_blocking(arun(config, db, **kwargs))
