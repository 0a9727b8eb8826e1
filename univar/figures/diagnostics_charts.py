"""The Diagnostics chart of the Train & evaluate screen: per encoder, identification accuracy
on value and on control questions and the language and model leakage, each against its chance
level.

A pure builder: the diagnostics table in, a Plotly figure out.
"""

from __future__ import annotations

from univar.figures.mapstyle import html_text

INK = "#4a4a55"
# (column, its chance column, axis label): the order the bars read in
MEASURES = (
    ("value_acc", "value_chance", "Value questions"),
    ("control_acc", "control_chance", "Control questions"),
    ("language_leakage", "language_chance", "Language leakage"),
    ("model_leakage", "model_chance", "Model leakage"),
)
TEST_COUNTS = {
    "value_acc": "value_test",
    "control_acc": "control_test",
    "language_leakage": "language_test",
    "model_leakage": "model_test",
}
ENCODER_COLORS = ("#2a6fdb", "#e3872d", "#2e9d6a", "#9b59b6", "#c0392b", "#7f8c8d")


def _present(value) -> bool:
    return value is not None and value == value  # NaN is not equal to itself


def diagnostics_figure(table) -> object:
    """Grouped bars, one group per measure with a value for some encoder, one bar per encoder;
    a grey dash marks each measure's chance level (the same for every encoder, as it depends
    on the labels alone). table: a diagnostics table (`analysis.diagnostics.COLUMNS`)."""
    import plotly.graph_objects as go

    from univar.figures.training_charts import short_name

    rows = table.to_dict(orient="records") if hasattr(table, "to_dict") else list(table)
    measures = [m for m in MEASURES if any(_present(r.get(m[0])) for r in rows)]
    labels = [label for _, _, label in measures]
    fig = go.Figure()
    for i, row in enumerate(rows):
        name = html_text(short_name(str(row["encoder"])))
        values = [row.get(col) if _present(row.get(col)) else None for col, _, _ in measures]
        hovers = [
            f"{name}<br>{label}: {value:.1f}% (chance {row.get(chance):.1f}%)"
            f"<br>{int(row.get(TEST_COUNTS[col]) or 0):,} held-out QA pairs"
            if value is not None and _present(row.get(chance))
            else f"{name}<br>{label}: not measurable here"
            for (col, chance, label), value in zip(measures, values, strict=True)
        ]
        fig.add_bar(
            x=labels,
            y=values,
            name=name,
            marker_color=ENCODER_COLORS[i % len(ENCODER_COLORS)],
            text=[f"{v:.1f}" if v is not None else "" for v in values],
            textposition="outside",
            hovertext=hovers,
            hoverinfo="text",
        )
    chance = []
    for _, col, _ in measures:
        found = [r[col] for r in rows if _present(r.get(col))]
        chance.append(found[0] if found else None)
    fig.add_scatter(
        x=labels,
        y=chance,
        mode="markers",
        name="chance",
        marker={"symbol": "line-ew", "size": 60, "line": {"width": 3, "color": INK}},
        hovertext=[
            f"{label}: chance {c:.1f}%" if c is not None else ""
            for label, c in zip(labels, chance, strict=True)
        ],
        hoverinfo="text",
    )
    fig.update_layout(
        template="plotly_white",
        height=380,
        margin={"l": 10, "r": 10, "t": 50, "b": 10},
        font={"color": INK},
        barmode="group",
        title={"text": "Held-out accuracy (percent): high on values, low on controls and leakage"},
        yaxis={"title": {"text": "accuracy (%)"}, "range": [0, 105]},
        legend={"orientation": "h", "y": 1.02, "x": 1, "xanchor": "right", "yanchor": "bottom"},
    )
    return fig
