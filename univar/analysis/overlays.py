"""Overlays on the value map, each one DuckDB query over the store.

- the value dimension of each QA's question in a chosen framework (any framework: the value of
  the instrument item it was asked from, else the QA's own tag when it is in that framework);
- one instrument's QAs, to highlight them over the base map;
- the share of a `model$language`'s QAs per value;
- its survey profile (the 19 centred value scores of survey mode), in circle order.

Functions that feed the map take an optional projection key and then return x, y as well, so
the page never joins frames itself.
"""

from __future__ import annotations

from univar import ids, store
from univar.catalog import instruments
from univar.paths import Db

# The value of each QA in framework $fw: its question's, where the question is an instrument
# item (an item with several values, as in ValuePrism, lends the first it supports), else the
# QA's own tag.
_VALUE_OF_QA = """
WITH item_value AS (
    SELECT question_id,
           coalesce(min(value_code) FILTER (WHERE keyed > 0), min(value_code)) AS value
    FROM instrument_items
    WHERE lower(framework) = lower($fw) AND question_id IS NOT NULL
    GROUP BY question_id),
tagged AS (
    SELECT q.qa_id, q.dataset, q.model, q.language, q.identity,
           coalesce(iv.value, CASE WHEN lower(q.framework) = lower($fw) THEN q.value END) AS value
    FROM qa q LEFT JOIN item_value iv USING (question_id)
    WHERE ($datasets IS NULL OR q.dataset IN (SELECT unnest($datasets))))
"""


def frameworks(db: Db = None) -> list[str]:
    """Frameworks that tag at least one QA (directly or through an instrument item), most
    QAs first. Spellings differing in case are one framework, named as value_defs names it."""
    df = store.query_df(
        """
        WITH tags AS (
            SELECT qa_id, framework FROM qa WHERE framework IS NOT NULL
            UNION ALL
            SELECT qa_id, i.framework FROM qa JOIN instrument_items i USING (question_id))
        SELECT coalesce(any_value(d.framework), min(t.framework)) AS framework,
               count(DISTINCT t.qa_id) AS n
        FROM tags t LEFT JOIN (SELECT DISTINCT framework FROM value_defs) d
             ON lower(d.framework) = lower(t.framework)
        GROUP BY lower(t.framework) ORDER BY n DESC, framework
        """,
        path=db,
    )
    return list(df["framework"])


def qa_values(
    db: Db = None, framework: str = instruments.SCHWARTZ, *, datasets=None, proj_key=None
):
    """qa_id, identity, value, value_name, angle (and x, y of `proj_key`); value is NULL for a
    QA whose question has no value in `framework`."""
    points = "JOIN projection_points p ON p.qa_id = t.qa_id AND p.proj_key = $proj"
    sql = f"""{_VALUE_OF_QA}
        SELECT t.qa_id, t.identity, t.value, d.name AS value_name, d.angle
               {", p.x, p.y" if proj_key else ""}
        FROM tagged t
        LEFT JOIN value_defs d ON lower(d.framework) = lower($fw) AND d.code = t.value
        {points if proj_key else ""}
        ORDER BY t.qa_id"""
    params = {"fw": framework, "datasets": _list(datasets)}
    if proj_key:
        params["proj"] = proj_key
    return store.query_df(sql, params, path=db)


def instrument_qas(db: Db = None, instrument: str = instruments.PORTRAITS, *, proj_key=None):
    """The QAs asked from one instrument's items: qa_id, identity, item_id, value_code (and
    x, y of `proj_key`)."""
    points = "JOIN projection_points p ON p.qa_id = q.qa_id AND p.proj_key = $proj"
    sql = f"""
        SELECT q.qa_id, q.identity, i.item_id, min(i.value_code) AS value_code
               {", any_value(p.x) AS x, any_value(p.y) AS y" if proj_key else ""}
        FROM qa q JOIN instrument_items i USING (question_id)
        {points if proj_key else ""}
        WHERE i.instrument = $instrument
        GROUP BY q.qa_id, q.identity, i.item_id
        ORDER BY q.qa_id"""
    params = {"instrument": instrument} | ({"proj": proj_key} if proj_key else {})
    return store.query_df(sql, params, path=db)


