"""Analysis of embeddings: 2-D projections (one layout per encoder and settings, re-laid out in
the background), the value map's data, distances between groups (with bootstrap intervals,
permutation p-values and dendrogram support, cached in the store), LLM-identification
evaluation (question-disjoint or on unseen models), diagnostics, the value scorer's profiles
(`expression`), and the overlays queried from the store.

Returns data frames and arrays, never figures. May import: training (its split rule), quality
(its filter), encoders, catalog, store, ids, paths, config, errors, progress.
"""
