"""What the value-map page shows, assembled from the store: choices, points, search, details.

Every selection shows its points of the one layout of (encoder, projection settings, quality
filter) (`analysis.projection`): choosing models, languages or datasets filters that layout,
and centroids are drawn from the points shown. The quality filter is applied again on every
read, so a pair flagged after the fit leaves the map at once. The map's frame carries texts
cut to HOVER_CHARS, so a 100,000-point map stays small in memory and on the wire; full texts
are read only for the QA pairs a user selects.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from univar import store
from univar.analysis import projection
from univar.analysis.projection import ProjectionConfig
from univar.errors import UserError
from univar.paths import Db, db_path
from univar.progress import Progress
from univar.quality import filter as qfilter
from univar.quality import flags_of
from univar.quality.filter import QualityFilter

HOVER_CHARS = 300  # the longest text a map point carries; the figure cuts further when large
HOVER_BUDGET = 8_000_000  # characters of hover text in one figure, all points together
DETAIL_LIMIT = 2000  # rows listed for a selection
MAP_COLUMNS = ("qa_id", "dataset", "model", "language", "identity", "value", "framework")
TEXT_COLUMNS = ("question", "answer", "question_en", "answer_en")


@dataclass(frozen=True)
class Selection:
    """Which QA pairs a map shows. None means all; an empty tuple means none."""

    models: tuple[str, ...] | None = None
    languages: tuple[str, ...] | None = None
    datasets: tuple[str, ...] | None = None

    def where(self) -> tuple[str, list]:
        """A WHERE clause over the `qa` view, and its parameters."""
        clauses, params = ["TRUE"], []
        for column, values in (
            ("model", self.models),
            ("language", self.languages),
            ("dataset", self.datasets),
        ):
            if values is not None:  # column names are fixed here, never user input
                clauses.append(f"{column} IN (SELECT unnest(?::VARCHAR[]))")
                params.append(list(values))
        return " AND ".join(clauses), params


@dataclass(frozen=True)
class Options:
    models: list[str]
    languages: list[str]
    datasets: list[str]
    n_qa: int


def hover_chars(n_points: int) -> int:
    """Characters per text field in hovers: generous for small maps, short for huge ones."""
    return int(max(40, min(280, HOVER_BUDGET / max(n_points, 1) / 2)))


def db_version(db: Db = None) -> tuple:
    """Changes whenever the database file (or its write-ahead log) is written: a cache key."""
    path = db_path(db)
    parts = []
    for f in (path, Path(f"{path}.wal")):
        try:
            st = os.stat(f)
            parts.append((st.st_mtime_ns, st.st_size))
        except FileNotFoundError:
            parts.append(None)
    return (str(path.resolve()), *parts)


def options(db: Db = None) -> Options:
    with store.connect(db) as con:
        rows = {
            column: [
                r[0]
                for r in con.execute(
                    f"SELECT {column} FROM qa GROUP BY {column} ORDER BY count(*) DESC, {column}"
                ).fetchall()
            ]
            for column in ("model", "language", "dataset")
        }
        n_qa = con.execute("SELECT count(*) FROM qa").fetchall()[0][0]
    return Options(rows["model"], rows["language"], rows["dataset"], int(n_qa))


def database_counts(db: Db = None) -> dict:
    """Numbers for the sidebar: QA pairs, models, languages, datasets, cached vectors and maps."""
    with store.connect(db) as con:
        qa = con.execute(
            "SELECT count(*), count(DISTINCT model), count(DISTINCT language), "
            "count(DISTINCT dataset) FROM qa"
        ).fetchall()[0]
        vectors = con.execute("SELECT count(*) FROM embeddings").fetchall()[0][0]
        maps = con.execute("SELECT count(*) FROM layouts").fetchall()[0][0]
    keys = ("qa_pairs", "models", "languages", "datasets")
    return {**dict(zip(keys, map(int, qa), strict=True)), "vectors": vectors, "maps": maps}


def selected_ids(db: Db, selection: Selection) -> list[str]:
    where, params = selection.where()
    with store.connect(db) as con:
        rows = con.execute(f"SELECT qa_id FROM qa WHERE {where} ORDER BY qa_id", params).fetchall()
    return [r[0] for r in rows]


def _frame(db: Db, qa_ids: Sequence[str], text_chars: int | None):
    import pandas as pd

    texts = ", ".join(
        f"left({c}, {int(text_chars)}) AS {c}" if text_chars else c for c in TEXT_COLUMNS
    )
    with store.connect(db) as con:
        con.register("wanted", pd.DataFrame({"qa_id": list(qa_ids)}))
        return con.execute(
            f"SELECT {', '.join(MAP_COLUMNS)}, {texts} FROM qa JOIN wanted USING (qa_id) "
            "ORDER BY qa_id"
        ).df()


def _count(db: Db, selection: Selection, quality: QualityFilter) -> int:
    where, params = selection.where()
    with store.connect(db) as con:
        return con.execute(
            f"SELECT count(*) FROM qa WHERE {where} AND {quality.where()}", params
        ).fetchall()[0][0]


def _none_pass(db: Db, selection: Selection, quality: QualityFilter) -> UserError:
    """Why a selection has nothing to show: nothing matches, or the filter left it all out."""
    if not quality.include_flagged and _count(db, selection, projection.EVERYTHING):
        return UserError(
            "every QA pair of this selection is flagged by the quality checks: include "
            "flagged QA pairs to see them"
        )
    return UserError("no QA pairs match: choose at least one model and one language")


def map_points(
    db: Db,
    encoder,
    selection: Selection,
    config: ProjectionConfig | None = None,
    *,
    quality: QualityFilter | None = None,
    progress: Progress | None = None,
):
    """One row per selected QA pair that `quality` lets through: its tags, its texts (cut to
    HOVER_CHARS), its x, y on the layout of that filter, `placed` (put on the layout after it
    was fitted) and `flags` (its quality flags, comma-separated; '' for none).

    Fits the layout when there is none yet, and places the selected QA pairs it lacks; a
    selection of a complete layout only reads (nothing heavy is imported).
    """
    config, quality = config or ProjectionConfig(), quality or QualityFilter()
    n = _count(db, selection, quality)
    if not n:
        raise _none_pass(db, selection, quality)
    layout = projection.ensure(db, encoder, config, quality=quality, progress=progress)
    where, params = selection.where()
    missing = projection.unplaced(db, layout, where, params)
    if missing:
        projection.place(db, encoder, layout, missing, progress=progress)
    with store.connect(db) as con:
        return _layout_frame(con, layout, selection, n)


def _layout_frame(con, layout, selection: Selection, n: int):
    """The selected points of `layout` that its filter lets through; `n`, how many QA pairs
    that is, sizes the texts (the caller has counted them already)."""
    where, params = selection.where()
    chars = min(HOVER_CHARS, hover_chars(n) + 40)  # no more than hovers show
    texts = ", ".join(f"left({c}, {int(chars)}) AS {c}" for c in TEXT_COLUMNS)
    return con.execute(
        f"SELECT {', '.join(MAP_COLUMNS)}, {texts}, p.x, p.y, "
        "p.placed IS NOT NULL AS placed, coalesce(array_to_string(f.flags, ', '), '') AS flags "
        "FROM qa JOIN projection_points p USING (qa_id) "
        f"LEFT JOIN ({qfilter.flags_sql()}) f USING (qa_id) "
        f"WHERE p.proj_key = ? AND {where} AND {layout.quality.where('qa.qa_id')} ORDER BY qa_id",
        [layout.proj_key, *params],
    ).df()


def stored_points(
    db: Db,
    encoder_id: str,
    selection: Selection,
    config: ProjectionConfig,
    quality: QualityFilter | None = None,
):
    """What `map_points` returns, when the layout holds every selected QA pair; else None
    (then `map_points` must fit or place first). Reads only, on one connection: the path of
    every selection change and every first view of a stored map."""
    quality = quality or QualityFilter()
    where, params = selection.where()
    with store.connect(db) as con:
        layout = projection.stored(con, encoder_id, config, quality)
        if layout is None:
            return None
        missing = con.execute(
            f"SELECT count(*) FILTER (WHERE qa_id NOT IN (SELECT qa_id FROM projection_points "
            f"WHERE proj_key = ?)), count(*) FROM qa WHERE {where} AND {quality.where()}",
            [layout.proj_key, *params],
        ).fetchall()[0]
        if missing[0] or not missing[1]:
            return None
        return _layout_frame(con, layout, selection, missing[1])


def is_cached(
    db: Db,
    encoder,
    selection: Selection,
    config: ProjectionConfig,
    quality: QualityFilter | None = None,
) -> bool:
    """Whether the layout holds every selected QA pair (then the map shows without waiting)."""
    quality = quality or QualityFilter()
    layout = projection.current(db, encoder.id, config, quality)
    if layout is None or not _count(db, selection, quality):
        return False
    where, params = selection.where()
    return not projection.unplaced(db, layout, where, params)


def layout_extent(
    db: Db, encoder_id: str, config: ProjectionConfig, quality: QualityFilter | None = None
):
    """((x min, x max), (y min, y max)) of the whole layout in use, or None: the frame every
    selection is drawn in, so that its points keep their place on screen too."""
    quality = quality or QualityFilter()
    with store.connect(db) as con:
        layout = projection.stored(con, encoder_id, config, quality)
        if layout is None:
            return None
        row = con.execute(
            "SELECT min(x), max(x), min(y), max(y) FROM projection_points JOIN qa USING (qa_id) "
            f"WHERE proj_key = ? AND {quality.where('qa.qa_id')}",
            [layout.proj_key],
        ).fetchall()[0]
    return None if row[0] is None else ((row[0], row[1]), (row[2], row[3]))


def left_out(db: Db, selection: Selection, quality: QualityFilter | None = None) -> str:
    """What the filter keeps off this selection's map, for its header: '412 QA pairs left out
    by the quality checks: 300 not_english, 80 echo, …'; '' when nothing is."""
    if (quality or QualityFilter()).include_flagged:
        return ""
    where, params = selection.where()
    return qfilter.left_out_note(*qfilter.left_out(db, where, params))


