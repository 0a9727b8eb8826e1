"""Background elicitation jobs, shared by every browser session of one app process.

A page must not block while an LLM answers for minutes, and a user who leaves the page, reloads
it or opens a second tab must find the same job still running. So a job runs `engine.run` in a
thread, and this module keeps it, with a live copy of its progress, in a process-wide registry
that every Streamlit session reads. The database stays the record: a job's runs are rows of
`runs`, and a stopped one resumes from its stored config (the engine skips finished answers).

A job runs its models one after another: on two cores, or with one local server that swaps
models, asking several models at once only makes each slower.

A job remembers who started it (`owner`, a browser session's id) and the policy it started
under: on a shared server only its owner may cancel it, everyone else sees it read-only; on a
local one any tab of the one user may.
"""

from __future__ import annotations

import dataclasses
import threading
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from univar import policy as policies
from univar.elicit import engine, history
from univar.elicit.history import load_config
from univar.elicit.settings import ElicitConfig, GenerationConfig
from univar.errors import UserError
from univar.llm.endpoints import check_connection
from univar.llm.keys import MASK, known_keys, redact
from univar.paths import Db, db_path

LIVE = ("starting", "running")
KEEP_FINISHED = 50  # finished jobs remembered in memory; the database keeps them all
_JOBS: dict[str, Job] = {}
_LOCK = threading.Lock()


@dataclass(frozen=True)
class RowProgress:
    """One (model, language) row of a job's progress, copied out of the engine's counters."""

    model: str
    language: str
    total: int = 0
    done: int = 0
    cached: int = 0
    failed: int = 0
    tokens: int = 0
    cost: float | None = None


_COUNTS = ("total", "done", "cached", "failed", "tokens")


class Job:
    """One elicitation job: its configs, a thread, live progress, and the runs' summaries."""

    def __init__(
        self,
        configs: Sequence[ElicitConfig],
        db: Db,
        questions=None,
        *,
        owner: str | None = None,
        policy: policies.Policy | None = None,
    ):
        self.job_id = uuid.uuid4().hex[:12]
        self.db = str(db_path(db).resolve())
        self.configs = tuple(configs)
        self.questions = questions
        self.owner = owner
        self.policy = policies.given(policy)
        self.status = "starting"  # starting | running | done | cancelled | failed
        self.error: str | None = None
        self.current: str | None = None  # the model being asked now
        self.summaries: list = []
        self.started_at = time.time()
        self.finished_at: float | None = None
        self.cancel_event = threading.Event()
        self._lock = threading.Lock()
        self._progress: dict[tuple[str, str], RowProgress] = {
            (c.model, lang): RowProgress(c.model, lang, total=len(c.question_ids) * c.samples)
            for c in self.configs
            for lang in c.languages
        }
        self._thread: threading.Thread | None = None

    # --- what a page reads -----------------------------------------------------------------
    @property
    def live(self) -> bool:
        return self.status in LIVE

    @property
    def models(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(c.model for c in self.configs))

    @property
    def languages(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(lang for c in self.configs for lang in c.languages))

    @property
    def run_ids(self) -> list[str]:
        return [s.run_id for s in self.summaries]

    def progress(self) -> list[RowProgress]:
        with self._lock:
            return list(self._progress.values())

    def totals(self) -> RowProgress:
        rows = self.progress()
        costs = [r.cost for r in rows if r.cost is not None]
        sums = {f: sum(getattr(r, f) for r in rows) for f in _COUNTS}
        return RowProgress("all", "all", **sums, cost=sum(costs) if costs else None)

    def requests_sent(self) -> int:
        return sum(s.requests for s in self.summaries)

    def elapsed_s(self) -> float:
        return (self.finished_at or time.time()) - self.started_at

    def may_control(self, by: str | None) -> bool:
        """May session `by` cancel this job? Shared mode: only its owner (a job without an
        owner: anyone). Local mode: every tab."""
        return not self.policy.shared or self.owner is None or by == self.owner

    def cancel(self, by: str | None = None) -> None:
        """Stop asking: requests in flight finish and are kept, no new one starts. UserError
        when session `by` may not (`may_control`)."""
        if not self.may_control(by):
            raise UserError(
                "this job was started in another browser session: only that session may cancel it"
            )
        self.cancel_event.set()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the job ends; True when it did within `timeout`."""
        if self._thread is not None:
            self._thread.join(timeout)
        return not self.live

    # --- the thread --------------------------------------------------------------------------
    def _on_progress(self, counters: Mapping) -> None:
        """The engine's callback: copies its live counters, so a page never reads them torn."""
        with self._lock:
            for (model, lang), c in counters.items():
                counts = {f: getattr(c, f, 0) or 0 for f in _COUNTS}
                self._progress[(model, lang)] = RowProgress(model, lang, **counts, cost=c.cost)

    def _run(self, api_keys: Mapping[str, str]) -> None:

        self.status = "running"
        try:
            for config in self.configs:
                if self.cancel_event.is_set():
                    break
                self.current = config.model
                summary = engine.run(
                    config,
                    self.db,
                    questions=self.questions,
                    api_key=typed_key(api_keys, config.model, config.api_base),
                    translator_api_key=api_keys.get(config.translator or ""),
                    progress=self._on_progress,
                    cancel=self.cancel_event,
                    policy=self.policy,
                )
                self.summaries.append(summary)
                if summary.status == "failed":
                    self.status = "failed"
                    break
            from univar.quality import check_new

            # the answers are stored; their quality verdicts come before the job ends, so a map
            # drawn then leaves the flagged ones out (a failing checker only logs)
            check_new(self.db, datasets=sorted({c.dataset for c in self.configs}))
            if self.status != "failed":
                self.status = "cancelled" if self.cancel_event.is_set() else "done"
        except Exception as exc:  # the page shows it; the thread must not die silently
            self.status = "failed"
            text = str(exc) if isinstance(exc, UserError) else f"{type(exc).__name__}: {exc}"
            self.error = redact(text, known_keys() + list(api_keys.values()))[:500]
        finally:
            self.current = None
            self.finished_at = time.time()


