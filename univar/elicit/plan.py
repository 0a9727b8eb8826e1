"""What an elicitation job is before it runs: its checks, its QA pairs, its plan, its summary.

`prepare` does every check that can fail on bad input (models, languages, questions, the
dataset's earlier settings, the endpoints) and writes nothing. `plan` follows each QA pair's
chain through the cache as far as it is known, so its counts are exact for what is cached.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

from univar import ids, store
from univar.catalog import registry
from univar.catalog.questions import Question, read_bank
from univar.elicit import translation
from univar.elicit.settings import ElicitConfig
from univar.errors import UserError
from univar.llm.client import Request, import_litellm
from univar.llm.endpoints import check_allowed, check_reachable
from univar.llm.request_cache import load_done_qa, load_ok_replies
from univar.paths import Db, db_path
from univar.store.datasets import check_dataset_name


@dataclass
class Counters:
    """Progress of one (model, language): QA pairs done, from cache, failed; what was spent."""

    total: int = 0
    done: int = 0
    cached: int = 0
    failed: int = 0
    tokens: int = 0
    cost: float | None = None


@dataclass(frozen=True)
class Unit:
    language: str
    question: Question
    sample: int


@dataclass
class Plan:
    qa_pairs: int  # in the job
    qa_done: int  # already stored 'ok': nothing to do for them
    requests: int  # distinct requests the rest needs (cached ones included)
    cached: int  # of those, found in the cache
    to_send: int
    est_prompt_tokens: int
    est_completion_tokens: int  # an upper bound: answers are counted at max_tokens
    est_cost: float | None  # USD where litellm knows every model's price, else None

    def line(self) -> str:
        cost = f"~${self.est_cost:.4f}" if self.est_cost is not None else "cost unknown"
        return (
            f"plan: {self.qa_pairs} QA pairs ({self.qa_done} already stored), "
            f"{self.to_send} requests to send, {self.cached} cached, "
            f"<= {self.est_prompt_tokens + self.est_completion_tokens:,} tokens, {cost}"
        )


@dataclass
class Summary:
    run_id: str
    status: str  # 'done' | 'cancelled' | 'failed'
    total: int  # QA pairs in the job
    ok: int
    asked: int  # QA pairs that needed at least one request
    from_cache: int  # QA pairs served without any request
    failed: int
    skipped: int  # not reached (cancelled)
    requests: int  # requests sent (retries not counted) ...
    attempts: int  # ... and HTTP attempts, retries counted
    prompt_tokens: int
    completion_tokens: int
    cost: float | None
    elapsed_s: float
    per_language: dict = field(default_factory=dict)

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def counts(self) -> dict:
        return {k: v for k, v in asdict(self).items() if k not in ("run_id", "status")}

    def line(self) -> str:
        cost = f"${self.cost:.4f}" if self.cost is not None else "cost unknown"
        tail = f", {self.skipped} not reached" if self.skipped else ""
        return (
            f"{self.status}: {self.total} QA pairs: {self.asked} asked, {self.from_cache} from "
            f"cache, {self.failed} failed{tail}; {self.requests} requests, {self.tokens:,} "
            f"tokens, {cost}, {self.elapsed_s:.1f} s"
        )


def qa_id(config: ElicitConfig, u: Unit) -> str:
    return ids.qa_id(config.dataset, config.model, u.language, u.question.question_id, u.sample)


def units_of(config: ElicitConfig, qs: dict[str, Question]) -> list[Unit]:
    return [
        Unit(lang, qs[qid], s)
        for lang in config.languages
        for qid in config.question_ids
        for s in range(config.samples)
    ]


def answer_request(config: ElicitConfig, question: str, sample: int) -> Request:
    """The paper's setting by default: the question alone, no system prompt."""
    g = config.generation
    messages = (("system", g.system_prompt),) if g.system_prompt else ()
    messages += (("user", g.prompt_template.replace("{question}", question)),)
    params = (("temperature", g.temperature), ("top_p", g.top_p), ("max_tokens", g.max_tokens))
    return Request("answer", config.model, config.api_base, messages, params, sample)


def _resolve(config: ElicitConfig, db: Db, questions) -> dict[str, Question]:
    known = {q.question_id: q for q in (questions if questions is not None else read_bank())}
    missing = [qid for qid in config.question_ids if qid not in known]
    if missing and db_path(db).exists():  # questions stored earlier (imports, older files)
        with store.connect(db, read_only=True) as con:
            for row in con.execute(
                "SELECT question_id, question, framework, value_code, source FROM questions "
                "WHERE question_id IN (SELECT unnest(?))",
                [missing],
            ).fetchall():
                known[row[0]] = Question(*row)
        missing = [qid for qid in missing if qid not in known]
    if missing:
        raise UserError(f"unknown question id {missing[0]!r} ({len(missing)} unknown in all)")
    return {qid: known[qid] for qid in config.question_ids}


