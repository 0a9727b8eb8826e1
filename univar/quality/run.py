"""Quality checks against the store: checking what is unchecked, which QA pairs pass, the SQL
that keeps only those, and the per-identity summary the app and the CLI show.

Verdicts live in `qa_quality`, one row per (qa_id, checker version). `run_checks` checks the
QA pairs of the `qa` view without a row for the current version, a batch at a time, each batch
in its own transaction: a crash loses at most the batch in hand, and a rerun checks only what
is still missing. A new checker version has no rows yet, so it checks everything again while
the older verdicts stay for comparison.
"""

from __future__ import annotations

import json
import logging
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence

from univar import ids, store
from univar.errors import UserError
from univar.paths import Db
from univar.progress import Progress
from univar.quality import checks

log = logging.getLogger(__name__)

BATCH_SIZE = 1000
_COLUMNS = "qa_id, language, question, answer, question_en, answer_en"


def __getattr__(name: str):
    # read at use, never copied: a bumped (or, in tests, patched) checks.CHECKER_VERSION is the
    # version every function here and every `run.CHECKER_VERSION` reader sees
    if name == "CHECKER_VERSION":
        return checks.CHECKER_VERSION
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _version() -> str:
    return checks.CHECKER_VERSION


def passing_sql(include_flagged: bool = False, column: str = "qa_id") -> str:
    """An SQL predicate on `column` that keeps QA pairs with no flag under CHECKER_VERSION
    ("TRUE" when include_flagged). Pairs never checked pass: the summary counts them."""
    if include_flagged:
        return "TRUE"
    return (
        f"{column} NOT IN (SELECT qa_id FROM qa_quality WHERE checker_version = "
        f"'{_version()}' AND len(flags) > 0)"
    )


def flags_of(db: Db, qa_ids) -> dict[str, tuple[str, ...]]:
    """qa_id -> its flags under CHECKER_VERSION, for the given ids that carry any."""
    ids_ = list(qa_ids)
    if not ids_:
        return {}
    with store.connect(db) as con:
        rows = con.execute(
            "SELECT qa_id, flags FROM qa_quality WHERE checker_version = ? AND len(flags) > 0 "
            "AND qa_id IN (SELECT unnest(?))",
            [_version(), ids_],
        ).fetchall()
    return {qa: tuple(flags) for qa, flags in rows}


def _dataset_filter(datasets: Sequence[str] | None) -> tuple[str, list]:
    if not datasets:
        return "TRUE", []
    return "dataset IN (SELECT unnest(?))", [list(datasets)]


def _check_datasets(db: Db, datasets: Sequence[str] | None) -> None:
    if not datasets:
        return
    known = set(store.query_df("SELECT dataset FROM datasets", path=db)["dataset"])
    missing = sorted(set(datasets) - known)
    if missing:
        raise UserError(f"unknown dataset(s): {', '.join(missing)}")


def pending(db: Db = None, *, datasets: Sequence[str] | None = None) -> list[str]:
    """The qa_ids of the `qa` view with no verdict under CHECKER_VERSION, in a stable order."""
    where, params = _dataset_filter(datasets)
    with store.connect(db) as con:
        rows = con.execute(
            f"SELECT qa_id FROM qa WHERE {where} AND qa_id NOT IN "
            "(SELECT qa_id FROM qa_quality WHERE checker_version = ?) ORDER BY qa_id",
            [*params, _version()],
        ).fetchall()
    return [r[0] for r in rows]


def _selected(db: Db, datasets: Sequence[str] | None) -> list[str]:
    where, params = _dataset_filter(datasets)
    with store.connect(db) as con:
        rows = con.execute(f"SELECT qa_id FROM qa WHERE {where} ORDER BY qa_id", params)
        return [r[0] for r in rows.fetchall()]