def _overlap(job: Job, configs: Sequence[ElicitConfig]) -> bool:
    mine = {(c.dataset, c.model) for c in job.configs}
    return any((c.dataset, c.model) in mine for c in configs)


def typed_key(api_keys: Mapping, model: str, api_base: str | None) -> str | None:
    """The key typed for `model` at `api_base`: `api_keys` holds model -> key, or
    (model, api_base) -> key where one model runs at two endpoints."""
    return api_keys.get((model, api_base)) or api_keys.get(model)


def check(
    configs: Sequence[ElicitConfig],
    db: Db = None,
    *,
    questions=None,
    api_keys=None,
    policy: policies.Policy | None = None,
) -> list:
    """Every check before a job starts; returns the plans. Writes nothing.

    Input checks are the engine's (`plan`), the policy's allow-list included. A model with
    requests to send then gets one cheap call, so a wrong key or a dead host is one clear
    message instead of a run of error rows.
    """

    api_keys = api_keys or {}
    policy = policies.given(policy)
    plans = [engine.plan(c, db, questions=questions, policy=policy) for c in configs]
    for config, plan in zip(configs, plans, strict=True):
        if plan.to_send == 0:
            continue  # all cached: no request at all, not even a test
        targets = {(config.model, config.api_base)}
        if config.translator and any(lang != "eng" for lang in config.languages):
            targets.add((config.translator, config.translator_api_base))
        for model, base in sorted(targets, key=str):
            result = check_connection(
                model,
                base,
                typed_key(api_keys, model, base),
                timeout_s=config.timeout_s,
                policy=policy,
            )
            if not result.ok and result.kind != "rate_limited":
                raise UserError(result.message)
    return plans


