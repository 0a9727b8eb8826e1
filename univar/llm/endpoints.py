"""Test one model endpoint with a single cheap call, and say what is wrong in plain words.

litellm wraps every failure in a handful of classes whose messages are long, provider-specific
and sometimes echo the key a server refused. We walk the exception chain (litellm -> openai ->
httpx -> socket) to tell a bad key from an unknown model, an unreachable host or a timeout, and
return one short sentence that never contains the key. In shared mode every way of not
reaching a host is the same sentence, so that the server is no port scanner for its users, and
an api_base off the operator's allow-list is refused before anything is sent.
"""

from __future__ import annotations

import socket
import time
import urllib.parse
from dataclasses import dataclass
from urllib.parse import urlparse

from univar import policy as policies
from univar.catalog.registry import check_model_string
from univar.errors import UserError
from univar.llm.client import import_litellm
from univar.llm.keys import key_for, redact_url, request_key, split_url_auth

ALLOW_LIST_HINT = (
    "the operator can add it to allowed_api_bases in [univar] of .streamlit/secrets.toml "
    "or to UNIVAR_ALLOWED_API_BASES"
)


@dataclass(frozen=True)
class ConnectionResult:
    ok: bool
    kind: str  # ok | bad_key | no_key | unknown_model | unreachable | timeout | rate_limited | ...
    message: str  # one line, safe to show: never holds a key
    latency_ms: float | None = None


def check_api_base(api_base: str | None) -> str | None:
    """None or an http(s) URL with a host; raises UserError otherwise."""
    if api_base is None or not api_base.strip():
        return None
    api_base = api_base.strip()
    parts = urlparse(api_base)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise UserError(
            "api_base must be an http(s) URL such as http://127.0.0.1:8010/v1, "
            f"got {redact_url(api_base)[:80]!r}"
        )
    return api_base


def check_allowed(api_base: str | None, policy: policies.Policy | None = None) -> None:
    """UserError when this server's policy does not let a user send requests to `api_base`."""
    policy = policies.given(policy)
    if api_base and not policy.api_base_allowed(api_base):
        raise UserError(
            f"api_base {redact_url(api_base)} is not allowed on this shared server: "
            f"{ALLOW_LIST_HINT}"
        )


def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    while exc is not None and exc not in seen and len(seen) < 12:
        seen.append(exc)
        exc = exc.__cause__ or exc.__context__
    return seen


def _names(chain: list[BaseException]) -> set[str]:
    return {type(e).__name__ for e in chain}


_UNREACHABLE = {
    "Timeout",
    "APITimeoutError",
    "ReadTimeout",
    "ConnectTimeout",
    "TimeoutError",
    "gaierror",
    "ConnectionRefusedError",
    "UnsupportedProtocol",
    "APIConnectionError",
    "ConnectError",
    "ConnectionError",
    "RemoteProtocolError",
}


