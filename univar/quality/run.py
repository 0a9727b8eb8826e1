"""Quality checks against the store: which QA pairs pass, and the SQL that keeps only those."""

from __future__ import annotations

from univar import store
from univar.paths import Db

# Bumped by every change to the rules in checks.py, so stored verdicts of older rules re-run.
CHECKER_VERSION = "0"


def passing_sql(include_flagged: bool = False, column: str = "qa_id") -> str:
    """An SQL predicate on `column` that keeps QA pairs with no flag under CHECKER_VERSION
    ("TRUE" when include_flagged). Pairs never checked pass: the summary counts them."""
    if include_flagged:
        return "TRUE"
    return (
        f"{column} NOT IN (SELECT qa_id FROM qa_quality WHERE checker_version = "
        f"'{CHECKER_VERSION}' AND len(flags) > 0)"
    )


def flags_of(db: Db, qa_ids) -> dict[str, tuple[str, ...]]:
    """qa_id -> its flags under CHECKER_VERSION, for the given ids that carry any."""
    ids = list(qa_ids)
    if not ids:
        return {}
    with store.connect(db) as con:
        rows = con.execute(
            "SELECT qa_id, flags FROM qa_quality WHERE checker_version = ? AND len(flags) > 0 "
            "AND qa_id IN (SELECT unnest(?))",
            [CHECKER_VERSION, ids],
        ).fetchall()
    return {qa: tuple(flags) for qa, flags in rows}