def layout_note(layout, points) -> str:
    """What the map's coordinates are, for a caption: which layout, how many placed on it."""
    if layout is None:
        return ""
    method = layout.config.method.upper()
    whose = {"shipped": "the shipped demo's ", "adopted": ""}.get(layout.source, "")
    what = "QA pairs" if layout.quality.include_flagged else "unflagged QA pairs"
    note = f"{whose}{method} layout of {layout.n_fitted:,} {what}"
    if layout.source == "fit" and layout.fitted_at is not None:
        note += f", fitted {str(layout.fitted_at)[:16]}"
    placed = int(points["placed"].sum()) if "placed" in points else 0
    if placed:
        note += f" · {placed:,} shown placed on it since"
    return note


def search(
    db: Db, selection: Selection, text: str, quality: QualityFilter | None = None
) -> list[str]:
    """QA ids in the selection (those `quality` lets through) whose question or answer
    (original or English) holds `text`."""
    text = (text or "").strip()
    if not text:
        return []
    where, params = selection.where()
    pattern = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    match = " OR ".join(f"{c} ILIKE ? ESCAPE '\\'" for c in TEXT_COLUMNS)
    keep = (quality or QualityFilter()).where()
    with store.connect(db) as con:
        rows = con.execute(
            f"SELECT qa_id FROM qa WHERE {where} AND {keep} AND ({match})", params + [pattern] * 4
        ).fetchall()
    return [r[0] for r in rows]