def start(
    configs: ElicitConfig | Sequence[ElicitConfig],
    db: Db = None,
    *,
    questions=None,
    api_keys: Mapping | None = None,
    preflight: bool = True,
    owner: str | None = None,
    policy: policies.Policy | None = None,
) -> Job:
    """Start a job in the background and return it; raises UserError before anything is written.

    Starting what is already running (the same models and dataset, e.g. from a second tab)
    returns the running job instead of asking twice (another owner's, on a shared server, to
    watch only). `api_keys`: keys typed for the models (`typed_key`); `owner`: the session
    that starts it; `policy` (default: the CLI's): allow-list, key rules, who may cancel.
    """
    configs = [configs] if isinstance(configs, ElicitConfig) else list(configs)
    if not configs:
        raise UserError("choose at least one model")
    db_file = str(db_path(db).resolve())
    with _LOCK:
        running = _running(configs, db_file)
    if running is not None:
        return running
    api_keys = {k: v for k, v in (api_keys or {}).items() if v}
    policy = policies.given(policy)
    if preflight:
        check(configs, db_file, questions=questions, api_keys=api_keys, policy=policy)
    job = Job(configs, db_file, questions, owner=owner, policy=policy)
    # The keys live in the thread's arguments only, never on the job a page can read.
    job._thread = threading.Thread(
        target=job._run, args=(api_keys,), name=f"univar-job-{job.job_id}", daemon=True
    )
    with _LOCK:  # again: another tab may have started it while this one checked
        running = _running(configs, db_file)
        if running is not None:
            return running
        _JOBS[job.job_id] = job
        _forget_old()
    job._thread.start()
    return job


def _running(configs: Sequence[ElicitConfig], db_file: str) -> Job | None:
    """The live job doing exactly this, or None; UserError if one does part of it."""
    for job in _JOBS.values():
        if job.live and job.db == db_file and _overlap(job, configs):
            if set(job.configs) == set(configs):
                return job
            raise UserError(
                f"a job for {', '.join(job.models)} is already running on this database: "
                "wait for it or cancel it"
            )
    return None


def _forget_old() -> None:
    finished = sorted((j for j in _JOBS.values() if not j.live), key=lambda j: j.started_at)
    for job in finished[: max(0, len(finished) - KEEP_FINISHED)]:
        _JOBS.pop(job.job_id, None)


def get(job_id: str) -> Job | None:
    with _LOCK:
        return _JOBS.get(job_id)


def list_jobs(db: Db = None, *, live_only: bool = False) -> list[Job]:
    """This process's jobs on database `db`, newest first."""
    db_file = str(db_path(db).resolve())
    with _LOCK:
        jobs = [j for j in _JOBS.values() if j.db == db_file and (j.live or not live_only)]
    return sorted(jobs, key=lambda j: j.started_at, reverse=True)


def cancel(job_id: str, by: str | None = None) -> bool:
    """Cancel a live job: False when there is none; UserError when session `by` may not."""
    job = get(job_id)
    if job is None or not job.live:
        return False
    job.cancel(by)
    return True


def live_run_models(db: Db = None) -> set[tuple[str, str]]:
    """(dataset, model) pairs a live job of this process is working on."""
    return {(c.dataset, c.model) for j in list_jobs(db, live_only=True) for c in j.configs}


def restart(
    run_id: str,
    db: Db = None,
    *,
    api_keys=None,
    preflight: bool = True,
    api_bases: Mapping[str, str] | None = None,
    owner: str | None = None,
    policy: policies.Policy | None = None,
) -> Job:
    """Start a stored run's config again: 'resume' for a stopped run, 'run again' for a done one.

    The engine skips answers already stored, so resuming asks only for what is missing. A
    stored api_base lost its credentials (`keys.redact_url`): `api_bases` maps it back to the
    URL typed in this session; without one the run cannot be sent there again.
    """
    config = load_config(run_id, db)
    real = {
        name: (api_bases or {}).get(getattr(config, name), getattr(config, name))
        for name in ("api_base", "translator_api_base")
    }
    if any(MASK in (url or "") for url in real.values()):
        raise UserError(
            f"run {run_id} went to an api_base with credentials, which are not stored: "
            "enter that api_base again and start the run from there"
        )
    config = dataclasses.replace(config, **real)
    return start([config], db, api_keys=api_keys, preflight=preflight, owner=owner, policy=policy)


