"""Figures of the Compare page: a distance heatmap in clustering order, its dendrogram, and value-map
distances against Inglehart-Welzel distances. Data frame in, Plotly figure out (pure).
"""

from __future__ import annotations

from univar.figures.mapstyle import PALETTE, html_text


def heatmap_figure(matrix, order=None, *, title: str = "", label=str, height: int = 560):
    """A distance matrix (square data frame) in `order`, smallest distance darkest."""
    import plotly.graph_objects as go

    order = list(order) if order is not None else list(matrix.index)
    m = matrix.loc[order, order]
    names = [html_text(label(x)) for x in order]
    fig = go.Figure(
        go.Heatmap(
            z=m.to_numpy().round(4).tolist(),
            x=names,
            y=names,
            colorscale="Viridis",
            reversescale=True,
            colorbar={"title": {"text": "distance"}},
            hovertemplate="%{y} - %{x}: %{z:.4f}<extra></extra>",
        )
    )
    fig.update_layout(
        title=html_text(title),
        height=height,
        yaxis={"autorange": "reversed", "scaleanchor": "x"},
        margin={"l": 80, "r": 20, "t": 60, "b": 80},
    )
    return fig


def dendrogram_figure(tree, *, title: str = "", label=str, height: int = 360):
    """`tree` from univar.analysis.distances.dendrogram: segments (link >= 0) and leaves (link -1)."""
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
