"""What the value-map page shows, assembled from the store: choices, points, search, details.

Every selection shows its points of the one layout of (encoder, projection settings, quality
filter) (`analysis.projection`): choosing models, languages or datasets filters that layout,
and centroids are drawn from the points shown. The quality filter is applied again on every
read, so a pair flagged after the fit leaves the map at once. The map's frame carries texts
cut to HOVER_CHARS, so a 100,000-point map stays small in memory and on the wire; full texts
are read only for the QA pairs a user selects.

The browser never gets more points than it draws well (`ViewSettings.max_points`): a larger
selection's map (`stored_view`, `map_view`) holds a seeded sample that keeps every
model$language (`analysis.sampling`), chosen in DuckDB by a hash of each qa_id, so the same
points show on every rerun and a point shown stays shown when other models leave the
selection; its centroids and counts are computed over every selected point, in DuckDB.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from univar import store
from univar.analysis import projection, sampling
from univar.analysis.projection import ProjectionConfig
from univar.config import check
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
class ViewSettings:
    """How many of a selection's points the map sends to the browser."""

    # above this many the figure gets a sample: headless Chromium draws 60,000 in about a
    # second, and the figure's JSON stays under 12 MB (a million points: 154 MB and 42 s of
    # the server's time to build, bench/bench_scale.py)
    max_points: int = 60_000
    min_per_identity: int = 100  # a sample keeps min(its count, this) of every model$language
    seed: int = 0  # which points a sample shows: the same on every rerun

    def __post_init__(self):
        check(self.max_points >= 100, f"max_points must be at least 100, got {self.max_points}")
        check(
            self.min_per_identity >= 1,
            f"min_per_identity must be at least 1, got {self.min_per_identity}",
        )


@dataclass(frozen=True)
class MapView:
    """What the map draws of a selection: every selected point, or a sample of them when
    there are more than `ViewSettings.max_points`, with what is counted over all of them."""

    points: object  # DataFrame as `map_points` returns it, of every selected point or a sample
    total: int  # selected QA pairs (those the filter lets through): all on the layout
    placed: int  # of those, put on the layout after its fit
    # (language, model$language) centroids of all `total` points, as figures.value_map's
    # `centroids` returns them from its points; None when `points` are all of them
    centroids: tuple | None = None

    @property
    def sampled(self) -> bool:
        return len(self.points) < self.total


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
    n, layout = prepare(db, encoder, selection, config, quality=quality, progress=progress)
    with store.connect(db) as con:
        return _layout_frame(con, layout, selection, n)


def prepare(
    db: Db,
    encoder,
    selection: Selection,
    config: ProjectionConfig | None = None,
    *,
    quality: QualityFilter | None = None,
    progress: Progress | None = None,
):
    """(how many QA pairs the selection maps, the layout) once the layout holds them all:
    fitted when there is none yet, the selected QA pairs it lacks placed on it."""
    config, quality = config or ProjectionConfig(), quality or QualityFilter()
    n = _count(db, selection, quality)
    if not n:
        raise _none_pass(db, selection, quality)
    layout = projection.ensure(db, encoder, config, quality=quality, progress=progress)
    where, params = selection.where()
    missing = projection.unplaced(db, layout, where, params)
    if missing:
        projection.place(db, encoder, layout, missing, progress=progress)
    return n, layout