def build_configs(
    models: Sequence[tuple[str, str | None]],
    languages: Sequence[str],
    question_ids: Sequence[str],
    *,
    temperature: float | None = None,
    max_tokens: int | None = None,
    **settings,
) -> list[ElicitConfig]:
    """One config per (model, api_base), the rest shared; raises UserError on a bad setting.
    Generation settings left None keep GenerationConfig's defaults."""
    given = {}
    if temperature is not None:
        given["temperature"] = float(temperature)
    if max_tokens is not None:  # a widget may hand over 128.0: the hash must see 128
        given["max_tokens"] = int(max_tokens)
    generation = GenerationConfig(**given)
    return [
        ElicitConfig(
            model=model,
            api_base=api_base,
            languages=tuple(languages),
            question_ids=tuple(question_ids),
            generation=generation,
            **settings,
        )
        for model, api_base in models
    ]


def plan_totals(plans: Sequence) -> dict:
    """The plans of one job's models added up, for a 'before running' summary."""
    pairs = sum(p.qa_pairs - p.qa_done for p in plans)
    requests = sum(p.requests for p in plans)
    costs = [p.est_cost for p in plans]
    return {
        "qa_pairs": sum(p.qa_pairs for p in plans),
        "stored": sum(p.qa_done for p in plans),
        "to_store": pairs,
        "requests": requests,
        "answers": pairs,
        "translations": max(0, requests - pairs),
        "cached": sum(p.cached for p in plans),
        "to_send": sum(p.to_send for p in plans),
        "tokens": sum(p.est_prompt_tokens + p.est_completion_tokens for p in plans),
        "cost": None if None in costs else sum(costs),
    }


# --- surveys in the background ----------------------------------------------------------------

_SURVEYS: dict[str, SurveyJob] = {}


class SurveyJob:
    """One survey (`survey.run`) in a thread: live progress per language as RowProgress rows
    (done, from cache, failed, tokens), then the scores. Kept, like elicitation jobs, in a
    process-wide registry that every browser session reads."""

    def __init__(
        self,
        cfg,
        db: Db,
        n_items: int,
        *,
        owner: str | None = None,
        policy: policies.Policy | None = None,
    ):
        self.job_id = uuid.uuid4().hex[:12]
        self.cfg = cfg
        self.db = str(db_path(db).resolve())
        self.owner = owner
        self.policy = policies.given(policy)
        self.status = "starting"  # starting | running | done | failed
        self.error: str | None = None
        self.scores = None  # the data frame `survey.run` returns
        self.started_at = time.time()
        self.finished_at: float | None = None
        self._lock = threading.Lock()
        self._progress = {
            lang: RowProgress(cfg.model, lang, total=n_items * cfg.samples)
            for lang in cfg.languages
        }
        self._thread: threading.Thread | None = None

    @property
    def live(self) -> bool:
        return self.status in LIVE

    @property
    def identities(self) -> tuple[str, ...]:
        from univar import ids

        return tuple(ids.identity(self.cfg.model, lang) for lang in self.cfg.languages)

    def progress(self) -> list[RowProgress]:
        with self._lock:
            return list(self._progress.values())

    def totals(self) -> RowProgress:
        rows = self.progress()
        sums = {f: sum(getattr(r, f) for r in rows) for f in _COUNTS}
        return RowProgress(self.cfg.model, "all", **sums)

    def elapsed_s(self) -> float:
        return (self.finished_at or time.time()) - self.started_at

    def wait(self, timeout: float | None = None) -> bool:
        if self._thread is not None:
            self._thread.join(timeout)
        return not self.live

    def _on_answer(self, language: str, reply) -> None:
        with self._lock:
            row = self._progress[language]
            ok = reply is not None and reply.status == "ok"
            self._progress[language] = dataclasses.replace(
                row,
                done=row.done + 1,
                cached=row.cached + bool(reply is not None and reply.cached),
                failed=row.failed + (not ok),
                tokens=row.tokens + ((reply.completion_tokens or 0) if ok else 0),
            )

    def _run(self, api_key: str | None) -> None:
        from univar.elicit import survey

        self.status = "running"
        try:
            self.scores = survey.run(
                self.cfg, self.db, api_key=api_key, answered=self._on_answer, policy=self.policy
            )
            self.status = "done"
        except Exception as exc:  # the page shows it; the thread must not die silently
            self.status = "failed"
            text = str(exc) if isinstance(exc, UserError) else f"{type(exc).__name__}: {exc}"
            self.error = redact(text, known_keys() + ([api_key] if api_key else []))[:500]
        finally:
            self.finished_at = time.time()


