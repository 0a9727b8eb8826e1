"""Elicitation: settings, the plan (what to ask, what is cached), the engine that asks in many
languages, translation both ways, survey mode, background jobs and the run history.

May import: llm, quality (its language identifier; verdicts of new answers), catalog, store,
ids, paths, config, errors, progress.
"""
