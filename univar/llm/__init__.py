"""Talking to LLMs: one litellm request with retries and backoff (`client`), the request cache and
its one asker (`request_cache`), API keys and where they may go (`keys`), endpoint checks
(`endpoints`), and the local llama.cpp server of the shipped tiny models (`local_server`).

litellm loads inside the calls that need it. May import: catalog, store, paths, config, errors.
"""