def _check_dataset_settings(config: ElicitConfig, db: Db) -> None:
    """A dataset holds one answer per (model, language, question, sample): answers made with
    other generation settings would be mixed in silently, so that is refused."""
    if not db_path(db).exists():
        return
    with store.connect(db, read_only=True) as con:
        rows = con.execute("SELECT config FROM runs WHERE kind = 'elicit'").fetchall()
    mine = (asdict(config.generation), config.translator)
    for (text,) in rows:
        old = json.loads(text)
        if old.get("dataset") == config.dataset and old.get("model") == config.model:
            if (old.get("generation"), old.get("translator")) != mine:
                raise UserError(
                    f"dataset {config.dataset!r} already holds answers of {config.model} made "
                    "with other generation or translator settings; choose another --dataset"
                )


def prepare(config: ElicitConfig, db: Db, questions=None, *, reach: bool = True, policy=None):
    """Every check on the job's input; returns its questions by id. Writes nothing.
    `policy`: the api_bases it allows (default: the CLI's, which allows any)."""
    registry.check_model_string(config.model)
    check_dataset_name(config.dataset)  # the rule imports and renames follow
    for translator in (config.translator, config.fallback_translator):
        if translator:
            registry.check_model_string(translator)
    for code in config.languages:
        if registry.language(code).code != code:
            raise UserError(
                f"use the ISO 639-3 code {registry.language(code).code!r}, not {code!r}"
            )
    named = (config.api_base, config.translator_api_base, config.fallback_translator_api_base)
    bases = [u for u in dict.fromkeys(named) if u]
    for url in bases:
        check_allowed(url, policy)
    qs = _resolve(config, db, questions)
    _check_dataset_settings(config, db)
    if reach:
        for url in bases:
            check_reachable(url, policy=policy)
    return qs


def _estimate(text_chars: int) -> int:
    return text_chars // 4 + 8  # ~4 characters a token, plus the chat template's few


def plan(config: ElicitConfig, db: Db = None, *, questions=None, policy=None) -> Plan:
    """Counts for the job as it would run now; reads the store, writes nothing."""
    qs = prepare(config, db, questions, reach=False, policy=policy)
    t_model, t_base = translation.translator_of(
        config.model, config.api_base, config.translator, config.translator_api_base
    )
    cache, done = {}, set()
    if db_path(db).exists():
        with store.connect(db, read_only=True) as con:
            cache = load_ok_replies(con, sorted({config.model, t_model}))
            done = load_done_qa(con, config.dataset, config.model)
    need: dict = {}  # request key (or a stand-in while its text is unknown) -> (model, p, c)
    hits: set = set()
    max_chars = config.generation.max_tokens * 4

    def want(key, model, prompt_chars, completion_tokens):
        need[key] = (model, _estimate(prompt_chars), completion_tokens)
        if key in cache:
            hits.add(key)
        return cache[key].text if key in cache else None

    def tr(text, src, tgt, stand_in):
        if text is None:  # not known until an earlier step runs
            return want(stand_in, t_model, max_chars + 120, max_chars // 4)
        req = translation.request(text, src, tgt, t_model, t_base)
        return want(req.key, t_model, len(req.messages[-1][1]), _estimate(len(text)))

    units = units_of(config, qs)
    n_done = 0
    for u in units:
        if qa_id(config, u) in done:
            n_done += 1
            continue
        qid, lang = u.question.question_id, u.language
        asked = u.question.question
        if lang != "eng":
            asked = tr(asked, "eng", lang, ("q", qid, lang))
        if asked is None:
            answer = want(
                ("a", qid, lang, u.sample), config.model, 400, config.generation.max_tokens
            )
        else:
            req = answer_request(config, asked, u.sample)
            chars = sum(len(c) for _, c in req.messages)
            answer = want(req.key, config.model, chars, config.generation.max_tokens)
        if lang != "eng":  # the question's English is the bank's: only the answer goes back
            tr(answer, lang, "eng", ("ab", qid, lang, u.sample))
    prompt = sum(p for k, (_, p, _) in need.items() if k not in hits)
    completion = sum(c for k, (_, _, c) in need.items() if k not in hits)
    return Plan(
        qa_pairs=len(units),
        qa_done=n_done,
        requests=len(need),
        cached=len(hits),
        to_send=len(need) - len(hits),
        est_prompt_tokens=prompt,
        est_completion_tokens=completion,
        est_cost=_cost({k: v for k, v in need.items() if k not in hits}),
    )


def _cost(todo: dict) -> float | None:
    if not todo:
        return 0.0
    per_model: dict[str, list[int]] = {}
    for model, p, c in todo.values():
        sums = per_model.setdefault(model, [0, 0])
        sums[0], sums[1] = sums[0] + p, sums[1] + c
    litellm = import_litellm()
    total = 0.0
    for model, (p, c) in per_model.items():
        try:
            a, b = litellm.cost_per_token(model=model, prompt_tokens=p, completion_tokens=c)
        except Exception:
            return None  # one model without a known price: the total is unknown
        total += a + b
    return total
