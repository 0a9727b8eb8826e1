"""Translation through an LLM: the question into the target language before it is asked, the
question and the answer back to English after (the paper's round trip). English is never
translated. The requests go through the same cache as answers (purpose 'translate'), so a
translation is asked once per (text, direction, translator) whatever the number of samples.
"""

from __future__ import annotations

from univar import registry
from univar.llm_client import Request

PROMPT = (
    "Translate the following text from {source} to {target}. "
    "Reply with the translation only.\n\n{text}"
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
    return f"{model}@{api_base}" if api_base else model


def request(text: str, source: str, target: str, model: str, api_base: str | None) -> Request:
    """The cached request that translates `text` from `source` to `target` (ISO 639-3)."""
    prompt = PROMPT.format(
        source=registry.language(source).name, target=registry.language(target).name, text=text
    )
    params = (("temperature", TEMPERATURE), ("top_p", TOP_P), ("max_tokens", max_tokens_for(text)))
    return Request("translate", model, api_base, (("user", prompt),), params)


def clean(text: str) -> str:
    """The translation without the wrapping a chatty model adds (quotes, whitespace)."""
    text = text.strip()
    if len(text) > 1 and (text[0], text[-1]) in _QUOTES:
        text = text[1:-1].strip()
    return text


_QUOTES = {('"', '"'), ("'", "'"), ("“", "”"), ("«", "»"), ("「", "」")}
