"""Figures of the value map's overlays: data frame in, Plotly figure out (pure).

- `profile_figure`: survey value profiles on the Schwartz circle (a radar in circle order);
- `share_figure`: share of an identity's QAs per value, on the same circle;
- `add_instrument_highlight`: one instrument's QAs ringed over an existing value map.
"""

from __future__ import annotations

import colorsys
import math

from univar.figures.mapstyle import PALETTE, html_text

_CIRCLE = {"rotation": 90, "direction": "clockwise"}  # the first value at the top


def value_colors(values) -> dict:
    """Colour per value: by hue around the Schwartz circle where a value has an angle, so
    neighbours look alike; else the shared palette. `values`: value, angle columns."""
    out = {}
    rows = values[["value", "angle"]].drop_duplicates("value").itertuples(index=False)
    for i, (value, angle) in enumerate(rows):
        if value is None or (isinstance(value, float) and math.isnan(value)):
            continue
        if angle is not None and not math.isnan(angle):
            r, g, b = colorsys.hls_to_rgb((angle % 360) / 360, 0.45, 0.65)
            out[value] = f"#{int(r * 255):02x}{int(g * 255):02x}{int(b * 255):02x}"
        else:
            out[value] = PALETTE[i % len(PALETTE)]
    return out


def _closed(values: list) -> list:
    return values + values[:1] if values else values


def profile_figure(profile, *, score: str = "centred", height: int = 460):
    """Radar of value scores. `profile`: identity, value_name, angle, and the `score` column
    (centred: value mean minus the respondent's mean; 0 is the respondent's average)."""
    import plotly.graph_objects as go

    fig = go.Figure()
    several = "instrument" in profile and profile["instrument"].nunique() > 1
    keys = ["identity", "instrument"] if several else ["identity"]
    for i, (key, rows) in enumerate(profile.groupby(keys, sort=True)):
        identity = html_text(f"{key[0]} ({key[1]})" if several else key[0])
        rows = rows.sort_values("angle", na_position="last")
        fig.add_trace(
            go.Scatterpolar(
                r=_closed(rows[score].tolist()),
                theta=_closed([html_text(v) for v in rows["value_name"]]),
                mode="lines+markers",
                name=identity,
                line={"color": PALETTE[i % len(PALETTE)], "width": 2},
                # by reference: a `%{...}` in a name then shows as typed, never as a field
                hovertemplate="%{theta}: %{r:.2f}<extra>%{fullData.name}</extra>",
            )
        )
    title = "Survey value profile (centred scores)" if score == "centred" else "Survey ratings"
    fig.update_layout(
        title=title,
        height=height,
        polar={"angularaxis": _CIRCLE, "radialaxis": {"showline": True}},
        legend={"orientation": "h"},
        margin={"l": 110, "r": 110, "t": 60, "b": 40},
    )
    return fig


def share_figure(share, *, title: str = "Share of QAs per value", height: int = 460):
    """Bars on the value circle (or plain bars without angles). `share`: value, value_name,
    angle, n, share."""
    import plotly.graph_objects as go

    colors = value_colors(share)
    on_circle = share["angle"].notna().any()
    names = [html_text(v) for v in share["value_name"].fillna(share["value"])]
    marker = {"color": [colors.get(v, "#999") for v in share["value"]]}
    custom = share["n"].tolist()
    hover = "%{customdata} QAs (%{r:.1%})<extra>%{theta}</extra>"
    if on_circle:
        trace = go.Barpolar(
            r=share["share"].fillna(0).tolist(),
            theta=names,
            marker=marker,
            customdata=custom,
            hovertemplate=hover,
        )
    else:
        trace = go.Bar(
            x=share["share"].fillna(0).tolist(),
            y=names,
            orientation="h",
            marker=marker,
            customdata=custom,
            hovertemplate="%{customdata} QAs (%{x:.1%})<extra>%{y}</extra>",
        )
    fig = go.Figure(trace)
    fig.update_layout(
        title=html_text(title), height=height, margin={"l": 110, "r": 110, "t": 60, "b": 40}
    )
    if on_circle:
        fig.update_layout(polar={"angularaxis": _CIRCLE, "radialaxis": {"tickformat": ".0%"}})
    else:
        fig.update_layout(xaxis={"tickformat": ".0%"}, yaxis={"autorange": "reversed"})
    return fig


def add_instrument_highlight(fig, points, name: str):
    """Ring `points` (x, y, qa_id) over a value map: one instrument's QAs on the base map."""
    import plotly.graph_objects as go

    fig.add_trace(
        go.Scatter(
            x=points["x"].tolist(),
            y=points["y"].tolist(),
            mode="markers",
            name=f"{html_text(name)} ({len(points):,})",
            marker={"size": 10, "color": "rgba(0,0,0,0)", "line": {"width": 1.5, "color": "#111"}},
            customdata=points["qa_id"].tolist(),
            hoverinfo="skip",
            meta="instrument",
        )
    )
    return fig
