"""Datasets: list, rename and delete them with everything that hangs off them.

A dataset owns its `datasets` row, its QA pairs, the questions it brought in (source = the
dataset) and any cached projection that was computed with its points (such a map is stale once
they are gone). Embeddings are a cache keyed by text and shared across datasets: they stay.
"""

from __future__ import annotations

import re

from univar import store
from univar.errors import UserError
from univar.paths import Db, db_path

NAME_MAX = 64


_NAME = re.compile(r"^\w[\w .+-]*$")  # \w: letters and digits of any script, and _


_PATH_CHARS = set('/\\:*?"<>|')


def check_dataset_name(name: str | None) -> str:
    """A dataset name: 1-64 characters, letters/digits/space/_ . + -, no path characters."""
    name = (name or "").strip()
    if not name:
        raise UserError("dataset name is empty")
    if len(name) > NAME_MAX:
        raise UserError(f"dataset name is {len(name)} characters long; the limit is {NAME_MAX}")
    bad = sorted(_PATH_CHARS & set(name))
    if bad:
        raise UserError(f"dataset name {name!r} holds {''.join(bad)!r}: no path characters")
    if not _NAME.match(name):
        raise UserError(
            f"dataset name {name!r}: use letters, digits, spaces and _ . + - "
            "(starting with a letter or digit)"
        )
    return name


def existing_datasets(db: Db = None) -> set[str]:
    """Dataset names in the store; an absent file has none (and is not created here)."""
    path = db_path(db)
    if not path.exists():
        return set()
    with store.connect(path) as con:  # opening and reading leaves the file's bytes as they are
        return {r[0] for r in con.execute("SELECT dataset FROM datasets").fetchall()} | {
            r[0] for r in con.execute("SELECT DISTINCT dataset FROM qa_pairs").fetchall()
        }


UPLOAD_KINDS = ("upload",)  # drawn in their own style on the value map


COLUMNS = ("dataset", "kind", "rows", "models", "languages", "description", "created_at")


def list_datasets(db: Db = None):
    """One row per dataset: dataset, kind, rows, models, languages, description, created_at."""
    if not db_path(db).exists():  # looking must not create an empty database
        import pandas as pd

        return pd.DataFrame(columns=COLUMNS)
    return store.query_df(
        """
        WITH counts AS (
            SELECT dataset, count(*) AS rows, count(DISTINCT model) AS models,
                   count(DISTINCT language) AS languages
            FROM qa_pairs GROUP BY dataset
        ),
        names AS (SELECT dataset FROM datasets UNION SELECT dataset FROM counts)
        SELECT n.dataset, coalesce(d.kind, 'elicited') AS kind,
               coalesce(c.rows, 0) AS rows, coalesce(c.models, 0) AS models,
               coalesce(c.languages, 0) AS languages, d.description, d.created_at
        FROM names n LEFT JOIN datasets d USING (dataset) LEFT JOIN counts c USING (dataset)
        ORDER BY n.dataset
        """,
        path=db,
    )


def uploaded(db: Db = None) -> list[str]:
    """Names of the datasets users uploaded (the value map draws them apart)."""
    if not db_path(db).exists():
        return []
    df = store.query_df(
        "SELECT dataset FROM datasets WHERE kind IN (SELECT unnest(?)) ORDER BY dataset",
        [list(UPLOAD_KINDS)],
        path=db,
    )
    return list(df["dataset"])


def _exists(con, name: str) -> bool:
    return bool(
        con.execute(
            "SELECT 1 FROM datasets WHERE dataset = ? UNION ALL "
            "SELECT 1 FROM qa_pairs WHERE dataset = ? LIMIT 1",
            [name, name],
        ).fetchall()
    )


def rename_dataset(old: str, new: str, db: Db = None) -> None:
    """Rename in one transaction. QA ids stay as they are: cached maps keep their points."""
    new = check_dataset_name(new)
    if new == old:
        return
    with store.transaction(db) as con:
        if not _exists(con, old):
            raise UserError(f"no dataset named {old!r}")
        if _exists(con, new):
            raise UserError(f"dataset {new!r} already exists; choose another name")
        con.execute("UPDATE datasets SET dataset = ? WHERE dataset = ?", [new, old])
        con.execute("UPDATE qa_pairs SET dataset = ? WHERE dataset = ?", [new, old])
        con.execute("UPDATE questions SET source = ? WHERE source = ?", [new, old])


def delete_dataset(name: str, db: Db = None) -> dict[str, int]:
    """Delete a dataset and what hangs off it, in one transaction; returns counts removed."""
    with store.transaction(db) as con:
        if not _exists(con, name):
            raise UserError(f"no dataset named {name!r}")
        # A value-map layout keeps every other point where it is (analysis.projection): only
        # the dataset's points leave it. Any other stored map that used the dataset goes.
        stale = [
            r[0]
            for r in con.execute(
                "SELECT DISTINCT proj_key FROM projection_points WHERE qa_id IN "
                "(SELECT qa_id FROM qa_pairs WHERE dataset = ?) "
                "AND proj_key NOT IN (SELECT proj_key FROM layouts)",
                [name],
            ).fetchall()
        ]
        con.execute("DELETE FROM projection_points WHERE proj_key IN (SELECT unnest(?))", [stale])
        con.execute("DELETE FROM projections WHERE proj_key IN (SELECT unnest(?))", [stale])
        con.execute(
            "DELETE FROM projection_points WHERE qa_id IN "
            "(SELECT qa_id FROM qa_pairs WHERE dataset = ?)",
            [name],
        )
        # the points of the fit: fitted, or placed in it by a fit on a sample
        # ('fit-neighbours', analysis.projection.FIT_PLACED), not placed on it later
        con.execute(
            "UPDATE projections SET n_points = (SELECT count(*) FROM projection_points p "
            "WHERE p.proj_key = projections.proj_key "
            "AND (p.placed IS NULL OR p.placed = 'fit-neighbours')) "
            "WHERE proj_key IN (SELECT proj_key FROM layouts)"
        )
        # its quality verdicts too: a dataset elicited again under this name reuses its qa_ids
        con.execute(
            "DELETE FROM qa_quality WHERE qa_id IN (SELECT qa_id FROM qa_pairs WHERE dataset = ?)",
            [name],
        )
        qa = con.execute("DELETE FROM qa_pairs WHERE dataset = ? RETURNING 1", [name]).fetchall()
        # its own questions, unless another dataset or an instrument still uses them
        questions = con.execute(
            "DELETE FROM questions WHERE source = ? "
            "AND question_id NOT IN (SELECT question_id FROM qa_pairs WHERE question_id IS NOT NULL) "
            "AND question_id NOT IN (SELECT question_id FROM instrument_items "
            "WHERE question_id IS NOT NULL) RETURNING 1",
            [name],
        ).fetchall()
        con.execute("DELETE FROM datasets WHERE dataset = ?", [name])
    return {"qa_pairs": len(qa), "questions": len(questions), "projections": len(stale)}
