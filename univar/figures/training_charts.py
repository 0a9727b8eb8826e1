"""Figures of the Train & evaluate screen: the loss curve, the results, a confusion matrix.

Pure builders: a data frame in, a Plotly figure out.
"""

from __future__ import annotations

import plotly.graph_objects as go

from univar import ids
from univar.figures.mapstyle import html_text

INK = "#4a4a55"
ACCENT = "#2a6fdb"
METHOD_COLORS = {"knn": "#2a6fdb", "linear": "#e3872d"}


def _layout(fig: go.Figure, height: int, **kw) -> go.Figure:
    fig.update_layout(
        template="plotly_white",
        height=height,
        margin={"l": 10, "r": 10, "t": 40, "b": 10},
        font={"color": INK},
        **kw,
    )
    return fig


def loss_curve_figure(curve, smooth: int = 10, title: str = "Training loss") -> go.Figure:
    """Loss per step (faint) and its running mean over `smooth` steps.

    curve: a data frame or a list of records with `step` and `loss`.
    """
    import pandas as pd

    curve = pd.DataFrame(curve, columns=None if len(curve) else ["step", "loss"])
    fig = go.Figure()
    if len(curve):
        fig.add_scatter(
            x=curve["step"],
            y=curve["loss"],
            mode="lines",
            name="per step",
            line={"color": "rgba(42,111,219,0.3)", "width": 1},
        )
        mean = curve["loss"].rolling(max(1, smooth), min_periods=1).mean()
        fig.add_scatter(
            x=curve["step"],
            y=mean,
            mode="lines",
            name=f"mean of {smooth}",
            line={"color": ACCENT, "width": 2.5},
        )
    return _layout(
        fig,
        320,
        title={"text": html_text(title)},
        xaxis={"title": {"text": "step"}},
        yaxis={"title": {"text": "contrastive loss"}},
        legend={"orientation": "h", "y": 1.02, "x": 1, "xanchor": "right", "yanchor": "bottom"},
    )


def results_figure(table, metric: str = "acc@1") -> go.Figure:
    """One bar per encoder and method; table: encoder, method, `metric` (percent)."""
    fig = go.Figure()
    for method, part in table.groupby("method", sort=False):
        fig.add_bar(
            x=[html_text(short_name(e)) for e in part["encoder"]],
            y=part[metric],
            name=html_text(method),
            marker_color=METHOD_COLORS.get(method, INK),
            text=part[metric].map("{:.1f}".format),
            textposition="outside",
        )
    return _layout(
        fig,
        340,
        barmode="group",
        title={"text": f"{html_text(metric)} on held-out QAs (percent)"},
        yaxis={"title": {"text": html_text(metric)}, "rangemode": "tozero"},
        legend={"title": {"text": "method"}},
    )


def confusion_figure(matrix, title: str = "Confusion matrix") -> go.Figure:
    """Rows: true class, columns: predicted; cells coloured by the share of their row."""
    counts = matrix.to_numpy()
    totals = counts.sum(axis=1, keepdims=True)
    share = counts / totals.clip(min=1)
    labels = [html_text(short_name(str(c))) for c in matrix.columns]
    rows = [html_text(short_name(str(c))) for c in matrix.index]
    fig = go.Figure(
        go.Heatmap(
            z=share,
            x=labels,
            y=rows,
            customdata=counts,
            colorscale="Blues",
            zmin=0,
            zmax=1,
            text=[[f"{v:.0%}" for v in row] for row in share],
            texttemplate="%{text}",
            hovertemplate="true %{y}<br>predicted %{x}<br>%{customdata} QAs (%{text})"
            "<extra></extra>",
            colorbar={"title": {"text": "share of row"}, "tickformat": ".0%"},
        )
    )
    n = max(len(labels), 1)
    return _layout(
        fig,
        max(380, 160 + 44 * n),
        title={"text": html_text(title)},
        xaxis={"title": {"text": "predicted"}, "side": "bottom", "tickangle": -30},
        yaxis={"title": {"text": "true"}, "autorange": "reversed"},
    )


def short_name(name: str, limit: int = 28) -> str:
    """'org/model-x$eng' -> 'model-x$eng'; paths -> their last part; long names cut."""
    head, tail = ids.parse_identity(name)
    head = head.rstrip("/").split("/")[-1]
    if len(head) > limit:
        head = head[: limit - 1] + "…"
    return ids.identity(head, tail) if tail else head
