"""Bringing QA pairs in: CSV reading and validation, the importers (generic CSV, the paper's
CSVs, PVQ-RR, ValuePrism), the Value FULCRA reader, and the shipped demo.

May import: elicit (to translate uploads), encoders and analysis.projection (the demo carries
its embeddings and map), quality (verdicts of what comes in), llm, catalog, store, ids, paths,
policy, config, errors, progress.
"""
