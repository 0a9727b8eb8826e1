"""Figures of the value map's overlays: data frame in, Plotly figure out (pure).

- `profile_figure`: survey value profiles on the Schwartz circle (a radar in circle order);
- `share_figure`: share of an identity's QAs per value, on the same circle;
- `expression_figure`: the share of its answers the value scorer reads as supporting or
  opposing each value, as diverging bars in circle order;
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


SUPPORTS_COLOR, OPPOSES_COLOR = "#2e8b57", "#c0392b"


def _wrapped(title: str, width: int = 56) -> str:
    """A long title in lines of about `width` characters, each escaped: in half a page's
    width Plotly would cut it off."""
    lines: list[str] = []
    for word in str(title).split():
        if lines and len(lines[-1]) + 1 + len(word) <= width:
            lines[-1] += " " + word
        else:
            lines.append(word)
    return "<br>".join(html_text(line) for line in lines)


def expression_figure(frame, *, title: str = "Values its answers express", height: int = 460):
    """Diverging bars per value, in circle order from the top: the share of answers supporting
    it to the right, opposing it to the left. `frame`: value, value_name, angle, n,
    share_supporting, share_opposing, net (univar.analysis.expression.value_expression)."""
    import plotly.graph_objects as go

    rows = frame.sort_values("angle", kind="stable", na_position="last")
    names = [html_text(v) for v in rows["value_name"].fillna(rows["value"])]
    supporting = rows["share_supporting"].astype(float).fillna(0.0).tolist()
    opposing = rows["share_opposing"].astype(float).fillna(0.0).tolist()
    n = [int(k) for k in rows["n"]]
    net = [None if v != v else round(float(v), 4) for v in rows["net"].astype(float)]
    fig = go.Figure()
    for name, shares, sign, color in (
        ("opposes", opposing, -1, OPPOSES_COLOR),
        ("supports", supporting, 1, SUPPORTS_COLOR),
    ):
        fig.add_trace(
            go.Bar(
                x=[sign * v for v in shares],
                y=names,
                orientation="h",
                name=name,
                marker={"color": color},
                customdata=[[k, v, s] for k, v, s in zip(n, net, shares, strict=True)],
                hovertemplate=f"{name} in %{{customdata[2]:.0%}} of %{{customdata[0]}} answers"
                "<br>net %{customdata[1]:+.2f}<extra>%{y}</extra>",
            )
        )
    # bars left of zero are shares too: the ticks say so without a minus sign
    widest = max([0.2, *supporting, *opposing])
    step = 0.1 if widest <= 0.4 else 0.25
    steps = math.ceil(round(widest / step, 6))
    top = steps * step
    ticks = [round(k * step, 4) for k in range(-steps, steps + 1)]
    fig.update_layout(
        title=_wrapped(title),
        height=height,
        barmode="relative",
        bargap=0.25,
        legend={"orientation": "h", "traceorder": "reversed", "y": -0.2, "yanchor": "top"},
        margin={"l": 110, "r": 40, "t": 80, "b": 80},
        xaxis={
            "range": [-top * 1.05, top * 1.05],
            "tickvals": ticks,
            "ticktext": [f"{abs(t):.0%}" for t in ticks],
            "zeroline": True,
            "zerolinecolor": "#444",
            "title": {"text": "share of its answers"},
        },
        yaxis={"autorange": "reversed"},
    )
    return fig