def _layout_frame(con, layout, selection: Selection, n: int, sample=None):
    """The selected points of `layout` that its filter lets through; `n`, how many QA pairs
    that is, sizes the texts (the caller has counted them already). `sample`: (a frame of
    language, model, quota, bound; a seed): of each model$language only the `quota` points
    first in the order of the seed's hash of their qa_id, among those whose hash is at most
    `bound` (`_bounds`)."""
    where, params = selection.where()
    keep = layout.quality.where("qa.qa_id")
    chars = min(HOVER_CHARS, hover_chars(n) + 40)  # no more than hovers show
    texts = ", ".join(f"left({c}, {int(chars)}) AS {c}" for c in TEXT_COLUMNS)
    chosen, chosen_params = "", []
    if sample is not None:
        quotas, seed = sample
        con.register("sample_quotas", quotas)
        # a hash, not a random draw: the same points on every rerun and in every session,
        # and a group whose quota grows keeps the points it showed
        chosen = (
            "JOIN (SELECT qa_id FROM (SELECT qa.qa_id, qa.language, qa.model, s.quota, s.bound, "
            "(md5_number(? || qa.qa_id) >> 64)::UBIGINT AS h FROM qa JOIN projection_points p "
            "USING (qa_id) JOIN sample_quotas s USING (language, model) "
            f"WHERE p.proj_key = ? AND {where} AND {keep}) WHERE h <= bound QUALIFY "
            "row_number() OVER (PARTITION BY language, model ORDER BY h, qa_id) <= quota) "
            "USING (qa_id) "
        )
        chosen_params = [f"{seed}:", layout.proj_key, *params]
    return con.execute(
        f"SELECT {', '.join(MAP_COLUMNS)}, {texts}, p.x, p.y, "
        f"{projection.placed_later('p.placed')} AS placed, "
        "coalesce(array_to_string(f.flags, ', '), '') AS flags "
        f"FROM qa JOIN projection_points p USING (qa_id) {chosen}"
        f"LEFT JOIN ({qfilter.flags_sql()}) f USING (qa_id) "
        f"WHERE p.proj_key = ? AND {where} AND {keep} ORDER BY qa_id",
        [*chosen_params, layout.proj_key, *params],
    ).df()


def _groups(con, layout, selection: Selection):
    """One row per selected model$language of `layout`: language, model, n, the mean x and
    y of its points and how many of them were placed on it after its fit."""
    where, params = selection.where()
    return con.execute(
        "SELECT qa.language, qa.model, count(*) AS n, avg(p.x) AS x, avg(p.y) AS y, "
        f"count(*) FILTER (WHERE {projection.placed_later('p.placed')}) AS placed "
        "FROM qa JOIN projection_points p USING (qa_id) "
        f"WHERE p.proj_key = ? AND {where} AND {layout.quality.where('qa.qa_id')} "
        "GROUP BY qa.language, qa.model ORDER BY qa.language, qa.model",
        [layout.proj_key, *params],
    ).df()


def _centroid_frames(groups) -> tuple:
    """(language centroids, model$language centroids) from `_groups`: each language's the
    mean of all its points (its groups' means weighted by their sizes)."""
    ident = groups[["language", "model", "x", "y", "n"]].reset_index(drop=True)
    sums = ident.assign(x=ident["x"] * ident["n"], y=ident["y"] * ident["n"])
    lang = sums.groupby("language", sort=True)[["x", "y", "n"]].sum()
    lang[["x", "y"]] = lang[["x", "y"]].div(lang["n"], axis=0)
    return lang.reset_index(), ident


def _complete(con, layout, selection: Selection, quality: QualityFilter) -> int:
    """How many QA pairs the selection maps when the layout holds every one of them; else 0."""
    where, params = selection.where()
    missing, n = con.execute(
        "SELECT count(*) FILTER (WHERE qa_id NOT IN (SELECT qa_id FROM projection_points "
        f"WHERE proj_key = ?)), count(*) FROM qa WHERE {where} AND {quality.where()}",
        [layout.proj_key, *params],
    ).fetchall()[0]
    return 0 if missing else n


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
    with store.connect(db) as con:
        layout = projection.stored(con, encoder_id, config, quality)
        n = 0 if layout is None else _complete(con, layout, selection, quality)
        return _layout_frame(con, layout, selection, n) if n else None


