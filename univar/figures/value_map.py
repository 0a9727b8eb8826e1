"""The value map figure: data frame in, Plotly figure out (pure; tested on fig.to_dict()).

It follows the paper's headline figure: faint points, one per QA pair; a large marker at each
language's centroid and a smaller one at each model$language centroid, joined to its language
centroid by a line and labelled with the model's name. Labels are annotations placed by
`figures.labels` clear of one another and of every centroid marker, for the fixed axis ranges
and the range of plot sizes set here, so the app and a PNG export draw them alike.

A map of a sample (`analysis.mapdata.MapView`) draws the sample's points but the centroids,
labels and legend counts of every point it stands for, and says so above the plot.
"""

from __future__ import annotations

from collections.abc import Collection

import numpy as np

from univar.analysis.mapdata import hover_chars
from univar.catalog.registry import model_label
from univar.figures import labels as placer
from univar.figures.mapstyle import (
    COLOR_BY,
    HOVER_TEMPLATE,
    MISSING,
    NEUTRAL,
    group_colors,
    group_label,
    hover_data,
    html_text,
    rgba,
)

WEBGL_THRESHOLD = 5000  # above this many QA points the points render with WebGL
MARGIN = 10  # px around the plot area, each side
# Plot-area widths (px) at which no label overlaps another or a marker: from a laptop's page
# with the sidebar open to a wide monitor (the app's width follows the page; the legend takes
# its share). The 1200 px PNG export (output.export.DEFAULT_SIZE) falls inside.
PLOT_WIDTHS = (560.0, 1800.0)
EXPORT_HEIGHT = 800  # output.export.DEFAULT_SIZE: a PNG is drawn this tall unless asked
PAD = 0.04  # of each axis's span, kept free around the points
LANGUAGE_MARKER = {"size": 20, "line": 3}
IDENTITY_MARKER = {"size": 9, "line": 1.5}
LANGUAGE_FONT, MODEL_FONT = 17, 12
LANGUAGE_PAD, MODEL_PAD = 3, 1  # px around a label's text: its annotation's borderpad
HALO = "-1px -1px 1px #fff, 1px -1px 1px #fff, -1px 1px 1px #fff, 1px 1px 1px #fff"
FLAGGED_NOTE = "<br><b style='color:#a33'>Flagged</b> {}"  # the flags, escaped, go in the {}
SAMPLE_NOTE = (
    "showing {shown:,} of {total:,} QA pairs (a sample keeping every model$language); "
    "select fewer to see all"
)
NOTE_SPACE = 22  # px above the plot area for SAMPLE_NOTE (the labels are placed for the rest)


def _flag_text(value) -> str:
    """A point's flags as one line: a 'not_english, echo' string or a list of flags."""
    if isinstance(value, str):
        return value
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return ""
    return ", ".join(str(v) for v in value)


def _with_flags(hover: np.ndarray, points) -> np.ndarray:
    """The quality flags of each flagged point under its header line in the hover (only a map
    that includes flagged QA pairs has any)."""
    if "flags" not in points or not len(hover):
        return hover
    flags = [_flag_text(v) for v in points["flags"].tolist()]
    rows = [i for i, text in enumerate(flags) if text]
    if rows:
        notes = np.empty(len(rows), dtype=object)
        notes[:] = [FLAGGED_NOTE.format(html_text(flags[i])) for i in rows]
        hover[rows, 1] = hover[rows, 1] + notes
    return hover


def _members(keys: list) -> dict:
    """Row positions of each colour group, in one pass."""
    out: dict = {}
    for i, key in enumerate(keys):
        out.setdefault(key, []).append(i)
    return {key: np.asarray(rows) for key, rows in out.items()}