def _verdict_frame(frame, results: Sequence[checks.CheckResult], version: str):
    import pandas as pd

    return pd.DataFrame(
        {
            "qa_id": frame["qa_id"].tolist(),
            "checker_version": version,
            "flags": [list(r.flags) for r in results],
            "reasons": [json.dumps(dict(r.reasons), ensure_ascii=False) for r in results],
            **{f"lang_{f}": [r.langs.get(f) for r in results] for f in checks.FIELDS},
        }
    )


def _write(db: Db, verdicts) -> None:
    columns = ", ".join(verdicts.columns)
    with store.transaction(db) as con:
        con.register("new_verdicts", verdicts)
        con.execute(
            f"INSERT OR REPLACE INTO qa_quality ({columns}) SELECT qa_id, checker_version, "
            "CAST(flags AS VARCHAR[]), CAST(reasons AS JSON), lang_question, lang_answer, "
            "lang_question_en, lang_answer_en FROM new_verdicts"
        )
        con.unregister("new_verdicts")


def run_checks(
    db: Db = None,
    *,
    datasets: Sequence[str] | None = None,
    recheck: bool = False,
    progress: Progress | None = None,
    batch_size: int = BATCH_SIZE,
) -> dict:
    """Check every QA pair of the `qa` view (of `datasets`, or all) that has no verdict under
    CHECKER_VERSION; `recheck`: check them all again and replace the verdicts. Returns what
    was done: checked, passing, flagged, a count per flag, already checked, seconds."""
    if batch_size < 1:
        raise UserError(f"batch size must be at least 1, got {batch_size}")
    _check_datasets(db, datasets)
    started = time.perf_counter()
    version = _version()
    todo = _selected(db, datasets) if recheck else pending(db, datasets=datasets)
    total_selected = len(todo) if recheck else len(todo) + _count_checked(db, datasets, version)
    by_flag: Counter = Counter()
    passing = done = 0
    if progress:
        progress(0, len(todo), "quality checks")
    for start in range(0, len(todo), batch_size):
        batch = todo[start : start + batch_size]
        with store.connect(db) as con:
            frame = con.execute(
                f"SELECT {_COLUMNS} FROM qa WHERE qa_id IN (SELECT unnest(?))", [batch]
            ).df()
        results = checks.check_rows(frame)
        _write(db, _verdict_frame(frame, results, version))
        for r in results:
            by_flag.update(r.flags)
            passing += not r.flags
        done += len(frame)
        if progress:
            progress(done, len(todo), "quality checks")
    return {
        "checker_version": version,
        "checked": done,
        "passing": passing,
        "flagged": done - passing,
        "by_flag": {f: by_flag[f] for f in checks.FLAGS if by_flag[f]},
        "already_checked": total_selected - len(todo),
        "seconds": round(time.perf_counter() - started, 2),
    }


def _count_checked(db: Db, datasets: Sequence[str] | None, version: str) -> int:
    where, params = _dataset_filter(datasets)
    with store.connect(db) as con:
        return con.execute(
            f"SELECT count(*) FROM qa WHERE {where} AND qa_id IN "
            "(SELECT qa_id FROM qa_quality WHERE checker_version = ?)",
            [*params, version],
        ).fetchall()[0][0]


def check_new(
    db: Db = None,
    *,
    datasets: Sequence[str] | None = None,
    progress: Progress | None = None,
    say: Callable[[str], None] | None = None,
) -> dict | None:
    """run_checks where answers have just been stored (an elicitation, an import, the demo):
    a checker that fails is logged and said (`say`), never raised, so it cannot lose or block
    what was stored; `python -m univar check` catches up later. None when it failed."""
    try:
        return run_checks(db, datasets=datasets, progress=progress)
    except Exception as exc:  # whatever broke, the stored answers must not pay for it
        message = (
            f"quality checks did not run ({type(exc).__name__}: {exc}); the answers are "
            "stored: run `python -m univar check` to check them"
        )
        log.warning(message)
        if say:
            say(message)
        return None


