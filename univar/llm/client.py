"""One LLM request, with our own retries, timeout and reply checks.

A request to an OpenAI-compatible server of its own (`openai/<name>` with an api_base: llama.cpp,
vLLM, a proxy) is sent straight to `{api_base}/chat/completions`, the request litellm's openai
route makes, over one aiohttp session per event loop (so per run: `run_blocking` closes it).
litellm's per-call work (provider resolution, logging objects, its cost calculator) took about
8 ms of CPU a call on 2 cores, most of a loopback request's cost: at concurrency 16 it capped
the speedup near 8x (bench/bench_elicit.py). Every other model goes through litellm.

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
import weakref
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from univar.llm.keys import redact, redact_url, split_url_auth

MAX_REPLY_CHARS = 64 * 1024
MAX_REPLY_BYTES = 64 * 2**20  # a body read off the wire; the 10 MB test reply fits
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

    @functools.cached_property
    def key(self) -> str:  # asked for by the cache lookup, the in-flight map and the writer
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


@functools.cache
def import_litellm():
    """litellm, imported on first use (about 4 s) and told never to fetch its price table.
    Set up once: `setLevel` clears every logger's level cache, each time it is called."""
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
        headers = getattr(exc, "headers", None)
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


class EndpointError(Exception):
    """A failed direct request: an HTTP error status, a broken connection or an unusable body.
    `retryable` None: decided by the status, as for litellm's errors."""

    def __init__(self, message: str, *, status_code=None, headers=None, retryable=None):
        super().__init__(message)
        self.status_code, self.headers, self.retryable = status_code, headers, retryable


def _retryable(exc: BaseException) -> bool:
    if isinstance(exc, asyncio.TimeoutError | TimeoutError | ConnectionError):
        return True
    if getattr(exc, "retryable", None) is not None:
        return bool(exc.retryable)
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


def _cost(litellm, model: str, response, prompt: int | None, completion: int | None):
    """Cost in USD where litellm knows the model's prices, else None (unknown, not free)."""
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


@functools.cache
def _priced(model: str) -> bool:
    """Whether litellm knows a price for `model`: asked once per model, not once per reply
    (a local server's model has none, and finding that out costs milliseconds each time)."""
    return _cost(import_litellm(), model, None, 1, 1) is not None


def _check_text(content) -> tuple[str | None, str | None]:
    if not isinstance(content, str):
        return None, f"invalid reply: content is {type(content).__name__}, not text"
    if not content.strip():
        return None, "invalid reply: empty text"
    if len(content) > MAX_REPLY_CHARS:
        note = f" [truncated by univar: the reply had {len(content):,} characters]"
        content = content[:MAX_REPLY_CHARS] + note
    return content, None


def _text_of(response) -> tuple[str | None, str | None]:
    """(text, None) for a usable litellm reply, else (None, reason)."""
    choices = getattr(response, "choices", None)
    if not choices:
        return None, "invalid reply: no choices"
    return _check_text(getattr(getattr(choices[0], "message", None), "content", None))


def _text_of_json(data) -> tuple[str | None, str | None]:
    """The same for a chat completion's JSON, as a direct request reads it."""
    choices = data.get("choices") if isinstance(data, dict) else None
    if not choices or not isinstance(choices, list):
        return None, "invalid reply: no choices"
    message = choices[0].get("message") if isinstance(choices[0], dict) else None
    return _check_text(message.get("content") if isinstance(message, dict) else None)


def _tokens(usage) -> tuple[int | None, int | None]:
    if not isinstance(usage, dict):
        return None, None
    pt, ct = usage.get("prompt_tokens"), usage.get("completion_tokens")
    return (pt if isinstance(pt, int) else None), (ct if isinstance(ct, int) else None)


# --- the direct transport --------------------------------------------------------------------

_sessions: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # event loop -> session
sessions_opened = 0  # how many sessions this process opened: one per run (see the tests)


def direct_route(model: str, api_base: str | None) -> bool:
    """Whether a request goes straight to an OpenAI-compatible server rather than through
    litellm: an `openai/` model at an http(s) api_base without a query (litellm's route for a
    query, e.g. an api-version, is its own)."""
    if not api_base or not model.startswith("openai/"):
        return False
    parts = urlsplit(api_base)
    return parts.scheme in ("http", "https") and not parts.query and not parts.fragment


def _session():
    """This event loop's HTTP session: its connections stay open from one request to the next.
    The endpoints' semaphores cap the requests in flight, so the pool itself is unbounded."""
    global sessions_opened
    loop = asyncio.get_running_loop()
    session = _sessions.get(loop)
    if session is None or session.closed:
        import aiohttp

        # trust_env: proxies from the environment, as litellm's own aiohttp transport does
        session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0), trust_env=True)
        _sessions[loop] = session
        sessions_opened += 1
    return session