def details(db: Db, qa_ids: Sequence[str], limit: int = DETAIL_LIMIT):
    """Full texts of selected QA pairs for the table under the map, with their quality flags."""
    ids = list(dict.fromkeys(qa_ids))[:limit]
    frame = _frame(db, ids, None)
    flags = flags_of(db, frame["qa_id"].tolist())
    frame["flags"] = [", ".join(flags.get(qa_id, ())) for qa_id in frame["qa_id"]]
    columns = ["model", "language", "value", "question", "answer", "question_en", "answer_en"]
    return frame[columns + ["flags", "dataset", "qa_id"]]


def selected_from_event(event) -> list[str]:
    """QA ids picked by a box, lasso or click on the map (streamlit's selection state).

    Only QA points carry a qa_id in customdata; centroid markers are skipped.
    """
    points = ((event or {}).get("selection") or {}).get("points") or []
    ids = []
    for point in points:
        data = point.get("customdata")
        if isinstance(data, list):
            data = data[0] if data else None
        if isinstance(data, str) and data:
            ids.append(data)
    return list(dict.fromkeys(ids))


def summary(points, encoder_id: str) -> str:
    return (
        f"{len(points):,} QA pairs · {points['model'].nunique():,} models · "
        f"{points['language'].nunique():,} languages · encoder {encoder_id}"
    )


def datasets_overview(db: Db = None):
    """Every dataset with its kind, size and provenance (for the About page)."""
    return store.query_df(
        "SELECT d.dataset, d.kind, d.description, count(q.qa_id) AS qa_pairs, "
        "count(DISTINCT q.model) AS models, count(DISTINCT q.language) AS languages, "
        "d.provenance, d.created_at FROM datasets d LEFT JOIN qa q USING (dataset) "
        "GROUP BY ALL ORDER BY d.created_at",
        path=db,
    )
