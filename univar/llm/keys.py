"""API keys: where they come from, which providers have one, and scrubbing them from text.

Order of lookup for a model's key: an explicit argument (a page's session memory), then the
environment variables litellm reads, then `.streamlit/secrets.toml` (top level or any table).
Keys are handed to litellm per call and never stored; `redact` runs over every error message
and log line before it is stored or printed.
"""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path

from univar.paths import PROJECT_ROOT

SECRETS_FILE = PROJECT_ROOT / ".streamlit" / "secrets.toml"
MASK = "[REDACTED]"

# litellm provider prefix -> the environment variables litellm reads for it, first one wins.
PROVIDER_ENV: dict[str, tuple[str, ...]] = {
    "openai": ("OPENAI_API_KEY",),
    "azure": ("AZURE_API_KEY", "AZURE_OPENAI_API_KEY"),
    "anthropic": ("ANTHROPIC_API_KEY",),
    "gemini": ("GEMINI_API_KEY", "GOOGLE_API_KEY"),
    "mistral": ("MISTRAL_API_KEY",),
    "cohere": ("COHERE_API_KEY", "CO_API_KEY"),
    "cohere_chat": ("COHERE_API_KEY", "CO_API_KEY"),
    "together_ai": ("TOGETHERAI_API_KEY", "TOGETHER_AI_API_KEY", "TOGETHER_API_KEY"),
    "groq": ("GROQ_API_KEY",),
    "deepseek": ("DEEPSEEK_API_KEY",),
    "openrouter": ("OPENROUTER_API_KEY", "OR_API_KEY"),
    "fireworks_ai": ("FIREWORKS_AI_API_KEY", "FIREWORKS_API_KEY"),
    "perplexity": ("PERPLEXITYAI_API_KEY", "PERPLEXITY_API_KEY"),
    "xai": ("XAI_API_KEY",),
    "huggingface": ("HUGGINGFACE_API_KEY", "HF_TOKEN"),
    "hosted_vllm": ("HOSTED_VLLM_API_KEY",),
    "replicate": ("REPLICATE_API_KEY",),
}

# Bare model names litellm routes without a prefix.
_BARE_PREFIXES = (
    ("gpt-", "openai"),
    ("o1", "openai"),
    ("o3", "openai"),
    ("o4", "openai"),
    ("chatgpt", "openai"),
    ("claude", "anthropic"),
    ("command", "cohere_chat"),
    ("mistral-", "mistral"),
    ("gemini", "gemini"),
)

# Shapes of common provider keys, for keys we were never told about (e.g. echoed by a server).
_KEY_SHAPES = re.compile(
    r"(sk-(?:ant-|proj-|or-)?[A-Za-z0-9_\-*]{8,}|gsk_[A-Za-z0-9]{8,}|hf_[A-Za-z0-9]{8,}"
    r"|AIza[0-9A-Za-z_\-]{20,}|xai-[A-Za-z0-9]{8,})"
)


def provider_of(model: str) -> str | None:
    """'anthropic/claude-3-5-haiku' -> 'anthropic'; 'gpt-4o' -> 'openai'; unknown -> None."""
    model = (model or "").strip()
    if "/" in model:
        return model.split("/", 1)[0].lower()
    for prefix, provider in _BARE_PREFIXES:
        if model.lower().startswith(prefix):
            return provider
    return None


def _secrets_file_values(path: Path | None = None) -> dict[str, str]:
    """NAME -> value from secrets.toml: top-level strings and strings one table deep."""
    path = Path(path) if path else SECRETS_FILE
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError):
        return {}  # an absent or broken file simply supplies no key (never echo its content)
    found: dict[str, str] = {}
    for name, value in data.items():
        if isinstance(value, str):
            found[name.upper()] = value
        elif isinstance(value, dict):
            for inner, v in value.items():
                if isinstance(v, str):
                    found.setdefault(inner.upper(), v)
    return found


def _lookup(names: tuple[str, ...], secrets_path: Path | None) -> tuple[str | None, str | None]:
    for name in names:
        if os.environ.get(name):
            return os.environ[name], "environment"
    file_values = _secrets_file_values(secrets_path)
    for name in names:
        if file_values.get(name):
            return file_values[name], "secrets.toml"
    return None, None


def resolve_api_key(
    model: str, explicit: str | None = None, *, secrets_path: Path | None = None
) -> str | None:
    """The key to send with a request to `model`, or None when none is configured."""
    if explicit:
        return explicit
    provider = provider_of(model)
    names = PROVIDER_ENV.get(provider or "", ())
    return _lookup(names, secrets_path)[0] if names else None


def present_keys(secrets_path: Path | None = None) -> dict[str, str]:
    """provider -> where its key comes from ('environment' or 'secrets.toml'); never the key."""
    found = {}
    for provider, names in PROVIDER_ENV.items():
        source = _lookup(names, secrets_path)[1]
        if source:
            found[provider] = source
    return found


def known_keys(secrets_path: Path | None = None) -> list[str]:
    """Every configured key value, for `redact`."""
    names = {n for names in PROVIDER_ENV.values() for n in names}
    values = {os.environ.get(n) for n in names}
    file_values = _secrets_file_values(secrets_path)
    values.update(v for n, v in file_values.items() if n in names or "KEY" in n or "TOKEN" in n)
    return sorted((v for v in values if v and len(v) >= 6), key=len, reverse=True)


def redact(text: object, keys: list[str] | tuple[str, ...] | None = None) -> str:
    """`text` with every known key (and anything shaped like a key) replaced by [REDACTED]."""
    out = str(text)
    for key in keys if keys is not None else known_keys():
        if key and len(key) >= 6:
            out = out.replace(key, MASK)
    return _KEY_SHAPES.sub(MASK, out)
