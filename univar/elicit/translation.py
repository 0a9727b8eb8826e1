"""Translation through an LLM: the question into the target language before it is asked, the
question and the answer back to English after (the paper's round trip). English is never
translated. The requests go through the same cache as answers (purpose 'translate'), so a
translation is asked once per (text, direction, translator) whatever the number of samples.
"""

from __future__ import annotations

from univar import policy as policies
from univar.catalog import registry
from univar.errors import UserError
from univar.llm import keys as keyring
from univar.llm.client import Request, RetryPolicy, run_blocking
from univar.llm.endpoints import check_reachable
from univar.llm.keys import redact_url
from univar.llm.request_cache import CachedAsker
from univar.paths import Db

# Ending on "{target}:" makes a small model continue with the translation; the older wording
# ("Translate the following text ... Reply with the translation only") got SmolLM2-135M to copy
# the French back in 22 of 24 texts of the demo, this one in 4 (docs/quality.md).
PROMPT = (
    "Translate this {source} text into {target}. Write only the {target} translation, "
    "nothing else.\n\n{source}: {text}\n\n{target}:"
)
# The second try when a translation into English does not read as English: small models copy
# the text, answer it or comment on it instead of translating it.
STRICT_PROMPT = (
    "Rewrite the following {source} text in {target}. Do not copy it, do not answer it and do "
    "not explain it: reply with its {target} translation only.\n\n{source}: {text}\n\n{target}:"
)
# Greedy decoding: a translation should not vary between runs.
TEMPERATURE = 0.0
TOP_P = 1.0


def max_tokens_for(text: str) -> int:
    """A budget that fits a faithful translation but stops a rambling model early."""
    return max(64, min(1024, len(text) // 2 + 64))


def translator_of(
    model: str, api_base: str | None, translator: str | None, translator_api_base: str | None
) -> tuple[str, str | None]:
    """(model, api_base) that translates: the named translator, else the model itself."""
    if translator:
        return translator, translator_api_base
    return model, translator_api_base or api_base


def label(model: str, api_base: str | None) -> str:
    """What qa_pairs.translator records: the litellm model string (and where it ran)."""
    return f"{model}@{redact_url(api_base)}" if api_base else model


def request(
    text: str, source: str, target: str, model: str, api_base: str | None, *, strict: bool = False
) -> Request:
    """The cached request that translates `text` from `source` to `target` (ISO 639-3);
    `strict`: the second try's wording (STRICT_PROMPT)."""
    prompt = (STRICT_PROMPT if strict else PROMPT).format(
        source=registry.language(source).name, target=registry.language(target).name, text=text
    )
    params = (("temperature", TEMPERATURE), ("top_p", TOP_P), ("max_tokens", max_tokens_for(text)))
    return Request("translate", model, api_base, (("user", prompt),), params)


def clean(text: str, target: str | None = None) -> str:
    """The translation without the wrapping a chatty model adds (quotes, whitespace, the
    prompt's own "English:" label repeated in front)."""
    text = text.strip()
    if target is not None:
        label = registry.language(target).name + ":"
        if text[: len(label)].lower() == label.lower():
            text = text[len(label) :].strip()
    if len(text) > 1 and (text[0], text[-1]) in _QUOTES:
        text = text[1:-1].strip()
    return text


_QUOTES = {('"', '"'), ("'", "'"), ("“", "”"), ("«", "»"), ("「", "」")}


def translate_texts(
    texts: list[str],
    source: str,
    target: str = "eng",
    *,
    model: str,
    api_base: str | None = None,
    db: Db = None,
    api_key: str | None = None,
    concurrency: int = 4,
    progress=None,
    policy=None,
) -> list[str]:
    """`texts` translated from `source` to `target`, in order, through the request cache that
    elicitation uses: a text translated before costs nothing, each new reply is stored as it
    arrives (so a crash or a failure loses nothing and a rerun asks nothing twice).

    progress(done, total) after each reply. `api_key`: one typed for this endpoint; else the
    operator's where `policy` lets it go (`keys.key_for`). Raises UserError naming the first
    text that could not be translated, after every other reply is stored."""
    import asyncio
    import time
    import uuid

    policy = policies.given(policy)
    registry.check_model_string(model)
    if source == target:
        return list(texts)
    if api_base:
        check_reachable(api_base, policy=policy)
    reqs = [request(t, source, target, model, api_base) if t and t.strip() else None for t in texts]
    asker = CachedAsker(
        db,
        [model],
        time.strftime("%Y%m%d-%H%M%S-translate-") + uuid.uuid4().hex[:8],
        api_keys={model: keyring.request_key(model, api_base, typed=api_key, policy=policy)},
        keys=keyring.known_keys() + ([api_key] if api_key else []),
        policy=RetryPolicy(120.0, 4),
        concurrency=concurrency,
    )
    todo = list({r.key: r for r in reqs if r is not None and r.key not in asker.cache}.values())
    replies = {}

    async def send_all():
        async def one(req):
            replies[req.key] = await asker.ask(req)
            if progress:
                progress(len(replies), len(todo))

        await asyncio.gather(*(one(r) for r in todo))

    asker.writer.start()
    try:
        if todo:
            run_blocking(send_all())
    finally:
        asker.writer.close()
    out = []
    for text, req in zip(texts, reqs, strict=True):
        if req is None:
            out.append(text)
            continue
        reply = replies.get(req.key) or asker.cache[req.key]
        if reply.status != "ok" or not (reply.text or "").strip():
            raise UserError(
                f"could not translate {text[:60]!r} from {source} with {model}: "
                f"{reply.error or 'empty reply'} (the other translations are stored; "
                "retry to send only what is missing)"
            )
        out.append(clean(reply.text, target))
    return out
