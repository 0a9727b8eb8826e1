"""Quality checks of QA pairs: which language each field is in, refusals, echoes, degenerate
or empty answers; stored per (qa_id, checker version) so every stage can leave flagged pairs out.

`check_pair` / `check_rows` (checks.py) are the pure rules; `run_checks(db)` stores verdicts of
what is unchecked, `summary`, `examples`, `flags_of` and `passing_sql` read them (run.py).

May import: catalog, store, ids, paths, config, errors, progress.
"""

from univar.quality import checks
from univar.quality.checks import FLAGS, CheckResult, check_pair, check_rows
from univar.quality.run import (
    check_new,
    examples,
    flags_of,
    passing_sql,
    pending,
    run_checks,
    summary,
    totals,
    verdicts,
)

__all__ = [
    "CHECKER_VERSION",
    "FLAGS",
    "CheckResult",
    "check_new",
    "check_pair",
    "check_rows",
    "examples",
    "flags_of",
    "passing_sql",
    "pending",
    "run_checks",
    "summary",
    "totals",
    "verdicts",
]


def __getattr__(name: str):
    # the version is read where it is defined at every use, so a bump (or a test's patch) of
    # checks.CHECKER_VERSION reaches `quality.CHECKER_VERSION` readers too
    if name == "CHECKER_VERSION":
        return checks.CHECKER_VERSION
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