def stored_view(
    db: Db,
    encoder_id: str,
    selection: Selection,
    config: ProjectionConfig,
    quality: QualityFilter | None = None,
    view: ViewSettings | None = None,
) -> MapView | None:
    """What the map draws of the selection, when the layout holds every selected QA pair;
    else None (then `map_view` or `prepare` must fit or place first). Up to
    `view.max_points` points it holds every one, as `stored_points` does; above, a sample of
    that many keeping every model$language, with centroids of them all. Reads only, on one
    connection."""
    quality, view = quality or QualityFilter(), view or ViewSettings()
    with store.connect(db) as con:
        layout = projection.stored(con, encoder_id, config, quality)
        n = 0 if layout is None else _complete(con, layout, selection, quality)
        if not n:
            return None
        if n <= view.max_points:
            points = _layout_frame(con, layout, selection, n)
            return MapView(points, n, int(points["placed"].sum()))
        groups = _groups(con, layout, selection)
        take = sampling.quotas(groups["n"], view.max_points, view.min_per_identity)
        quotas = groups[["language", "model"]].assign(quota=take, bound=_bounds(take, groups["n"]))
        points = _layout_frame(con, layout, selection, int(take.sum()), (quotas, view.seed))
        if len(points) < take.sum():  # a bound too tight for a group: rank all of them
            quotas["bound"] = np.iinfo(np.uint64).max
            points = _layout_frame(con, layout, selection, int(take.sum()), (quotas, view.seed))
        return MapView(points, n, int(groups["placed"].sum()), _centroid_frames(groups))


def _bounds(quotas, counts) -> np.ndarray:
    """Per group, a hash (the top 64 bits of md5) below which its `quota` first points lie
    but for a chance of about 3e-5 (four standard deviations of the binomial count, and ten
    points): ranking only the points under it sorts some 60,000 rows of a million instead of
    all of them (0.5 s in place of 1.5 s on 2 cores). A group left short is ranked again
    whole (`stored_view`)."""
    quotas, counts = np.asarray(quotas, dtype=float), np.asarray(counts, dtype=float)
    share = (quotas + 4 * np.sqrt(quotas) + 10) / np.maximum(counts, 1)
    bounds = np.full(len(share), np.iinfo(np.uint64).max, dtype=np.uint64)
    below = share < 1
    bounds[below] = (share[below] * 2.0**64).astype(np.uint64)  # under 2^64 as floats go
    return bounds


def map_view(
    db: Db,
    encoder,
    selection: Selection,
    config: ProjectionConfig | None = None,
    *,
    quality: QualityFilter | None = None,
    view: ViewSettings | None = None,
    progress: Progress | None = None,
) -> MapView:
    """`stored_view`, after fitting or placing what the layout lacks (`prepare`)."""
    config = config or ProjectionConfig()
    for _ in range(3):  # a re-layout that lands in between takes the points away: again
        prepare(db, encoder, selection, config, quality=quality, progress=progress)
        shown = stored_view(db, encoder.id, selection, config, quality, view)
        if shown is not None:
            return shown
    raise UserError("the layout kept changing while the map was read: try again")


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


def layout_note(layout, points, placed: int | None = None) -> str:
    """What the map's coordinates are, for a caption: which layout, how many placed on it
    (`placed`, else counted in `points`)."""
    if layout is None:
        return ""
    method = layout.config.method.upper()
    whose = {"shipped": "the shipped demo's ", "adopted": ""}.get(layout.source, "")
    what = "QA pairs" if layout.quality.include_flagged else "unflagged QA pairs"
    note = f"{whose}{method} layout of {layout.n_fitted:,} {what}"
    if layout.n_sample:
        note += (
            f" ({method} fitted on a sample of {layout.n_sample:,} keeping every "
            "model$language, the rest placed by their neighbours)"
        )
    if layout.source == "fit" and layout.fitted_at is not None:
        note += f", fitted {str(layout.fitted_at)[:16]}"
    if placed is None:
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


def summary(points, encoder_id: str, total: int | None = None) -> str:
    """One line on the map: how many QA pairs (`total`, when `points` are a sample of them
    that keeps every model$language), models and languages."""
    return (
        f"{total or len(points):,} QA pairs · {points['model'].nunique():,} models · "
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
