"""Past elicitation runs, read from the `runs` table: settings, counts, duration and cost.

A run's stored config is enough to run it again: keys are never part of it (the page or the
environment supplies them), and the engine skips the answers a run already stored.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Collection
from dataclasses import dataclass

from univar import store
from univar.elicit.settings import ElicitConfig, GenerationConfig
from univar.errors import UserError
from univar.llm.keys import redact_url
from univar.paths import Db, db_path


@dataclass(frozen=True)
class PastRun:
    run_id: str
    status: str  # done | cancelled | failed | running | interrupted
    config: ElicitConfig | None  # None when the stored config no longer parses
    counts: dict
    started_at: object
    finished_at: object

    @property
    def duration_s(self) -> float | None:
        if "elapsed_s" in self.counts:
            return float(self.counts["elapsed_s"])
        if self.started_at and self.finished_at:
            return (self.finished_at - self.started_at).total_seconds()
        return None

    @property
    def stopped(self) -> bool:
        """Ended before its end: resuming it finishes the rest."""
        return self.status in ("cancelled", "failed", "interrupted")

    def settings(self) -> str:
        c = self.config
        if c is None:
            return "(settings unreadable)"
        g = c.generation
        # runs stored before api_bases were redacted may still hold credentials
        where = f" @ {redact_url(c.api_base)}" if c.api_base else ""
        return (
            f"{c.model}{where} · {', '.join(c.languages)} · {len(c.question_ids)} questions"
            f" × {c.samples} · T={g.temperature:g}, max {g.max_tokens} tokens · {c.dataset}"
        )


def config_from_json(text: str | dict) -> ElicitConfig:
    """The ElicitConfig a `runs.config` JSON holds (fields added later get their defaults)."""
    data = json.loads(text) if isinstance(text, str) else dict(text)
    gen_fields = {f.name for f in dataclasses.fields(GenerationConfig)}
    gen = {k: v for k, v in (data.get("generation") or {}).items() if k in gen_fields}
    cfg_fields = {f.name for f in dataclasses.fields(ElicitConfig)} - {"generation"}
    kwargs = {k: v for k, v in data.items() if k in cfg_fields}
    for name in ("languages", "question_ids"):
        kwargs[name] = tuple(kwargs.get(name) or ())
    return ElicitConfig(**kwargs, generation=GenerationConfig(**gen))


def _rows(db: Db, where: str = "", params: list | None = None) -> list[tuple]:
    if not db_path(db).exists():
        return []
    # A read-write connection, not read_only: DuckDB refuses a read-only connection to a file
    # that a running job holds open read-write in this same process.
    with store.connect(db) as con:
        return con.execute(
            "SELECT run_id, status, config, counts, started_at, finished_at FROM runs "
            f"WHERE kind = 'elicit' {where} ORDER BY started_at DESC",  # noqa: S608 -- constant
            params or [],
        ).fetchall()


def _past(row: tuple, live: set) -> PastRun:
    run_id, status, config_text, counts_text, started, finished = row
    try:
        config = config_from_json(config_text)
    except (ValueError, TypeError, UserError):
        config = None
    if status == "running" and (config is None or (config.dataset, config.model) not in live):
        status = "interrupted"  # no job of this app runs it: the process stopped or it is elsewhere
    return PastRun(run_id, status, config, json.loads(counts_text or "{}"), started, finished)


def past_runs(
    db: Db = None, *, live: Collection[tuple[str, str]], limit: int = 100
) -> list[PastRun]:
    """Elicitation runs on `db`, newest first. `live`: the (dataset, model) pairs a job of this
    process is running (`jobs.live_run_models`); any other 'running' row was interrupted."""
    return [_past(row, live) for row in _rows(db)[:limit]]


def load_config(run_id: str, db: Db = None) -> ElicitConfig:
    """The config of run `run_id`; UserError when there is no such run."""
    rows = _rows(db, "AND run_id = ?", [run_id])
    if not rows:
        raise UserError(f"no elicitation run {run_id!r} in {db_path(db)}")
    try:
        return config_from_json(rows[0][2])
    except (ValueError, TypeError) as exc:
        raise UserError(f"run {run_id}: its stored settings cannot be read ({exc})") from None


def table(runs: list[PastRun]) -> list[dict]:
    """Rows for a page's table: one per run, plain values only."""
    out = []
    for r in runs:
        c = r.counts
        out.append(
            {
                "started": r.started_at,
                "status": r.status,
                "settings": r.settings(),
                "QA pairs": c.get("total"),
                "ok": c.get("ok"),
                "from cache": c.get("from_cache"),
                "failed": c.get("failed"),
                "requests": c.get("requests"),
                "tokens": (c.get("prompt_tokens") or 0) + (c.get("completion_tokens") or 0),
                "cost $": c.get("cost"),
                "seconds": round(r.duration_s, 1) if r.duration_s is not None else None,
                "run": r.run_id,
            }
        )
    return out