def centroids(points):
    """(language centroids, model$language centroids), each with x, y and n."""
    lang = points.groupby("language", sort=True).agg(
        x=("x", "mean"), y=("y", "mean"), n=("qa_id", "size")
    )
    ident = points.groupby(["language", "model"], sort=True).agg(
        x=("x", "mean"), y=("y", "mean"), n=("qa_id", "size")
    )
    return lang.reset_index(), ident.reset_index()


def canvas(xs, ys, height: int, top: int = MARGIN) -> placer.Canvas:
    """The axis ranges the figure fixes (the points with PAD around them) and the pixel sizes
    its plot area may be drawn at (`top`: its margin above): what the label placer needs to
    turn pixels into data."""
    ranges = []
    for values in (xs, ys):
        lo, hi = (float(np.min(values)), float(np.max(values))) if len(values) else (0.0, 1.0)
        pad = (hi - lo) * PAD if hi > lo else 1.0  # one point: a unit either side
        ranges.append((lo - pad, hi + pad))
    plot_height = float(height - MARGIN - top)
    heights = (plot_height, float(max(height, EXPORT_HEIGHT) - MARGIN - top))
    return placer.Canvas(ranges[0], ranges[1], PLOT_WIDTHS, heights)


def _radius(marker: dict) -> float:
    """A marker's outer radius in px: its size is a diameter, its outline straddles the edge."""
    return marker["size"] / 2 + marker["line"] / 2


