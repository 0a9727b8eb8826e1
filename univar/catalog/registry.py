"""Languages (the paper's 25, ISO 639-3) and known models (litellm model strings)."""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass

from univar.errors import UserError


@dataclass(frozen=True)
class Language:
    code: str  # ISO 639-3
    name: str  # English name
    native: str
    nllb: str  # the code the paper's translator used


LANGUAGES: tuple[Language, ...] = (
    Language("eng", "English", "English", "eng_Latn"),
    Language("zho", "Chinese (Simplified)", "中文", "zho_Hans"),
    Language("kor", "Korean", "한국어", "kor_Hang"),
    Language("jpn", "Japanese", "日本語", "jpn_Jpan"),
    Language("deu", "German", "Deutsch", "deu_Latn"),
    Language("fin", "Finnish", "Suomi", "fin_Latn"),
    Language("swe", "Swedish", "Svenska", "swe_Latn"),
    Language("fra", "French", "Français", "fra_Latn"),
    Language("ita", "Italian", "Italiano", "ita_Latn"),
    Language("por", "Portuguese", "Português", "por_Latn"),
    Language("spa", "Spanish", "Español", "spa_Latn"),
    Language("tha", "Thai", "ไทย", "tha_Thai"),
    Language("vie", "Vietnamese", "Tiếng Việt", "vie_Latn"),
    Language("zsm", "Malay", "Bahasa Melayu", "zsm_Latn"),
    Language("tgl", "Tagalog", "Tagalog", "tgl_Latn"),
    Language("hat", "Haitian Creole", "Kreyòl ayisyen", "hat_Latn"),
    Language("quy", "Quechua (Ayacucho)", "Runasimi", "quy_Latn"),
    Language("rus", "Russian", "Русский", "rus_Cyrl"),
    Language("ron", "Romanian", "Română", "ron_Latn"),
    Language("bul", "Bulgarian", "Български", "bul_Cyrl"),
    Language("ind", "Indonesian", "Bahasa Indonesia", "ind_Latn"),
    Language("arb", "Arabic (Standard)", "العربية", "arb_Arab"),
    Language("hin", "Hindi", "हिन्दी", "hin_Deva"),
    Language("swh", "Swahili", "Kiswahili", "swh_Latn"),
    Language("pes", "Persian", "فارسی", "pes_Arab"),
)
BY_CODE = {lang.code: lang for lang in LANGUAGES}


class RegistryError(UserError):
    """An unknown language or a malformed model string; the message names it."""


def language(code: str) -> Language:
    code = (code or "").strip().lower()
    if code in BY_CODE:
        return BY_CODE[code]
    for lang in LANGUAGES:  # accept NLLB codes (fra_Latn) and ISO 639-1-ish names
        if code == lang.nllb.lower():
            return lang
    hint = suggest_language(code)
    raise RegistryError(
        f"unknown language code {code!r}"
        + (f"; did you mean {hint!r}?" if hint else "")
        + " (use ISO 639-3 codes such as eng, fra, zho)"
    )


def suggest_language(code: str) -> str | None:
    """The closest known code, by code or by English name."""
    code = (code or "").strip().lower()
    names = {lang.name.lower(): lang.code for lang in LANGUAGES}
    names.update({lang.native.lower(): lang.code for lang in LANGUAGES})
    hit = difflib.get_close_matches(code, names, n=1, cutoff=0.7)
    if hit:
        return names[hit[0]]
    hit = difflib.get_close_matches(code, list(BY_CODE), n=1, cutoff=0.5)
    return hit[0] if hit else None


