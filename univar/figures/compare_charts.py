"""Figures of the Compare page: a distance heatmap in clustering order (with each pair's
bootstrap interval and permutation p-value, and marks on the pairs that cannot be told apart),
its dendrogram (with bootstrap support per merge), and value-map distances against
Inglehart-Welzel distances. Data frame in, Plotly figure out (pure).
"""

from __future__ import annotations

import math

from univar.analysis.uncertainty import ALPHA, CONFIDENCE
from univar.figures.mapstyle import PALETTE, html_text

INDISTINGUISHABLE = "indistinguishable"  # meta of the marks trace


def _missing(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def distinguishable(p_value, alpha: float = ALPHA) -> bool:
    """A pair differs at `alpha`; one with no p-value (no question in common) does not."""
    return not _missing(p_value) and p_value < alpha


def _cell_hover(pair, alpha: float, level: float) -> list[str]:
    """[interval, p-value, shared questions] lines of one pair's hover (our text only)."""
    if pair is None:
        return ["", "", ""]
    low, high, p, shared = pair
    interval = (
        f"{level:.0%} interval: n/a"
        if _missing(low) or _missing(high)
        else f"{level:.0%} interval {low:.4f} to {high:.4f}"
    )
    if _missing(p):
        verdict = "p: n/a (no question in common to permute); not distinguishable"
    elif p < alpha:
        verdict = f"p = {p:.3f}: they differ at {alpha:.0%}"
    else:
        verdict = f"p = {p:.3f}: not distinguishable at {alpha:.0%}"
    noun = "question" if shared == 1 else "questions"
    return [interval, verdict, f"{shared} shared {noun}"]


def heatmap_figure(
    matrix,
    order=None,
    *,
    title: str = "",
    label=str,
    height: int = 560,
    pairs=None,
    alpha: float = ALPHA,
    level: float = CONFIDENCE,
):
    """A distance matrix (square data frame) in `order`, smallest distance darkest. With
    `pairs` (a, b, ci_low, ci_high, p_value, shared_questions: `uncertainty.DistanceTable`),
    each cell's hover gives the interval and p, and a dot marks each pair that does not
    differ at `alpha`."""
    import plotly.graph_objects as go

    order = list(order) if order is not None else list(matrix.index)
    m = matrix.loc[order, order]
    names = [html_text(label(x)) for x in order]
    heat = {}
    marks_x, marks_y = [], []
    if pairs is not None:
        found = {}
        for a, b, low, high, p, shared in zip(
            pairs["a"],
            pairs["b"],
            pairs["ci_low"],
            pairs["ci_high"],
            pairs["p_value"],
            pairs["shared_questions"],
            strict=True,
        ):
            found[(a, b)] = found[(b, a)] = (low, high, p, int(shared))
        heat["customdata"] = [
            [_cell_hover(found.get((r, c)) if r != c else None, alpha, level) for c in order]
            for r in order
        ]
        heat["hovertemplate"] = (
            "%{y} - %{x}: %{z:.4f}<br>%{customdata[0]}<br>%{customdata[1]}"
            "<br>%{customdata[2]}<extra></extra>"
        )
        for i, r in enumerate(order):
            for j, c in enumerate(order):
                if i != j and (r, c) in found and not distinguishable(found[(r, c)][2], alpha):
                    marks_x.append(names[j])
                    marks_y.append(names[i])
    fig = go.Figure(
        go.Heatmap(
            z=m.to_numpy().round(4).tolist(),
            x=names,
            y=names,
            colorscale="Viridis",
            reversescale=True,
            colorbar={"title": {"text": "distance"}},
            hovertemplate=heat.pop("hovertemplate", "%{y} - %{x}: %{z:.4f}<extra></extra>"),
            **heat,
        )
    )
    if marks_x:
        fig.add_trace(
            go.Scatter(
                x=marks_x,
                y=marks_y,
                mode="markers",
                marker={
                    "symbol": "circle",
                    "size": 7,
                    "color": "white",
                    "line": {"color": "#223", "width": 1},
                },
                name=f"not distinguishable at {alpha:.0%}",
                meta=INDISTINGUISHABLE,
                hoverinfo="skip",  # the cell's own hover says why
                showlegend=True,
            )
        )
    fig.update_layout(
        title=html_text(title),
        height=height,
        yaxis={"autorange": "reversed", "scaleanchor": "x"},
        margin={"l": 80, "r": 20, "t": 60, "b": 80},
        legend={"orientation": "h", "x": 1, "xanchor": "right", "y": 1.0, "yanchor": "bottom"},
    )
    return fig


def dendrogram_figure(
    tree, *, title: str = "", label=str, height: int = 360, resamples: int | None = None
):
    """`tree` from univar.analysis.distances.dendrogram: segments (link >= 0) and leaves (link -1).
    Where it has a `support` column, each merge is labelled with its bootstrap support (the
    share of `resamples` in which that cluster appears)."""
    import plotly.graph_objects as go

    fig = go.Figure()
    for link, seg in tree[tree["link"] >= 0].groupby("link", sort=True):
        fig.add_trace(
            go.Scatter(
                x=seg["x"].tolist(),
                y=seg["y"].tolist(),
                mode="lines",
                line={"color": "#445", "width": 1.5},
                hoverinfo="skip",
                showlegend=False,
                name=f"link {link}",
            )
        )
        share = seg["support"].iloc[0] if "support" in seg else None
        if not _missing(share):  # on the link's crossbar: points 1 and 2 of its four
            of = f" of {resamples} resamples" if resamples else " of the resamples"
            fig.add_annotation(
                x=float(seg["x"].iloc[1:3].mean()),
                y=float(seg["y"].iloc[1]),
                text=f"{share:.0%}",
                hovertext=f"bootstrap support: this cluster appears in {share:.0%}{of}",
                showarrow=False,
                yshift=8,
                font={"size": 10, "color": "#445"},
            )
    leaves = tree[tree["link"] < 0]
    names = [label(x) for x in leaves["label"]]
    longest = max(map(len, names), default=0)  # of the text shown, not of its escaped form
    fig.update_layout(
        title=html_text(title),
        height=height + 6 * min(longest, 40),
        xaxis={
            "tickmode": "array",
            "tickvals": leaves["x"].tolist(),
            "ticktext": [html_text(n) for n in names],
            "tickangle": -90,  # upright names overlap, and plotly then drops some of them
            "showgrid": False,
            "zeroline": False,
        },
        yaxis={"title": {"text": "merge distance"}, "zeroline": False},
        margin={"l": 60, "r": 20, "t": 60, "b": 20 + 7 * min(longest, 40)},
        plot_bgcolor="white",
    )
    return fig


def iw_figure(pairs, *, r: float | None = None, height: int = 420):
    """Value-map distance (y) against Inglehart-Welzel distance (x), one point per pair."""
    import plotly.graph_objects as go

    text = [
        html_text(f"{a}-{b}") for a, b in zip(pairs["language_a"], pairs["language_b"], strict=True)
    ]
    fig = go.Figure(
        go.Scatter(
            x=pairs["iw_distance"].tolist(),
            y=pairs["value_distance"].tolist(),
            mode="markers+text",
            text=text,
            textposition="top center",
            marker={"size": 8, "color": PALETTE[0]},
            hovertemplate="%{text}<br>IW %{x:.2f}, value map %{y:.4f}<extra></extra>",
        )
    )
    title = "Language distances: value map vs Inglehart-Welzel map"
    fig.update_layout(
        title=title + (f" (Pearson r = {r:.2f})" if r is not None else ""),
        height=height,
        xaxis={"title": {"text": "Inglehart-Welzel distance"}},
        yaxis={"title": {"text": "value-map distance"}},
    )
    return fig