def value_map_figure(
    points,
    color_by: str = "language",
    highlight: Collection[str] | None = None,
    *,
    uploaded: Collection[str] | None = None,
    show_centroids: bool = True,
    height: int = 720,
    webgl_threshold: int = WEBGL_THRESHOLD,
    extent: tuple[tuple[float, float], tuple[float, float]] | None = None,
    total: int | None = None,
    centroids: tuple | None = None,
):
    """The value map. `points`: qa_id, x, y, model, language, texts and the colour column;
    optionally `flags` (a point's quality flags, shown in its hover).

    `highlight`: qa_ids of search matches, drawn large and opaque on top of dimmed others.
    `uploaded`: dataset names drawn again on top as outlined diamonds (the user's own data).
    `extent`: ((x min, x max), (y min, y max)) to frame instead of the points' own, such as
    the whole layout's: then the points of every selection keep their place on screen.
    `total`: how many QA pairs `points` are a sample of, and `centroids` the (language,
    model$language) centroids of them all (`analysis.mapdata.MapView`): the note above the
    plot says so, centroids and labels are theirs, and the legend counts all of them where
    the centroids tell (colour by language or model), else none.
    """
    import plotly.graph_objects as go

    if color_by not in COLOR_BY:
        raise ValueError(f"color_by must be one of {', '.join(COLOR_BY)}, got {color_by!r}")
    n = len(points)
    Scatter = go.Scattergl if n > webgl_threshold else go.Scatter
    hover = hover_data(points, hover_chars(n))  # row i: qa_id first, then the hover parts
    hover = _with_flags(hover, points)
    xs, ys = points["x"].to_numpy(dtype=float), points["y"].to_numpy(dtype=float)
    colors = group_colors(points[color_by].tolist(), color_by)
    keys = [v if v in colors else MISSING for v in points[color_by].tolist()]
    members = _members(keys)
    matched = set(highlight or ())
    dim = bool(matched)
    sampled = total is not None and total > n
    counts = (
        centroids[1].groupby(color_by)["n"].sum().to_dict()
        if sampled and centroids is not None and color_by in ("language", "model")
        else None
    )
    size = 7 if n < 500 else 5 if n < 2000 else 4 if n < 20000 else 3
    opacity = (0.12 if dim else 0.45) if n < 5000 else (0.08 if dim else 0.3)

    traces = []  # added in one go: each add_trace would copy every earlier trace
    order = sorted(colors, key=lambda v: group_label(v, color_by).lower()) + (
        [MISSING] if MISSING in keys else []
    )
    for key in order:
        idx = members[key]
        label, color = html_text(group_label(key, color_by)), colors.get(key, "#b0b0b0")
        traces.append(
            Scatter(
                x=xs[idx],
                y=ys[idx],
                mode="markers",
                name=label,
                legendgroup=html_text(key),
                showlegend=False,
                marker={"size": size, "color": color, "line": {"width": 0}},
                opacity=opacity,
                customdata=hover[idx],
                hovertemplate=HOVER_TEMPLATE,
                meta="qa",
            )
        )
        # The legend entry: a solid swatch (the faint points would give a faint one);
        # clicking it shows or hides the whole group.
        count = len(idx) if not sampled else counts.get(key) if counts else None
        traces.append(
            go.Scatter(
                x=[None],
                y=[None],
                mode="markers",
                name=f"{label} ({count:,})" if count is not None else label,
                legendgroup=html_text(key),
                marker={"size": 10, "color": color},
                meta="legend",
            )
        )
    if matched:
        idx = np.flatnonzero(points["qa_id"].isin(matched).to_numpy())
        traces.append(
            Scatter(
                x=xs[idx],
                y=ys[idx],
                mode="markers",
                name=f"Search matches ({len(idx):,})",
                marker={
                    "size": size + 5,
                    "color": [colors.get(keys[i], "#b0b0b0") for i in idx],
                    "line": {"width": 1, "color": "#222"},
                },
                opacity=1.0,
                customdata=hover[idx],
                hovertemplate=HOVER_TEMPLATE,
                meta="highlight",
            )
        )
    mine = np.flatnonzero(points["dataset"].isin(list(uploaded)).to_numpy()) if uploaded else []
    if len(mine):
        traces.append(
            Scatter(
                x=xs[mine],
                y=ys[mine],
                mode="markers",
                name=f"Uploaded data ({len(mine):,})",
                marker={
                    "symbol": "diamond-open",
                    "size": size + 4,
                    "color": [colors.get(keys[i], "#b0b0b0") for i in mine],
                    "line": {"width": 1.5},
                },
                opacity=0.9,
                customdata=hover[mine],
                hovertemplate=HOVER_TEMPLATE,
                meta="uploaded",
            )
        )
    note = SAMPLE_NOTE.format(shown=n, total=total) if sampled else None
    top = MARGIN + NOTE_SPACE if note else MARGIN
    area = canvas(*(extent if extent else (xs, ys)), height, top)
    if show_centroids and n:
        given = centroids if sampled else None
        centroid_traces, labels = _centroids(points, color_by, colors, area, given)
        traces += centroid_traces
    else:
        labels = []
    fig = go.Figure(data=traces, layout={"annotations": labels})
    _style(fig, COLOR_BY[color_by], height, area if n else None, note)
    return fig


