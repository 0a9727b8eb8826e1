"""One LLM request through litellm, with our own retries, timeout and reply checks.

litellm's and the OpenAI SDK's retries are switched off (`num_retries=0`, `max_retries=0`) so
that a retry is visible here: it waits with exponential backoff and jitter, honours Retry-After,
and releases the endpoint's concurrency slot while it waits. A request that finally fails
returns a `Reply` with status 'error' and a one-line reason; it never raises.
"""

from __future__ import annotations

import asyncio
import email.utils
import functools
import hashlib
import json
import logging
import os
import random
import re
import threading
import time
from dataclasses import dataclass, field

from univar.llm.keys import redact, redact_url, split_url_auth

MAX_REPLY_CHARS = 64 * 1024
RETRY_STATUS = {408, 409, 425, 429, 500, 502, 503, 504, 520, 522, 524, 529}


@dataclass(frozen=True)
class Request:
    """Everything that changes a reply; `key` hashes all of it (and nothing else)."""

    purpose: str  # 'answer' | 'translate' | 'survey'
    model: str
    api_base: str | None
    messages: tuple[tuple[str, str], ...]  # (role, content) pairs, exactly as sent
    params: tuple[tuple[str, float | int], ...]  # temperature, top_p, max_tokens
    sample: int = 0

    @property
    def key(self) -> str:
        # Credentials in an api_base change no reply: a rotated token keeps its cache, and no
        # secret goes into a stored hash.
        blob = json.dumps(
            [
                self.purpose,
                self.model,
                redact_url(self.api_base),
                self.messages,
                self.params,
                self.sample,
            ],
            ensure_ascii=False,
            separators=(",", ":"),
        )
        return hashlib.sha256(blob.encode("utf-8")).hexdigest()

    def message_dicts(self) -> list[dict]:
        return [{"role": role, "content": content} for role, content in self.messages]

    def params_dict(self) -> dict:
        return dict(self.params) | {"sample": self.sample}


@dataclass
class Reply:
    status: str  # 'ok' | 'error'
    text: str | None = None
    error: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    latency_ms: float | None = None
    cost: float | None = None
    attempts: int = 0
    cached: bool = False


@dataclass(frozen=True)
class RetryPolicy:
    timeout_s: float = 120.0
    max_retries: int = 4
    base_s: float = 1.0
    max_wait_s: float = 60.0


@dataclass
class Limiter:
    """A concurrency cap per endpoint (api_base, or the provider for hosted APIs)."""

    cap: int
    _sems: dict = field(default_factory=dict)

    def for_endpoint(self, endpoint: str) -> asyncio.Semaphore:
        if endpoint not in self._sems:
            self._sems[endpoint] = asyncio.Semaphore(self.cap)
        return self._sems[endpoint]


def endpoint_of(model: str, api_base: str | None) -> str:
    return api_base or model.split("/", 1)[0]


def import_litellm():
    """litellm, imported on first use (about 4 s) and told never to fetch its price table."""
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    import litellm

    litellm.suppress_debug_info = True
    litellm.telemetry = False
    # litellm logs request details at DEBUG to its own stdout handler; `-v` is for our logs.
    for name in ("LiteLLM", "LiteLLM Router", "LiteLLM Proxy"):
        logging.getLogger(name).setLevel(logging.ERROR)
    return litellm


def retry_after_s(exc: BaseException) -> float | None:
    """Seconds the server asked us to wait (Retry-After: seconds or an HTTP date), if any."""
    headers = getattr(exc, "litellm_response_headers", None)
    if headers is None:
        headers = getattr(getattr(exc, "response", None), "headers", None)
    value = headers.get("retry-after") if headers is not None else None
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _retryable(exc: BaseException) -> bool:
    if isinstance(exc, asyncio.TimeoutError | TimeoutError | ConnectionError):
        return True
    status = getattr(exc, "status_code", None)
    if isinstance(status, int):
        return status in RETRY_STATUS or status >= 500
    name = type(exc).__name__
    return any(w in name for w in ("Timeout", "Connection", "ServiceUnavailable", "RateLimit"))


def _one_line(exc: BaseException, keys) -> str:
    status = getattr(exc, "status_code", None)
    text = " ".join(str(exc).split()) or type(exc).__name__
    text = text.replace("litellm.", "").replace("OpenAIException - ", "")
    text = re.sub(r"\b(\w+Error): \1: ", r"\1: ", text)  # litellm repeats the class name
    prefix = f"HTTP {status}: " if isinstance(status, int) else ""
    return redact(f"{prefix}{text}", keys)[:300]


