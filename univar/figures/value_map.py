"""The value map figure: data frame in, Plotly figure out (pure; tested on fig.to_dict()).

It follows the paper's headline figure: faint points, one per QA pair; a large marker at each
language's centroid and a smaller one at each model$language centroid, joined to its language
centroid by a line and labelled with the model's name.
"""

from __future__ import annotations

import math
from collections.abc import Collection

import numpy as np

from univar.analysis.mapdata import hover_chars
from univar.catalog.registry import model_label
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
_POSITIONS = (
    "middle right",
    "top right",
    "top center",
    "top left",
    "middle left",
    "bottom left",
    "bottom center",
    "bottom right",
)


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


def _label_position(dx: float, dy: float) -> str:
    """Place a model label away from its language centroid, as the paper's figure does."""
    if dx == 0 and dy == 0:
        return "top center"
    octant = round(math.atan2(dy, dx) / (math.pi / 4)) % 8
    return _POSITIONS[octant]


def value_map_figure(
    points,
    color_by: str = "language",
    highlight: Collection[str] | None = None,
    *,
    uploaded: Collection[str] | None = None,
    show_centroids: bool = True,
    height: int = 720,
    webgl_threshold: int = WEBGL_THRESHOLD,
):
    """The value map. `points`: qa_id, x, y, model, language, texts and the colour column.

    `highlight`: qa_ids of search matches, drawn large and opaque on top of dimmed others.
    `uploaded`: dataset names drawn again on top as outlined diamonds (the user's own data).
    """
    import plotly.graph_objects as go

    if color_by not in COLOR_BY:
        raise ValueError(f"color_by must be one of {', '.join(COLOR_BY)}, got {color_by!r}")
    n = len(points)
    Scatter = go.Scattergl if n > webgl_threshold else go.Scatter
    hover = hover_data(points, hover_chars(n))  # row i: qa_id first, then the hover parts
    xs, ys = points["x"].to_numpy(dtype=float), points["y"].to_numpy(dtype=float)
    colors = group_colors(points[color_by].tolist(), color_by)
    keys = [v if v in colors else MISSING for v in points[color_by].tolist()]
    members = _members(keys)
    matched = set(highlight or ())
    dim = bool(matched)
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
        traces.append(
            go.Scatter(
                x=[None],
                y=[None],
                mode="markers",
                name=f"{label} ({len(idx):,})",
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
    if show_centroids and n:
        centroid_traces, labels = _centroids(points, color_by, colors)
        traces += centroid_traces
    else:
        labels = []
    fig = go.Figure(data=traces, layout={"annotations": labels})
    _style(fig, COLOR_BY[color_by], height)
    return fig


def _centroids(points, color_by: str, colors: dict) -> tuple[list, list]:
    """Centroid markers, their lines and labels: (traces, layout annotations)."""
    import plotly.graph_objects as go

    lang, ident = centroids(points)
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
    positions = [
        _label_position(r.x - lang_xy[r.language][0], r.y - lang_xy[r.language][1])
        for r in ident.itertuples()
    ]
    ident_colors = [ident_color(r) for r in ident.itertuples()]
    traces.append(
        go.Scatter(
            x=ident["x"],
            y=ident["y"],
            mode="markers+text",
            name="model$language centroid",
            text=[html_text(model_label(m)) for m in ident["model"]],
            textposition=positions,
            textfont={"size": 12, "color": ident_colors},
            marker={"size": 9, "color": ident_colors, "line": {"width": 1.5, "color": "white"}},
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
                "size": 20,
                "color": lang_colors,
                "line": {"width": 3, "color": "white"},
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
    for code, x, y, color in zip(lang["language"], lang["x"], lang["y"], lang_colors, strict=True):
        labels.append(
            {
                "x": x,
                "y": y,
                "text": f"<b>{html_text(group_label(code, 'language').split(' (')[0])}</b>",
                "showarrow": False,
                "yshift": -26,
                "font": {"size": 17, "color": color, "family": "Georgia, serif"},
                "bgcolor": rgba(color, 0.14),
                "borderpad": 3,
            }
        )
    return traces, labels


def _style(fig, legend_title: str, height: int) -> None:
    axis = {"visible": False, "showgrid": False, "zeroline": False}
    fig.update_layout(
        template="plotly_white",
        plot_bgcolor="white",
        paper_bgcolor="white",
        height=height,
        margin={"l": 10, "r": 10, "t": 10, "b": 10},
        xaxis=axis,
        yaxis=axis,
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
