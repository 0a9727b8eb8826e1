"""Training a UniVaR encoder: settings, the split rule, the multi-view sampler, losses, the
trainable modules (full, lora, head), the loop, and distributed runs.

torch loads inside the functions. May import: encoders, store, hardware, ids, paths, config,
errors, progress, policy (for its type only).
"""