def parse_languages(text: str | list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """'eng,fra, zho' -> ('eng', 'fra', 'zho'); raises RegistryError on an unknown code."""
    items = text.split(",") if isinstance(text, str) else list(text)
    codes = [language(item).code for item in items if item and item.strip()]
    if not codes:
        raise RegistryError("no language given (use ISO 639-3 codes such as eng, fra, zho)")
    return tuple(dict.fromkeys(codes))


@dataclass(frozen=True)
class KnownModel:
    name: str  # as the paper names it
    provider: str
    litellm: (
        str | None
    )  # None: no hosted API; serve it yourself (vLLM, llama.cpp) and give api_base
    hf_id: str
    role: str  # 'train' or 'held-out' in the paper


MODELS: tuple[KnownModel, ...] = (
    KnownModel("aya-101", "Cohere For AI", None, "CohereForAI/aya-101", "train"),
    KnownModel(
        "Mixtral-8x7B-Instruct",
        "Mistral AI",
        "together_ai/mistralai/Mixtral-8x7B-Instruct-v0.1",
        "mistralai/Mixtral-8x7B-Instruct-v0.1",
        "train",
    ),
    KnownModel("SeaLLM-7B-v2", "DAMO Academy", None, "SeaLLMs/SeaLLM-7B-v2", "train"),
    KnownModel(
        "bloomz-rlhf", "BigScience (community RLHF)", None, "bigscience/bloomz-7b1", "train"
    ),
    KnownModel("chatglm3-6b", "Zhipu AI / THUDM", None, "THUDM/chatglm3-6b", "train"),
    KnownModel(
        "Nous-Hermes-2-Mixtral-8x7B-DPO",
        "Nous Research",
        "together_ai/NousResearch/Nous-Hermes-2-Mixtral-8x7B-DPO",
        "NousResearch/Nous-Hermes-2-Mixtral-8x7B-DPO",
        "train",
    ),
    KnownModel(
        "SOLAR-10.7B-Instruct",
        "Upstage",
        "together_ai/upstage/SOLAR-10.7B-Instruct-v1.0",
        "upstage/SOLAR-10.7B-Instruct-v1.0",
        "train",
    ),
    KnownModel(
        "Mistral-7B-Instruct-Aya-101",
        "community",
        None,
        "MaralGPT/Mistral-7B-Instruct-Aya-101",
        "train",
    ),
    KnownModel("JAIS-30B-chat", "Inception / MBZUAI", None, "core42/jais-30b-chat-v1", "held-out"),
    KnownModel("Maral-7B", "MaralGPT", None, "MaralGPT/Maral-7B-alpha-1", "held-out"),
    KnownModel(
        "Llama-2-13B-chat",
        "Meta",
        "together_ai/meta-llama/Llama-2-13b-chat-hf",
        "meta-llama/Llama-2-13b-chat-hf",
        "held-out",
    ),
    KnownModel(
        "Yi-34B-Chat",
        "01.AI",
        "together_ai/zero-one-ai/Yi-34B-Chat",
        "01-ai/Yi-34B-Chat",
        "held-out",
    ),
    KnownModel(
        "Llama-3-8B-Instruct",
        "Meta",
        "groq/llama3-8b-8192",
        "meta-llama/Meta-Llama-3-8B-Instruct",
        "held-out",
    ),
    KnownModel("ChatGPT", "OpenAI", "openai/gpt-3.5-turbo", "gpt-3.5-turbo", "held-out"),
    KnownModel(
        "Command-R", "Cohere", "cohere_chat/command-r", "CohereForAI/c4ai-command-r-v01", "held-out"
    ),
)

# The two real models that PyPI packages ship; served on loopback by `univar serve-local`.
LOCAL_MODELS = {"smollm2": "SmolLM2-135M-Instruct", "gemma3": "Gemma-3-270M"}

_MODEL_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:@+\-]*(/[A-Za-z0-9._:@+\-]+)*$")


def check_model_string(model: str) -> str:
    """A litellm model string: 'provider/name' or a bare name; no spaces or odd characters."""
    model = (model or "").strip()
    if not model:
        raise RegistryError("model string is empty")
    if len(model) > 200 or not _MODEL_RE.match(model):
        raise RegistryError(
            f"malformed model string {model[:80]!r}: use litellm's form such as "
            "openai/gpt-4o-mini, anthropic/claude-3-5-haiku, ollama_chat/llama3 or openai/NAME "
            "with --api-base"
        )
    return model


def model_label(model: str) -> str:
    """Short label for plots: the last path part of a litellm string."""
    return model.rstrip("/").split("/")[-1]