def describe_error(
    exc: BaseException,
    model: str,
    api_base: str | None,
    key_given: bool,
    timeout_s: float,
    *,
    shared: bool = False,
) -> tuple[str, str]:
    """(kind, plain message) for a failed call; the message names the endpoint, not the key.
    `shared`: one sentence for a refused, silent or unknown host."""
    chain = _chain(exc)
    names = _names(chain)
    status = next((s for e in chain if isinstance(s := getattr(e, "status_code", None), int)), None)
    text = " ".join(str(exc).split()).lower()
    where = redact_url(api_base) or f"the {model.split('/', 1)[0]} API"
    if shared and names & _UNREACHABLE:
        return "unreachable", f"cannot reach {where}"
    if names & {"Timeout", "APITimeoutError", "ReadTimeout", "ConnectTimeout", "TimeoutError"}:
        return "timeout", f"{where} did not answer within {timeout_s:g} s"
    if "gaierror" in names:
        return "unreachable", f"cannot reach {where}: the host name is not known (check the URL)"
    if "ConnectionRefusedError" in names:
        return (
            "unreachable",
            f"cannot reach {where}: nothing is listening there (is the server up?)",
        )
    if "UnsupportedProtocol" in names:
        return "unreachable", f"cannot reach {where}: the URL is not valid"
    if names & {"APIConnectionError", "ConnectError", "ConnectionError", "RemoteProtocolError"}:
        return "unreachable", f"cannot reach {where}: the connection failed"
    if "missing credentials" in text or ("api_key" in text and "must be set" in text):
        return "no_key", f"no API key for {model}: type one here or set it in the environment"
    if status in (401, 403) or "AuthenticationError" in names or "PermissionDeniedError" in names:
        if not key_given:
            return "no_key", (
                f"{where} asks for an API key and none was given (a key set on the server "
                "goes only to its provider's own endpoints)"
            )
        return "bad_key", f"{where} refused the API key (HTTP {status or 401}): check the key"
    if "llm provider not provided" in text:
        return "unknown_model", (
            f"litellm does not know the provider of {model!r}: use a form such as "
            "openai/gpt-4o-mini, or openai/NAME with an api_base"
        )
    if status == 404 or "NotFoundError" in names:
        return "unknown_model", f"{where} does not know the model {model!r} (HTTP 404)"
    if status == 429 or "RateLimitError" in names:
        return "rate_limited", f"{where} answered 'too many requests' (HTTP 429): the key works"
    if status == 400 or "BadRequestError" in names:
        return "bad_request", f"{where} rejected the request (HTTP 400) for {model!r}"
    if isinstance(status, int) and status >= 500:
        return "server_error", f"{where} failed with a server error (HTTP {status})"
    return "error", f"the call to {model} failed ({type(exc).__name__})"


def check_connection(
    model: str,
    api_base: str | None = None,
    api_key: str | None = None,
    *,
    timeout_s: float = 20.0,
    policy: policies.Policy | None = None,
) -> ConnectionResult:
    """Send one 1-token request to `model`; never raises for a failed call, only for bad input
    (an api_base the policy does not allow included). `api_key`: one typed for this endpoint;
    else the operator's key where the policy lets it go (`keys.key_for`)."""

    policy = policies.given(policy)
    model = check_model_string(model)
    api_base = check_api_base(api_base)
    check_allowed(api_base, policy)
    bare_base, auth = split_url_auth(api_base)
    key_given = bool(key_for(model, api_base, typed=api_key or None, policy=policy)[0] or auth)
    key = request_key(model, api_base, typed=api_key or None, policy=policy)
    litellm = import_litellm()
    start = time.perf_counter()
    try:
        litellm.completion(
            model=model,
            api_base=bare_base,
            api_key=key,
            extra_headers=auth or None,
            messages=[{"role": "user", "content": "Say OK."}],
            max_tokens=1,
            timeout=timeout_s,
            num_retries=0,
            max_retries=0,
        )
    except Exception as exc:  # every failure becomes a sentence
        kind, message = describe_error(
            exc, model, api_base, key_given, timeout_s, shared=policy.shared
        )
        return ConnectionResult(False, kind, message)
    latency = (time.perf_counter() - start) * 1000
    return ConnectionResult(True, "ok", f"{model} answered in {latency:,.0f} ms", latency)


def check_reachable(
    url: str, timeout: float = 3.0, *, policy: policies.Policy | None = None
) -> None:
    """One TCP connect to the api_base's host and port; UserError when nothing listens, or,
    without connecting, when the policy does not allow the api_base."""
    policy = policies.given(policy)
    shown = redact_url(url)
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UserError(f"api_base {shown!r} must be an http:// or https:// URL")
    check_allowed(url, policy)
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise UserError(f"api_base {shown!r} has no valid port") from None
    try:
        socket.create_connection((parts.hostname, port), timeout=timeout).close()
    except OSError as exc:
        if policy.shared:
            raise UserError(f"cannot reach {shown}") from None
        if isinstance(exc, ConnectionRefusedError):
            raise UserError(f"cannot reach {shown} (connection refused)") from None
        if isinstance(exc, TimeoutError):
            raise UserError(f"cannot reach {shown} (no answer within {timeout:g} s)") from None
        raise UserError(f"cannot reach {shown} ({exc.strerror or exc})") from None
