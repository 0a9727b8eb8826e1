"""Quality checks of QA pairs: which language each field is in, refusals, echoes, degenerate
or empty answers; stored per (qa_id, checker version) so every stage can leave flagged pairs out.

May import: catalog, store, ids, paths, config, errors, progress.
"""

from univar.quality.run import CHECKER_VERSION, flags_of, passing_sql

__all__ = ["CHECKER_VERSION", "flags_of", "passing_sql"]