def with_values(db: Db, points, framework: str = instruments.SCHWARTZ):
    """The map's `points` (a frame with qa_id), in their order, with `value` and `framework`
    set to the value of each QA's question in `framework` (NULL where it has none)."""
    base = points.drop(columns=["value", "framework"], errors="ignore")
    base = base.assign(_row=range(len(base)))
    with store.connect(db) as con:
        con.register("map_points", base)
        return con.execute(
            f"""{_VALUE_OF_QA}
            SELECT m.* EXCLUDE (_row), t.value, $fw AS framework
            FROM map_points m LEFT JOIN tagged t USING (qa_id) ORDER BY m._row""",
            {"fw": framework, "datasets": None},
        ).df()


def instrument_points(db: Db, points, instrument: str):
    """The rows of the map's `points` whose QA was asked from an item of `instrument`."""
    with store.connect(db) as con:
        con.register("map_points", points.assign(_row=range(len(points))))
        return con.execute(
            "SELECT * EXCLUDE (_row) FROM map_points WHERE qa_id IN (SELECT q.qa_id FROM qa q"
            " JOIN instrument_items i USING (question_id) WHERE i.instrument = ?) ORDER BY _row",
            [instrument],
        ).df()


def value_share(
    db: Db = None, identity: str | None = None, framework=instruments.SCHWARTZ, *, datasets=None
):
    """Per value of `framework`: how many of the identity's tagged QAs have it, and their
    share. Values on the Schwartz circle are listed even at zero; in circle order."""
    sql = f"""{_VALUE_OF_QA},
        counts AS (
            SELECT value, count(*) AS n FROM tagged
            WHERE value IS NOT NULL AND ($identity IS NULL OR identity = $identity)
            GROUP BY value),
        defs AS (SELECT code, name, angle FROM value_defs WHERE lower(framework) = lower($fw))
        SELECT coalesce(c.value, d.code) AS value, coalesce(d.name, c.value) AS value_name,
               d.angle, coalesce(c.n, 0) AS n,
               coalesce(c.n, 0) / nullif(sum(c.n) OVER (), 0) AS share
        FROM counts c FULL JOIN defs d ON d.code = c.value
        WHERE c.n > 0 OR d.angle IS NOT NULL
        ORDER BY d.angle NULLS LAST, n DESC, value"""
    params = {"fw": framework, "datasets": _list(datasets), "identity": identity}
    return store.query_df(sql, params, path=db)


def instruments_with_qas(db: Db = None) -> list[str]:
    """Instruments whose items were asked: the ones a map can highlight."""
    df = store.query_df(
        "SELECT DISTINCT i.instrument FROM instrument_items i JOIN qa USING (question_id)"
        " ORDER BY 1",
        path=db,
    )
    return list(df["instrument"])


def survey_instruments(db: Db = None) -> list[str]:
    """Instruments with stored survey scores."""
    df = store.query_df("SELECT DISTINCT instrument FROM survey_scores ORDER BY 1", path=db)
    return list(df["instrument"])


def survey_identities(db: Db = None, instrument: str | None = None) -> list[str]:
    """model$language of every stored survey, optionally of one instrument."""
    df = store.query_df(
        f"SELECT DISTINCT {ids.identity_sql()} AS identity FROM survey_scores"
        " WHERE ? IS NULL OR instrument = ? ORDER BY identity",
        [instrument, instrument],
        path=db,
    )
    return list(df["identity"])


def _list(values) -> list[str] | None:
    if values is None:
        return None
    return [values] if isinstance(values, str) else list(values)
