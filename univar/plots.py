"""The value map figure: data frame in, Plotly figure out (pure; tested on fig.to_dict()).

It follows the paper's headline figure: faint points, one per QA pair; a large marker at each
language's centroid and a smaller one at each model$language centroid, joined to its language
centroid by a line and labelled with the model's name.
"""

from __future__ import annotations

import functools
import html
import math
import re
from collections.abc import Collection, Sequence

import numpy as np

from univar.registry import BY_CODE, model_label

COLOR_BY = {
    "language": "Language",
    "model": "Model",
    "value": "Value",
    "framework": "Framework",
    "dataset": "Dataset",
}
WEBGL_THRESHOLD = 5000  # above this many QA points the points render with WebGL
HOVER_BUDGET = 8_000_000  # characters of hover text in one figure, all points together
NEUTRAL = "#4a4a55"
MISSING = "(none)"

# Stable colours per language, loosely after the paper's figure; readable on white.
LANGUAGE_COLORS = {
    "eng": "#8e44d8", "zho": "#2f4fd8", "kor": "#3a9d4a", "jpn": "#e0507a", "deu": "#2e8b6e",
    "fin": "#00a0b0", "swe": "#c9a400", "fra": "#e8692a", "ita": "#c0392b", "por": "#16a085",
    "spa": "#a8324f", "tha": "#d35400", "vie": "#9c7a00", "zsm": "#1f3f8f", "tgl": "#e84393",
    "hat": "#0984e3", "quy": "#6d4c41", "rus": "#b0185b", "ron": "#f39c12", "bul": "#00796b",
    "ind": "#8da52b", "arb": "#6b6f8a", "hin": "#4a6a9a", "swh": "#558b2f", "pes": "#6a3fa0",
}  # fmt: skip
PALETTE = (
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf",
    "#bcbd22", "#7f7f7f", "#393b79", "#ad494a", "#637939", "#8c6d31", "#843c39", "#7b4173",
    "#3182bd", "#e6550d", "#31a354", "#756bb1", "#636363", "#6baed6", "#fd8d3c", "#74c476",
)  # fmt: skip
_POSITIONS = (
    "middle right", "top right", "top center", "top left",
    "middle left", "bottom left", "bottom center", "bottom right",
)  # fmt: skip


def group_label(value, color_by: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)) or value == "":
        return MISSING
    if color_by == "language":
        return BY_CODE[value].name if value in BY_CODE else str(value)
    if color_by == "model":
        return model_label(str(value))
    return str(value)


def group_colors(values: Sequence, color_by: str) -> dict:
    """A colour per distinct value: fixed per language, otherwise by sorted order."""
    distinct = sorted({v for v in values if group_label(v, color_by) != MISSING}, key=str)
    colors = {}
    for i, value in enumerate(distinct):
        if color_by == "language" and value in LANGUAGE_COLORS:
            colors[value] = LANGUAGE_COLORS[value]
        else:
            colors[value] = PALETTE[i % len(PALETTE)]
    return colors


