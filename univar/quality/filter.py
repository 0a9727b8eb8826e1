"""The quality filter: which QA pairs a map, a distance, a training run or an export reads.

One small frozen setting, `QualityFilter`, that every such stage takes; by default the QA pairs
a quality check flagged are left out. A cache of what a stage computed from the pairs it read
(a layout, say) keys on `key()`: the checker version is part of it, so a better checker, whose
verdicts leave other pairs out, never reuses what the older one let through.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from univar import store
from univar.paths import Db
from univar.quality import run


@dataclass(frozen=True)
class QualityFilter:
    """Leave flagged QA pairs out (the default), or include them."""

    include_flagged: bool = False

    def where(self, column: str = "qa_id") -> str:
        """An SQL predicate on `column` that keeps the QA pairs this filter lets through."""
        return run.passing_sql(self.include_flagged, column)

    def key(self) -> dict:
        """What a cache of results of this filter must hash. Everything is everything whatever
        a checker says, so the checker version counts only where flagged pairs are left out."""
        if self.include_flagged:
            return {"include_flagged": True}
        return {"include_flagged": False, "checker": run.CHECKER_VERSION}

    def describe(self) -> str:
        if self.include_flagged:
            return "every QA pair, flagged ones included"
        return f"QA pairs no quality check flagged (checker {run.CHECKER_VERSION})"

    def keep(self, db: Db, frame, column: str = "qa_id"):
        """The rows of a QA frame this filter lets through, index reset (so vectors computed
        after it line up with its rows)."""
        if self.include_flagged or not len(frame):
            return frame
        flagged = run.flags_of(db, frame[column].tolist())
        if not flagged:
            return frame
        return frame[~frame[column].isin(list(flagged))].reset_index(drop=True)


def flags_sql() -> str:
    """A subquery of (qa_id, flags) for every QA pair the checker in use flagged: what a reader
    joins to show a point's flags."""
    return (
        "SELECT qa_id, flags FROM qa_quality WHERE checker_version = "
        f"'{run.CHECKER_VERSION}' AND len(flags) > 0"
    )


def left_out(db: Db, where: str = "TRUE", params: Sequence = ()) -> tuple[int, dict[str, int]]:
    """(QA pairs of the `qa` view matching `where` that the default filter leaves out, how many
    of them carry each flag, most frequent first). A pair with two flags counts under both."""
    with store.connect(db) as con:
        flagged = f"SELECT f.qa_id, f.flags FROM qa JOIN ({flags_sql()}) f USING (qa_id) "
        flagged += f"WHERE {where}"
        n = con.execute(f"SELECT count(*) FROM ({flagged})", list(params)).fetchall()[0][0]
        if not n:
            return 0, {}
        rows = con.execute(
            f"SELECT flag, count(*) AS n FROM (SELECT unnest(flags) AS flag FROM ({flagged})) "
            "GROUP BY flag ORDER BY n DESC, flag",
            list(params),
        ).fetchall()
    return int(n), {flag: int(k) for flag, k in rows}


def left_out_note(n: int, by_flag: dict[str, int], limit: int = 4) -> str:
    """'412 QA pairs left out by the quality checks: 300 not_english, 80 echo, …' ('' for 0)."""
    if not n:
        return ""
    parts = [f"{k:,} {flag}" for flag, k in list(by_flag.items())[:limit]]
    more = ", …" if len(by_flag) > limit else ""
    noun = "QA pair" if n == 1 else "QA pairs"
    return f"{n:,} {noun} left out by the quality checks: {', '.join(parts)}{more}"
