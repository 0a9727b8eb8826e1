"""API keys: which key goes with a request, which providers have one, and scrubbing them from text.

`key_for` is the one rule, in both modes: a key typed for that endpoint (a page's session
memory, a CLI flag) goes with its request; the operator's key (the environment variables
litellm reads, then `.streamlit/secrets.toml`, top level or any table) only where
`policy.operator_key_may_go` says, i.e. to its provider's own endpoints; otherwise none. Keys
are handed to litellm per call and never stored; `redact` runs over every error message and log
line before it is stored or printed, and `redact_url` over every api_base that is stored or
shown (a URL may carry credentials of its own).
"""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

from univar import policy as policies
from univar.paths import PROJECT_ROOT

SECRETS_FILE = PROJECT_ROOT / ".streamlit" / "secrets.toml"
MASK = "[REDACTED]"
# Sent when a self-hosted endpoint (api_base) needs no key: the OpenAI client refuses to send
# a request without one, and llama.cpp or vLLM ignore it.
PLACEHOLDER_KEY = "local"

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

# Query parameters whose value is a credential (Azure's api-key, Gemini's key, tokens, SAS sig).
_SECRET_PARAM_WORDS = ("key", "token", "secret", "password", "passwd", "auth", "sig", "credential")
_URL_USERINFO = re.compile(r"(\b[a-z][a-z0-9+.\-]*://)[^/\s@\"'<>]+@", re.IGNORECASE)
_URL_SECRET_PARAM = re.compile(
    r"([?&][\w.\-]*(?:key|token|secret|password|passwd|auth|sig|credential)[\w.\-]*=)"
    r"[^&#\s\"'<>]+",
    re.IGNORECASE,
)

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


def key_for(
    model: str,
    api_base: str | None = None,
    *,
    typed: str | None = None,
    policy: policies.Policy | None = None,
    secrets_path: Path | None = None,
) -> tuple[str | None, str]:
    """(key, source) for a request to `model` at `api_base`; source is 'typed', 'environment',
    'secrets.toml' or 'none'. `policy`: None reads the CLI's (`policy.load(app=False)`)."""
    if typed:
        return typed, "typed"
    provider = provider_of(model)
    policy = policies.given(policy)
    if not policy.operator_key_may_go(provider, api_base):
        return None, "none"
    key, source = _lookup(PROVIDER_ENV.get(provider or "", ()), secrets_path)
    return (key, source) if key else (None, "none")


def request_key(
    model: str,
    api_base: str | None = None,
    *,
    typed: str | None = None,
    policy: policies.Policy | None = None,
) -> str | None:
    """The api_key to hand litellm: `key_for`'s, else a placeholder where api_base is set.
    Given None, litellm would fill in the environment's key itself and send it to api_base;
    self-hosted servers (llama.cpp, vLLM) ignore the placeholder."""
    key = key_for(model, api_base, typed=typed, policy=policy)[0]
    return key or (PLACEHOLDER_KEY if api_base else None)


def key_source_label(model: str, source: str) -> str:
    """Which key a request uses, in words for a page; never the key."""
    if source == "typed":
        return "your key typed here"
    if source in ("environment", "secrets.toml"):
        return f"the server's {(provider_of(model) or 'provider').upper()} key"
    return "none"


def resolve_api_key(
    model: str,
    explicit: str | None = None,
    *,
    api_base: str | None = None,
    policy: policies.Policy | None = None,
    secrets_path: Path | None = None,
) -> str | None:
    """The key to send with a request to `model` at `api_base`, or None (`key_for`)."""
    return key_for(model, api_base, typed=explicit, policy=policy, secrets_path=secrets_path)[0]


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


def _secret_param(name: str) -> bool:
    name = name.lower().replace("-", "_")
    return any(word in name for word in _SECRET_PARAM_WORDS)


def redact_url(url: str | None) -> str | None:
    """`url` without the credentials it may carry (user:password@, ?api-key=, ?token= ...);
    for storing and showing. Requests keep the real URL."""
    if not url:
        return url
    text = str(url)
    try:
        parts = urlsplit(text)
    except ValueError:
        return _redact_urls_in(text)
    netloc = parts.netloc
    if "@" in netloc:
        netloc = f"{MASK}@{netloc.rpartition('@')[2]}"
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        if any(_secret_param(k) for k, _ in pairs):
            query = urlencode([(k, MASK if _secret_param(k) else v) for k, v in pairs], safe="[]")
    if (netloc, query) == (parts.netloc, parts.query):
        return text
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def split_url_auth(api_base: str | None) -> tuple[str | None, dict[str, str]]:
    """(api_base without user:password@, the Basic Authorization header they stand for).
    litellm's async transport refuses credentials in a URL next to its own Authorization
    header, so they travel as the header, which is what the sync transport makes of them."""
    if not api_base or "@" not in api_base:
        return api_base, {}
    try:
        parts = urlsplit(api_base)
    except ValueError:
        return api_base, {}
    if parts.username is None:
        return api_base, {}
    import base64

    pair = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
    token = base64.b64encode(pair.encode("utf-8")).decode("ascii")
    netloc = parts.netloc.rpartition("@")[2]
    bare = urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
    return bare, {"Authorization": f"Basic {token}"}


def _redact_urls_in(text: str) -> str:
    """Credentials of URLs inside free text (an error message, a stored config's JSON)."""
    text = _URL_USERINFO.sub(rf"\1{MASK}@", text)
    return _URL_SECRET_PARAM.sub(rf"\1{MASK}", text)


def redact(text: object, keys: list[str] | tuple[str, ...] | None = None) -> str:
    """`text` with every known key (and anything shaped like a key, and URL credentials)
    replaced by [REDACTED]."""
    out = str(text)
    for key in keys if keys is not None else known_keys():
        if key and len(key) >= 6:
            out = out.replace(key, MASK)
    return _KEY_SHAPES.sub(MASK, _redact_urls_in(out))
