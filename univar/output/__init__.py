"""Output: figures and tables as files (PNG/SVG/PDF/HTML/CSV/Parquet) and the one-click report.

May import: figures, analysis, elicit (survey profiles), ingest (the rule for formula-like CSV
cells), store, ids, paths, config, errors.
"""