async def close_session() -> None:
    """Close this event loop's session, if it opened one."""
    try:
        session = _sessions.pop(asyncio.get_running_loop(), None)
    except RuntimeError:
        return
    if session is not None:
        await session.close()


def _error_text(status: int, body: bytes) -> str:
    """What an error reply says: an OpenAI-style {"error": {"message": ...}}, else its start."""
    text = body[:2000].decode("utf-8", "replace")
    try:
        data = json.loads(body)
    except ValueError:
        return " ".join(text.split())[:200] or f"status {status}"
    error = data.get("error") if isinstance(data, dict) else None
    message = error.get("message") if isinstance(error, dict) else error
    return str(message or text)[:300]


async def _post_chat(url: str, body: dict, headers: dict, timeout_s: float):
    """POST one chat completion; its JSON, or EndpointError / TimeoutError."""
    import aiohttp

    # per read and per connect, as the OpenAI SDK's timeout is; `complete` fences the whole
    timeout = aiohttp.ClientTimeout(total=None, sock_connect=timeout_s, sock_read=timeout_s)
    try:
        async with _session().post(url, json=body, headers=headers, timeout=timeout) as resp:
            data = bytearray()
            async for chunk in resp.content.iter_chunked(1 << 16):
                data += chunk
                if len(data) > MAX_REPLY_BYTES:
                    raise EndpointError(
                        f"invalid reply: over {MAX_REPLY_BYTES // 2**20} MB", retryable=False
                    )
            status, reply_headers = resp.status, resp.headers
    except TimeoutError:
        raise
    except aiohttp.ClientError as exc:
        raise EndpointError(
            f"connection error: {exc or type(exc).__name__}", retryable=True
        ) from exc
    if not 200 <= status < 300:
        raise EndpointError(_error_text(status, data), status_code=status, headers=reply_headers)
    try:
        return json.loads(data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise EndpointError(f"invalid reply: not UTF-8 ({exc})", retryable=True) from None
    except ValueError as exc:
        raise EndpointError(f"invalid reply: not JSON ({exc})", retryable=True) from None


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
    api_base, auth = split_url_auth(req.api_base)
    keys = list(keys or []) + ([api_key] if api_key else []) + list(auth.values())
    direct = direct_route(req.model, api_base)
    if direct:
        url = api_base.rstrip("/") + "/chat/completions"
        body = dict(req.params) | {
            "model": req.model.split("/", 1)[1],
            "messages": req.message_dicts(),
        }
        # credentials of the URL replace the bearer key, as litellm's extra_headers do
        headers = ({"Authorization": f"Bearer {api_key}"} if api_key else {}) | auth
        priced = _priced(req.model)
    else:
        litellm = import_litellm()
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
                    if direct:
                        data = await _post_chat(url, body, headers, policy.timeout_s)
                    else:
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
                if direct:
                    text, problem = _text_of_json(data)
                    pt, ct = _tokens(data.get("usage"))
                    cost = _cost(import_litellm(), req.model, None, pt, ct) if priced else None
                else:
                    text, problem = _text_of(response)
                    usage = getattr(response, "usage", None)
                    pt = getattr(usage, "prompt_tokens", None)
                    ct = getattr(usage, "completion_tokens", None)
                    cost = None if problem else _cost(litellm, req.model, response, pt, ct)
                if problem:
                    return Reply("error", error=problem, attempts=attempts, latency_ms=latency)
                return Reply(
                    "ok",
                    text=text,
                    prompt_tokens=pt,
                    completion_tokens=ct,
                    latency_ms=latency,
                    cost=cost,
                    attempts=attempts,
                )
        if cancel is not None and cancel.is_set():
            error = f"cancelled after: {error}"
            break
        backoff = policy.base_s * 2 ** (attempts - 1) * (0.5 + random.random())
        await asyncio.sleep(min(policy.max_wait_s, wait if wait is not None else backoff))
    suffix = f" (after {attempts} attempts)" if attempts > 1 else ""
    return Reply("error", error=f"{error}{suffix}", attempts=attempts)


async def _closing(coro):
    try:
        return await coro
    finally:
        await close_session()


def run_blocking(coro):
    """Run a coroutine to its end and return its result, also from inside a running event loop
    (a notebook's): there it runs on a loop of its own in a worker thread."""
    import concurrent.futures

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(_closing(coro))
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, _closing(coro)).result()