def _centroids(
    points, color_by: str, colors: dict, area: placer.Canvas, given: tuple | None = None
) -> tuple[list, list]:
    """Centroid markers, their lines and labels: (traces, layout annotations); of `given`
    (language, model$language) centroids, else of the points'."""
    import plotly.graph_objects as go

    lang, ident = given if given is not None else centroids(points)
    traces, labels = [], []
    lang_xy = {r.language: (r.x, r.y) for r in lang.itertuples()}

    def lang_color(code):
        return colors.get(code, NEUTRAL) if color_by == "language" else NEUTRAL

    def ident_color(r):
        if color_by == "language":
            return colors.get(r.language, NEUTRAL)
        if color_by == "model":
            return colors.get(r.model, NEUTRAL)
        return NEUTRAL

    for code, group in ident.groupby("language", sort=True):  # one line trace per colour
        cx, cy = lang_xy[code]
        xs, ys = [], []
        for r in group.itertuples():
            xs += [cx, r.x, None]
            ys += [cy, r.y, None]
        traces.append(
            go.Scatter(
                x=xs,
                y=ys,
                mode="lines",
                line={"width": 1.3, "color": lang_color(code)},
                opacity=0.8,
                hoverinfo="skip",
                showlegend=False,
                name=f"lines {html_text(code)}",
                meta="centroid-lines",
            )
        )
    ident_colors = [ident_color(r) for r in ident.itertuples()]
    traces.append(
        go.Scatter(
            x=ident["x"],
            y=ident["y"],
            mode="markers",  # the labels are annotations, placed apart from one another
            name="model$language centroid",
            text=[html_text(model_label(m)) for m in ident["model"]],
            marker={
                "size": IDENTITY_MARKER["size"],
                "color": ident_colors,
                "line": {"width": IDENTITY_MARKER["line"], "color": "white"},
            },
            hovertext=[
                f"<b>{html_text(model_label(r.model))}</b> · "
                f"{html_text(group_label(r.language, 'language'))}<br>{r.n:,} QA pairs"
                for r in ident.itertuples()
            ],
            hovertemplate="%{hovertext}<extra></extra>",
            showlegend=False,
            meta="identity-centroids",
        )
    )
    lang_colors = [lang_color(c) for c in lang["language"]]
    traces.append(
        go.Scatter(
            x=lang["x"],
            y=lang["y"],
            mode="markers",
            name="language centroid",
            marker={
                "size": LANGUAGE_MARKER["size"],
                "color": lang_colors,
                "line": {"width": LANGUAGE_MARKER["line"], "color": "white"},
                "opacity": 0.95,
            },
            hovertext=[
                f"<b>{html_text(group_label(c, 'language'))}</b><br>{n:,} QA pairs"
                for c, n in zip(lang["language"], lang["n"], strict=True)
            ],
            hovertemplate="%{hovertext}<extra></extra>",
            showlegend=False,
            meta="language-centroids",
        )
    )
    lang_names = [group_label(c, "language").split(" (")[0] for c in lang["language"]]
    model_names = [model_label(m) for m in ident["model"]]
    places = _place_labels(lang, ident, lang_names, model_names, lang_xy, area)
    for name, r, color, spot in zip(
        lang_names, lang.itertuples(), lang_colors, places[: len(lang)], strict=True
    ):
        if spot is None:  # no room left: the marker's hover names it
            continue
        labels.append(
            _annotation(
                r.x,
                r.y,
                spot,
                _radius(LANGUAGE_MARKER),
                text=f"<b>{html_text(name)}</b>",
                name="language-label",
                font={"size": LANGUAGE_FONT, "color": color, "family": "Georgia, serif"},
                bgcolor=rgba(color, 0.14),
                borderpad=LANGUAGE_PAD,
            )
        )
    for name, r, color, spot in zip(
        model_names, ident.itertuples(), ident_colors, places[len(lang) :], strict=True
    ):
        if spot is None:
            continue
        labels.append(
            _annotation(
                r.x,
                r.y,
                spot,
                _radius(IDENTITY_MARKER),
                text=html_text(name),
                name="model-label",
                # a white halo: the text stays legible over points of its own colour
                font={"size": MODEL_FONT, "color": color, "shadow": HALO},
                borderpad=MODEL_PAD,
            )
        )
    return traces, labels