def survey_target(
    model: str, db: Db = None, policy: policies.Policy | None = None
) -> tuple[str, str | None] | None:
    """(model, api_base) a survey of `model` goes to: the local server for a shipped local model
    (`openai/smollm2`), else the api_base of its latest elicitation on `db`, else the
    provider's own endpoint (api_base None) where this server has a key for it (`policy`);
    None where this app cannot tell."""
    from univar.catalog.registry import LOCAL_MODELS
    from univar.llm.keys import key_for

    if model.startswith("openai/") and model.removeprefix("openai/") in LOCAL_MODELS:
        return model, policies.local_server_base()
    for past in history.past_runs(db, live=set()):
        if past.config is not None and past.config.model == model:
            base = past.config.api_base
            return None if base and MASK in base else (model, base)
    return (model, None) if key_for(model, None, policy=policies.given(policy))[0] else None


def start_survey(
    cfg,
    db: Db = None,
    *,
    api_key: str | None = None,
    preflight: bool = True,
    owner: str | None = None,
    policy: policies.Policy | None = None,
) -> SurveyJob:
    """Start `survey.run(cfg)` in the background and return its job; raises UserError before
    anything is written (items, allow-list, and one cheap request to the model). The same
    survey already running on this database is returned instead of asked twice."""
    from univar.elicit import survey
    from univar.llm.endpoints import check_allowed

    policy = policies.given(policy)
    db_file = str(db_path(db).resolve())
    with _LOCK:
        running = _running_survey(cfg, db_file)
    if running is not None:
        return running
    for url in dict.fromkeys((cfg.api_base, cfg.translator_api_base)):
        if url:
            check_allowed(url, policy)
    n_items = len(survey.survey_items(db_file, cfg.instrument))
    if preflight:
        result = check_connection(
            cfg.model, cfg.api_base, api_key, timeout_s=cfg.timeout_s, policy=policy
        )
        if not result.ok and result.kind != "rate_limited":
            raise UserError(result.message)
    job = SurveyJob(cfg, db_file, n_items, owner=owner, policy=policy)
    job._thread = threading.Thread(
        target=job._run, args=(api_key,), name=f"univar-survey-{job.job_id}", daemon=True
    )
    with _LOCK:
        running = _running_survey(cfg, db_file)
        if running is not None:
            return running
        _SURVEYS[job.job_id] = job
        finished = sorted((j for j in _SURVEYS.values() if not j.live), key=lambda j: j.started_at)
        for old in finished[: max(0, len(finished) - KEEP_FINISHED)]:
            _SURVEYS.pop(old.job_id, None)
    job._thread.start()
    return job


def _running_survey(cfg, db_file: str) -> SurveyJob | None:
    """The live survey doing exactly this, or None; UserError if one surveys the same model
    and instrument differently (both would write its scores)."""
    for job in _SURVEYS.values():
        if job.live and job.db == db_file and job.cfg.model == cfg.model:
            if job.cfg == cfg:
                return job
            if job.cfg.instrument == cfg.instrument:
                raise UserError(
                    f"a survey of {cfg.model} is already running on this database: wait for it"
                )
    return None


def survey_jobs(db: Db = None) -> list[SurveyJob]:
    """This process's surveys on database `db`, newest first."""
    db_file = str(db_path(db).resolve())
    with _LOCK:
        found = [j for j in _SURVEYS.values() if j.db == db_file]
    return sorted(found, key=lambda j: j.started_at, reverse=True)


def get_survey(job_id: str) -> SurveyJob | None:
    with _LOCK:
        return _SURVEYS.get(job_id)
