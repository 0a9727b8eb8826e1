"""How the value map's points look and read: colours per group, labels and hover texts.

Pure helpers for `univar.figures.value_map`; hover texts are sized so a 100,000-point map stays small.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Sequence

import numpy as np

from univar.catalog.registry import BY_CODE, model_label

COLOR_BY = {
    "language": "Language",
    "model": "Model",
    "value": "Value",
    "framework": "Framework",
    "dataset": "Dataset",
}
NEUTRAL = "#4a4a55"
MISSING = "(none)"

# Stable colours per language, loosely after the paper's figure; readable on white.
LANGUAGE_COLORS = {
    "eng": "#8e44d8",
    "zho": "#2f4fd8",
    "kor": "#3a9d4a",
    "jpn": "#e0507a",
    "deu": "#2e8b6e",
    "fin": "#00a0b0",
    "swe": "#c9a400",
    "fra": "#e8692a",
    "ita": "#c0392b",
    "por": "#16a085",
    "spa": "#a8324f",
    "tha": "#d35400",
    "vie": "#9c7a00",
    "zsm": "#1f3f8f",
    "tgl": "#e84393",
    "hat": "#0984e3",
    "quy": "#6d4c41",
    "rus": "#b0185b",
    "ron": "#f39c12",
    "bul": "#00796b",
    "ind": "#8da52b",
    "arb": "#6b6f8a",
    "hin": "#4a6a9a",
    "swh": "#558b2f",
    "pes": "#6a3fa0",
}
PALETTE = (
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#17becf",
    "#bcbd22",
    "#7f7f7f",
    "#393b79",
    "#ad494a",
    "#637939",
    "#8c6d31",
    "#843c39",
    "#7b4173",
    "#3182bd",
    "#e6550d",
    "#31a354",
    "#756bb1",
    "#636363",
    "#6baed6",
    "#fd8d3c",
    "#74c476",
)


# Plotly decodes these three named entities (and numeric ones) but not &quot;: html.escape's
# quotes would show as "&quot;" in a legend.
_PLOTLY_TEXT = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;"})


def html_text(value) -> str:
    """Text from data (a model, value, framework or dataset name, a CSV cell, an answer) as
    literal text in a Plotly legend, label, title, tick or hover.

    Plotly reads tags in all of these: <a href> becomes a live link, <span style> a style
    whose url() the browser (or kaleido's Chromium, exporting) fetches, <br> a line break.
    With &, < and > encoded no tag is left, and Plotly decodes the entities back, so the
    text shows as it is ("R&D" as "R&D"). `$` needs nothing: no renderer here loads MathJax.
    """
    return str(value).translate(_PLOTLY_TEXT)


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


def rgba(hex_color: str, alpha: float) -> str:
    r, g, b = (int(hex_color[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgba({r},{g},{b},{alpha})"


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
    return html_text(text).replace("\n", "<br>")


PLACED_NOTE = " · <i>placed on the layout after it was fitted</i>"
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
    labels = {m: html_text(model_label(str(m))) for m in points["model"].unique()}
    names = {c: html_text(group_label(c, "language")) for c in points["language"].unique()}
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
            head += f" · {html_text(value)}"
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
    if "placed" in points and len(rows):  # put on the layout after its fit (analysis.projection)
        later = points["placed"].eq(True).to_numpy()
        out[later, 1] = out[later, 1] + PLACED_NOTE
    return out