def summary(db: Db = None, *, datasets: Sequence[str] | None = None):
    """One row per identity (model$language): qa_pairs, checked, unchecked, passing (checked
    and unflagged), share_passing (of those checked), then a count per flag, in FLAGS order.
    Unchecked pairs pass every filter, so `unchecked` says how many went in unseen."""
    where, params = _dataset_filter(datasets)
    per_flag = ", ".join(
        f"count(*) FILTER (WHERE list_contains(c.flags, '{f}')) AS {f}" for f in checks.FLAGS
    )
    identity = ids.identity_sql("q.model", "q.language")
    with store.connect(db) as con:
        frame = con.execute(
            f"SELECT {identity} AS identity, q.model, q.language, count(*) AS qa_pairs, "
            "count(c.qa_id) AS checked, count(*) - count(c.qa_id) AS unchecked, "
            "count(*) FILTER (WHERE c.qa_id IS NOT NULL AND len(c.flags) = 0) AS passing, "
            f"{per_flag} "
            f"FROM (SELECT qa_id, model, language FROM qa WHERE {where}) q "
            "LEFT JOIN (SELECT qa_id, flags FROM qa_quality WHERE checker_version = ?) c "
            "USING (qa_id) GROUP BY ALL ORDER BY identity",
            [*params, _version()],
        ).df()
    counts = ["qa_pairs", "checked", "unchecked", "passing", *checks.FLAGS]
    frame[counts] = frame[counts].astype("int64")
    share = frame["passing"] / frame["checked"].where(frame["checked"] > 0)
    frame.insert(frame.columns.get_loc("passing") + 1, "share_passing", share.round(4))
    return frame


def totals(frame) -> dict:
    """The summary's rows added up: QA pairs, checked, passing, share passing, per flag."""
    sums = {c: int(frame[c].sum()) for c in ("qa_pairs", "checked", "unchecked", "passing")}
    sums["share_passing"] = round(sums["passing"] / sums["checked"], 4) if sums["checked"] else None
    sums["by_flag"] = {f: int(frame[f].sum()) for f in checks.FLAGS}
    return sums


def examples(db: Db, identity: str, flag: str, limit: int = 5):
    """Up to `limit` QA pairs of one identity that carry `flag`, with the reason it was given:
    qa_id, dataset, question, answer, question_en, answer_en, reason, flags."""
    if flag not in checks.FLAGS:
        raise UserError(f"unknown quality flag {flag!r}; use one of {', '.join(checks.FLAGS)}")
    model, language = ids.parse_identity(identity)
    with store.connect(db) as con:
        frame = con.execute(
            "SELECT q.qa_id, q.dataset, q.question, q.answer, q.question_en, q.answer_en, "
            "json_extract_string(c.reasons, ?) AS reason, c.flags "
            "FROM qa q JOIN qa_quality c USING (qa_id) "
            "WHERE c.checker_version = ? AND q.model = ? AND q.language = ? "
            "AND list_contains(c.flags, ?) ORDER BY q.qa_id LIMIT ?",
            [f"$.{flag}", _version(), model, language, flag, int(limit)],
        ).df()
    frame["flags"] = [tuple(f) for f in frame["flags"]]
    return frame


def verdicts(db: Db, qa_ids: Iterable[str]) -> dict[str, checks.CheckResult]:
    """The stored verdicts under CHECKER_VERSION of the given ids (checked ones only)."""
    ids_ = list(qa_ids)
    if not ids_:
        return {}
    with store.connect(db) as con:
        rows = con.execute(
            "SELECT qa_id, flags, reasons, lang_question, lang_answer, lang_question_en, "
            "lang_answer_en FROM qa_quality WHERE checker_version = ? "
            "AND qa_id IN (SELECT unnest(?))",
            [_version(), ids_],
        ).fetchall()
    return {
        qa: checks.CheckResult(
            tuple(flags), json.loads(reasons), dict(zip(checks.FIELDS, langs, strict=True))
        )
        for qa, flags, reasons, *langs in rows
    }