def _place_labels(lang, ident, lang_names, model_names, lang_xy, area) -> list:
    """Language labels first (below their marker where free), then model labels (away from
    their language centroid where free), clear of every label and centroid marker."""
    sx, sy = area.x_scales[0], area.y_scales[0]  # the preferred direction as drawn, in pixels
    wanted = [
        placer.Label(
            r.x,
            r.y,
            *placer.text_size(name, LANGUAGE_FONT, serif_bold=True, pad=LANGUAGE_PAD),
            clearance=_radius(LANGUAGE_MARKER),
        )
        for name, r in zip(lang_names, lang.itertuples(), strict=True)
    ]
    for name, r in zip(model_names, ident.itertuples(), strict=True):
        cx, cy = lang_xy[r.language]
        wanted.append(
            placer.Label(
                r.x,
                r.y,
                *placer.text_size(name, MODEL_FONT, pad=MODEL_PAD),
                clearance=_radius(IDENTITY_MARKER),
                toward=((r.x - cx) * sx, (r.y - cy) * sy) if (r.x, r.y) != (cx, cy) else (0.0, 1.0),
            )
        )
    markers = np.concatenate(
        [
            placer.marker_boxes(lang["x"], lang["y"], _radius(LANGUAGE_MARKER)),
            placer.marker_boxes(ident["x"], ident["y"], _radius(IDENTITY_MARKER)),
        ]
    )
    lines = [(*lang_xy[r.language], r.x, r.y) for r in ident.itertuples()]
    return placer.place(wanted, markers, area, lines=lines)


def _annotation(x, y, spot, radius: float, **style) -> dict:
    """A label centred `spot` pixels from its anchor (x, y); with a leader line to the anchor's
    marker edge when placed further out."""
    at = {"x": x, "y": y, "xanchor": "center", "yanchor": "middle", **style}
    if spot.leader:  # Plotly's ay points down
        color = style["font"]["color"]
        return {
            **at,
            "showarrow": True,
            "ax": spot.dx,
            "ay": -spot.dy,
            "arrowhead": 0,
            "arrowwidth": 1,
            "arrowcolor": color,
            "standoff": radius,
        }
    return {**at, "showarrow": False, "xshift": spot.dx, "yshift": spot.dy}


def _style(
    fig, legend_title: str, height: int, area: placer.Canvas | None, note: str | None = None
) -> None:
    axis = {"visible": False, "showgrid": False, "zeroline": False}
    # Fixed ranges, not autorange: the labels were placed for exactly these.
    xrange, yrange = (
        ({"range": list(area.x_range)}, {"range": list(area.y_range)}) if area else ({}, {})
    )
    fig.update_layout(
        template="plotly_white",
        plot_bgcolor="white",
        paper_bgcolor="white",
        height=height,
        margin={side: MARGIN for side in "lrb"} | {"t": MARGIN + NOTE_SPACE if note else MARGIN},
        xaxis={**axis, **xrange},
        yaxis={**axis, **yrange},
        dragmode="lasso",
        hovermode="closest",
        hoverlabel={"bgcolor": "white", "font": {"size": 12}, "align": "left"},
        legend={
            "title": {"text": legend_title},
            "itemsizing": "constant",
            "bgcolor": "rgba(255,255,255,0.8)",
            "yanchor": "top",
            "y": 1,
            "x": 1.0,
            "xanchor": "left",
        },
        uirevision="value-map",  # keeps zoom and pan across reruns
    )
    if note:  # just above the plot area, in the margin kept for it
        fig.update_layout(
            title={
                "text": html_text(note),
                "font": {"size": 12, "color": "#555"},
                "x": 0,
                "xref": "paper",
                "xanchor": "left",
                "y": 1,
                "yref": "paper",
                "yanchor": "bottom",
                "pad": {"b": 4},
            }
        )


def warm() -> None:
    """Build and serialise one four-point map: a new process's first real map then finds
    Plotly's validators, pandas' group-by paths and the JSON encoder already loaded (about
    half a second of a first view on 2 cores)."""
    import pandas as pd
    import plotly.io as pio

    points = pd.DataFrame(
        {
            "qa_id": ["a", "b", "c", "d"],
            "x": [0.0, 1.0, 0.0, 1.0],
            "y": [0.0, 0.0, 1.0, 1.0],
            "model": ["m1", "m1", "m2", "m2"],
            "language": ["eng", "fra", "eng", "fra"],
            "question": ["q"] * 4,
            "answer": ["a"] * 4,
            "question_en": ["q"] * 4,
            "answer_en": ["a"] * 4,
        }
    )
    pio.to_json(value_map_figure(points), validate=False)