def _rgba(hex_color: str, alpha: float) -> str:
    r, g, b = (int(hex_color[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgba({r},{g},{b},{alpha})"


def hover_chars(n_points: int) -> int:
    """Characters per text field in hovers: generous for small maps, short for huge ones."""
    return int(max(40, min(280, HOVER_BUDGET / max(n_points, 1) / 2)))


@functools.lru_cache(maxsize=8)
def _wrapper(width: int) -> re.Pattern:
    # up to `width` characters ending before a space, or one word longer than that
    return re.compile(rf"\S.{{0,{width - 1}}}(?=\s|$)|\S+")


def _cut(text, limit: int, wrap: int) -> str:
    """One hover field: whitespace collapsed, cut at `limit`, wrapped, HTML-escaped."""
    if not isinstance(text, str):
        return ""
    text = " ".join(text[: limit + 40].split())
    if len(text) > limit:
        text = text[: limit - 1].rstrip() + "…"
    if len(text) > wrap:  # one regex pass: hovers of 100,000 points are built in seconds
        text = "\n".join(_wrapper(wrap).findall(text))
    return html.escape(text, quote=False).replace("\n", "<br>")


HOVER_TEMPLATE = (
    "<b>%{customdata[1]}</b><br><b>Q</b> %{customdata[2]}<br><b>A</b> %{customdata[3]}"
    "%{customdata[4]}<extra></extra>"
)


def hover_data(points, limit: int, wrap: int = 80) -> np.ndarray:
    """Per QA: [qa_id, who answered, English question, English answer, original text].

    The markup lives in HOVER_TEMPLATE, once per trace, not once per point: a 100,000-point
    map stays a few MB smaller. Huge maps (short `limit`) leave the original text out.
    """
    originals = limit >= 120
    labels = {m: html.escape(model_label(str(m))) for m in points["model"].unique()}
    names = {c: group_label(c, "language") for c in points["language"].unique()}
    values = points["value"].tolist() if "value" in points else [None] * len(points)
    rows = []
    for qa_id, model, lang, value, q, a, q_en, a_en in zip(
        points["qa_id"].tolist(),
        points["model"].tolist(),
        points["language"].tolist(),
        values,
        points["question"].tolist(),
        points["answer"].tolist(),
        points["question_en"].tolist(),
        points["answer_en"].tolist(),
        strict=True,
    ):
        head = f"{labels[model]} · {names[lang]}"
        if isinstance(value, str) and value:
            head += f" · {html.escape(value)}"
        q_en = q_en if isinstance(q_en, str) else q
        a_en = a_en if isinstance(a_en, str) else a
        original = ""
        if originals and lang != "eng" and (q, a) != (q_en, a_en):
            original = (
                f"<br><span style='color:#666'><b>Original</b><br>{_cut(q, limit // 2, wrap)}"
                f"<br>{_cut(a, limit // 2, wrap)}</span>"
            )
        rows.append((qa_id, head, _cut(q_en, limit, wrap), _cut(a_en, limit, wrap), original))
    out = np.empty((len(rows), 5), dtype=object)
    if rows:
        out[:] = rows
    return out


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
    size = 5 if n < 2000 else 4 if n < 20000 else 3
    opacity = (0.12 if dim else 0.45) if n < 5000 else (0.08 if dim else 0.3)

    traces = []  # added in one go: each add_trace would copy every earlier trace
    order = sorted(colors, key=lambda v: group_label(v, color_by).lower()) + (
        [MISSING] if MISSING in keys else []
    )
    for key in order:
        idx = members[key]
        label, color = group_label(key, color_by), colors.get(key, "#b0b0b0")
        traces.append(
            Scatter(
                x=xs[idx],
                y=ys[idx],
                mode="markers",
                name=label,
                legendgroup=str(key),
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
                legendgroup=str(key),
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
                name=f"lines {code}",
                meta="centroid-lines",
            )
        )
    positions = [_label_position(r.x - lang_xy[r.language][0], r.y - lang_xy[r.language][1]) for r in ident.itertuples()]  # fmt: skip
    ident_colors = [ident_color(r) for r in ident.itertuples()]
    traces.append(
        go.Scatter(
            x=ident["x"],
            y=ident["y"],
            mode="markers+text",
            name="model$language centroid",
            text=[model_label(m) for m in ident["model"]],
            textposition=positions,
            textfont={"size": 12, "color": ident_colors},
            marker={"size": 9, "color": ident_colors, "line": {"width": 1.5, "color": "white"}},
            hovertext=[
                f"<b>{html.escape(model_label(r.model))}</b> · {group_label(r.language, 'language')}"
                f"<br>{r.n:,} QA pairs"
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
                f"<b>{group_label(c, 'language')}</b><br>{n:,} QA pairs"
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
                "text": f"<b>{html.escape(group_label(code, 'language').split(' (')[0])}</b>",
                "showarrow": False,
                "yshift": -26,
                "font": {"size": 17, "color": color, "family": "Georgia, serif"},
                "bgcolor": _rgba(color, 0.14),
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