@functools.lru_cache(maxsize=256)
def _unpriced(model: str) -> bool:
    """litellm has no price for this model (a local or self-hosted one, most often)."""
    litellm = import_litellm()
    try:
        info = litellm.get_model_info(model)
    except Exception:
        return True
    return info.get("input_cost_per_token") is None and info.get("output_cost_per_token") is None


# For a model litellm has no price for, its cost calculator searches its price table and
# fallbacks on every reply (a third of litellm's CPU per call, which bounds how far concurrency
# helps on a small machine). Stating a price of zero skips that search; the reply's cost is
# still recorded as unknown (None), never as free.
NO_PRICE = {"input_cost_per_token": 0.0, "output_cost_per_token": 0.0}


def _cost(litellm, model: str, response, prompt: int | None, completion: int | None):
    """Cost in USD where litellm knows the model's prices, else None (unknown, not free)."""
    if _unpriced(model):
        return None
    hidden = getattr(response, "_hidden_params", None) or {}
    if "response_cost" in hidden:  # litellm priced the reply already (None: no price known)
        cost = hidden["response_cost"]
        return float(cost) if cost is not None else None
    if prompt is None and completion is None:
        return None
    try:
        p, c = litellm.cost_per_token(
            model=model, prompt_tokens=prompt or 0, completion_tokens=completion or 0
        )
    except Exception:
        return None
    return float(p + c)


def _text_of(response) -> tuple[str | None, str | None]:
    """(text, None) for a usable reply, else (None, reason)."""
    choices = getattr(response, "choices", None)
    if not choices:
        return None, "invalid reply: no choices"
    content = getattr(getattr(choices[0], "message", None), "content", None)
    if not isinstance(content, str):
        return None, f"invalid reply: content is {type(content).__name__}, not text"
    if not content.strip():
        return None, "invalid reply: empty text"
    if len(content) > MAX_REPLY_CHARS:
        note = f" [truncated by univar: the reply had {len(content):,} characters]"
        content = content[:MAX_REPLY_CHARS] + note
    return content, None


async def complete(
    req: Request,
    *,
    api_key: str | None,
    policy: RetryPolicy,
    slot: asyncio.Semaphore,
    cancel: threading.Event | None = None,
    keys: list[str] | None = None,
) -> Reply:
    """Send `req`, retrying transient failures; always returns a Reply."""
    litellm = import_litellm()
    api_base, auth = split_url_auth(req.api_base)
    keys = list(keys or []) + ([api_key] if api_key else []) + list(auth.values())
    kwargs = dict(req.params) | {
        "model": req.model,
        "messages": req.message_dicts(),
        "api_base": api_base,
        "api_key": api_key,
        "timeout": policy.timeout_s,
        "num_retries": 0,
        "max_retries": 0,
    }
    if auth:
        kwargs["extra_headers"] = auth
    if _unpriced(req.model):
        kwargs |= NO_PRICE
    attempts, error = 0, "not sent"
    while True:
        attempts += 1
        wait = None
        async with slot:
            start = time.perf_counter()
            try:
                # A second fence: a server that trickles bytes can outlast the HTTP
                # client's read timeout. (asyncio.timeout: no extra task, unlike wait_for.)
                async with asyncio.timeout(policy.timeout_s + 5):
                    response = await litellm.acompletion(**kwargs)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # every failure becomes a reason or a retry
                error = _one_line(exc, keys)
                if isinstance(exc, asyncio.TimeoutError):
                    error = f"timed out after {policy.timeout_s:g} s"
                if not _retryable(exc) or attempts > policy.max_retries:
                    break
                wait = retry_after_s(exc)
            else:
                latency = (time.perf_counter() - start) * 1000
                text, problem = _text_of(response)
                usage = getattr(response, "usage", None)
                pt = getattr(usage, "prompt_tokens", None)
                ct = getattr(usage, "completion_tokens", None)
                if problem:
                    return Reply("error", error=problem, attempts=attempts, latency_ms=latency)
                return Reply(
                    "ok",
                    text=text,
                    prompt_tokens=pt,
                    completion_tokens=ct,
                    latency_ms=latency,
                    cost=_cost(litellm, req.model, response, pt, ct),
                    attempts=attempts,
                )
        if cancel is not None and cancel.is_set():
            error = f"cancelled after: {error}"
            break
        backoff = policy.base_s * 2 ** (attempts - 1) * (0.5 + random.random())
        await asyncio.sleep(min(policy.max_wait_s, wait if wait is not None else backoff))
    suffix = f" (after {attempts} attempts)" if attempts > 1 else ""
    return Reply("error", error=f"{error}{suffix}", attempts=attempts)


def run_blocking(coro):
    """Run a coroutine to its end and return its result, also from inside a running event loop
    (a notebook's): there it runs on a loop of its own in a worker thread."""
    import concurrent.futures

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()
