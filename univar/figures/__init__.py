"""Figures: the map style and every plot builder, pure functions from a data frame to a Plotly
figure (tested on `fig.to_dict()`).

plotly loads inside the builders. May import: analysis (its map-data constants), catalog.
"""
