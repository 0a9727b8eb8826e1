"""Replies of models litellm has no price for: the price search is skipped and the cost stays
unknown; a priced model is still priced (issue 18, item 5)."""

from __future__ import annotations

import asyncio

from univar.llm import client


def _ask(fs, model: str) -> client.Reply:
    req = client.Request(
        "answer", model, fs.api_base, (("user", "What matters most?"),), (("max_tokens", 16),)
    )
    return client.run_blocking(
        client.complete(
            req, api_key="local", policy=client.RetryPolicy(), slot=asyncio.Semaphore(1)
        )
    )


def test_an_unpriced_model_costs_unknown_and_no_price_reaches_the_server(fs):
    assert client._unpriced("openai/smollm2")
    reply = _ask(fs, "openai/smollm2")
    assert reply.status == "ok" and reply.cost is None  # unknown, never "free"
    sent = fs.bodies[-1]
    assert sent["model"] == "smollm2"
    assert not set(sent) & set(client.NO_PRICE)


def test_a_model_litellm_prices_is_still_priced(fs):
    assert not client._unpriced("openai/gpt-4o-mini")
    reply = _ask(fs, "openai/gpt-4o-mini")
    assert reply.status == "ok" and reply.cost is not None and reply.cost > 0
