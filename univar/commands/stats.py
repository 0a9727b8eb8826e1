"""Count the stored QA pairs per dataset, model and language."""

from __future__ import annotations

import json

from univar import store
from univar.paths import Db, db_path

SQL = """
SELECT dataset, model, language,
       count(*) FILTER (WHERE status = 'ok') AS ok,
       count(*) FILTER (WHERE status = 'error') AS errors,
       count(*) FILTER (WHERE status = 'ok' AND (language = 'eng' OR answer_en IS NOT NULL))
           AS in_english,
       count(DISTINCT question_id) AS questions
FROM qa_pairs GROUP BY ALL ORDER BY dataset, model, language
"""


def add_arguments(p) -> None:
    p.add_argument("--json", action="store_true", help="print a JSON list instead of a table")


def counts(db: Db = None) -> list[dict]:
    """One dict per (dataset, model, language); empty when the database does not exist."""
    if not db_path(db).exists():
        return []
    with store.connect(db, read_only=True) as con:
        cur = con.execute(SQL)
        names = [d[0] for d in cur.description]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def run(args) -> int:
    rows = counts(args.db)
    if args.json:
        print(json.dumps(rows, ensure_ascii=False, indent=1))
        return 0
    if not rows:
        print(f"no QA pairs in {db_path(args.db)}")
        return 0
    header = ["dataset", "model", "language", "ok", "errors", "in_english", "questions"]
    table = [header] + [[str(r[h]) for h in header] for r in rows]
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    for row in table:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
    return 0
