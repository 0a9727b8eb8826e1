"""`check_connection`: one cheap real call through litellm, failures in plain words, no key echoed.

The servers are real HTTP servers on loopback: `KeyServer` wants one bearer key and knows one
model, as a hosted API does; `FaultServer` hangs on request.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from fault_server import FaultServer

from univar.errors import UserError
from univar.llm.endpoints import check_api_base, check_connection
from univar.llm.local_server import free_port

GOOD_KEY = "sk-good-key-0123456789"
BAD_KEY = "sk-wrong-key-9876543210"


class _KeyHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
        auth = self.headers.get("Authorization") or ""
        self.server.requests += 1
        if auth != f"Bearer {GOOD_KEY}":
            # Real providers echo part of the key they refused: the message must not.
            status, obj = 401, {"error": {"message": f"Incorrect API key provided: {auth}"}}
        elif body.get("model") != "fake":
            status, obj = 404, {"error": {"message": f"model {body.get('model')} not found"}}
        else:
            message = {"role": "assistant", "content": "OK"}
            status, obj = (
                200,
                {
                    "id": "x",
                    "object": "chat.completion",
                    "created": 1,
                    "model": "fake",
                    "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
                    "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4},
                },
            )
        data = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class KeyServer:
    """An OpenAI-compatible server that accepts only GOOD_KEY and only the model `fake`."""

    def __enter__(self) -> KeyServer:
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _KeyHandler)
        self._httpd.daemon_threads = True
        self._httpd.requests = 0
        self.api_base = f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"
        threading.Thread(target=self._httpd.serve_forever, daemon=True).start()
        return self

    @property
    def requests(self) -> int:
        return self._httpd.requests

    def __exit__(self, *exc) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


@pytest.fixture(scope="module")
def key_server():
    with KeyServer() as server:
        yield server


def test_good_key_answers(key_server):
    result = check_connection("openai/fake", key_server.api_base, GOOD_KEY)
    assert result.ok and result.kind == "ok"
    assert result.latency_ms is not None


def test_wrong_key_is_named_and_never_echoed(key_server):
    result = check_connection("openai/fake", key_server.api_base, BAD_KEY)
    assert (result.ok, result.kind) == (False, "bad_key")
    assert "API key" in result.message and BAD_KEY not in result.message
    assert "wrong-key" not in result.message


def test_missing_key_is_told_apart_from_a_wrong_one(key_server, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    result = check_connection("openai/fake", key_server.api_base)
    assert result.kind == "no_key"


def test_unknown_model(key_server):
    result = check_connection("openai/nope", key_server.api_base, GOOD_KEY)
    assert result.kind == "unknown_model" and "nope" in result.message


def test_unreachable_host_says_nothing_listens():
    api_base = f"http://127.0.0.1:{free_port()}/v1"
    result = check_connection("openai/fake", api_base, GOOD_KEY)
    assert result.kind == "unreachable" and "nothing is listening" in result.message
    assert GOOD_KEY not in result.message


def test_unknown_host_name():
    result = check_connection("openai/fake", "http://no-such-host.invalid/v1", GOOD_KEY)
    assert result.kind == "unreachable" and "host name" in result.message


def test_unknown_provider_prefix():
    result = check_connection("nosuchprovider/model-x", None, "x")
    assert result.kind == "unknown_model" and "provider" in result.message


@pytest.mark.slow
def test_timeout_is_named():
    with FaultServer(mode="hang") as fs:
        result = check_connection("openai/fake", fs.api_base, "k", timeout_s=1.0)
    assert result.kind == "timeout" and "1 s" in result.message


@pytest.mark.parametrize(
    "model, api_base",
    [("", None), ("open ai/x", None), ("openai/fake", "ftp://host/v1"), ("openai/x", "localhost")],
)
def test_bad_input_raises_user_error_before_any_call(model, api_base):
    with pytest.raises(UserError):
        check_connection(model, api_base, "k")


def test_check_api_base_accepts_blank_and_urls():
    assert check_api_base("  ") is None
    assert check_api_base(" http://127.0.0.1:8010/v1 ") == "http://127.0.0.1:8010/v1"
