"""The catalog: what can be asked and of whom. Languages (ISO 639-3), known models (litellm
strings), the value taxonomy and question bank, and value instruments (PVQ-RR, portraits,
ValuePrism).

Ground floor beside the store. May import: store, ids, paths, config, errors.
"""
