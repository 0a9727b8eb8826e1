"""A tiny OpenAI-compatible chat server (standard library only) that misbehaves on request.

`POST /v1/chat/completions` answers with a deterministic echo of the last user message. A
translation prompt (univar.elicit.translation's: "... into French. ...\n\nEnglish: TEXT\n\nFrench:")
gets "[French] TEXT" back, so tests can follow a text through the translation steps.

Behaviour is set on the object and may change while it runs:
  delay_s      sleep before every reply (a slow model)
  mode         'ok' | '429' | '500' | '503' | 'hang' | 'reset' | 'invalid_json' |
               'empty_choices' | 'null_content' | 'huge' | 'non_utf8' | 'auth_echo' (401 that
               quotes the Authorization header back)
  script       modes for the next requests, consumed first (e.g. ['429', 'ok'])
  fail_every   every Nth request fails, alternating 429 and 500 (0: never)
  retry_after  value of the Retry-After header sent with 429/503 (None: no header)
Counters: `requests` (POSTs received), `inflight_max`, `bodies` (parsed JSON), `auth` (the
Authorization headers seen).
"""

from __future__ import annotations

import json
import socket
import struct
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HUGE_BYTES = 10 * 1024 * 1024


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def setup(self):
        super().setup()
        # Headers and body go out in two writes: without TCP_NODELAY, Nagle's algorithm and
        # the client's delayed ACK add ~40 ms to every keep-alive reply.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, *args):  # keep test output quiet
        pass

    def do_GET(self):
        if self.path.rstrip("/") == "/stats":  # counters, for a server in another process
            fs = self.server.owner
            self._json(200, {"requests": fs.requests, "inflight_max": fs.inflight_max})
        elif self.path.rstrip("/").endswith("/models"):
            self._json(200, {"object": "list", "data": [{"id": "fake", "object": "model"}]})
        else:
            self._json(404, {"error": {"message": "not found"}})

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        fs = self.server.owner
        mode = fs._next_mode(body, self.headers.get("Authorization"))
        try:
            self._reply(fs, mode, json.loads(body or b"{}"))
        finally:
            with fs._lock:
                fs._inflight -= 1

    def _reply(self, fs: FaultServer, mode: str, req: dict) -> None:
        if fs.delay_s:
            time.sleep(fs.delay_s)
        if mode == "hang":
            fs._stop.wait(600)
            return
        if mode == "reset":  # RST instead of a reply: SO_LINGER with a zero timeout
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
            self.close_connection = True
            return
        if mode == "auth_echo":  # a careless server that quotes the key back in its error
            msg = f"invalid api key: {self.headers.get('Authorization')}"
            self._json(401, {"error": {"message": msg, "type": "invalid_request_error"}})
            return
        if mode in ("429", "500", "503"):
            headers = {"Retry-After": fs.retry_after} if fs.retry_after is not None else {}
            err = {"error": {"message": f"injected {mode}", "type": "server_error"}}
            self._json(int(mode), err, headers)
            return
        if mode == "invalid_json":
            self._raw(200, b'{"id": "x", "choices": [ {"mess')
            return
        if mode == "non_utf8":
            self._raw(
                200,
                b'{"choices": [{"index": 0, "message": {"role": "assistant", '
                b'"content": "caf\xe9 \xff\xfe"}, "finish_reason": "stop"}]}',
            )
            return
        content = _echo(req)
        if mode == "huge":
            content = "x" * HUGE_BYTES
        if mode == "null_content":
            content = None
        choices = (
            []
            if mode == "empty_choices"
            else [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": content},
                    "finish_reason": "stop",
                }
            ]
        )
        prompt = sum(len(str(m.get("content", "")).split()) for m in req.get("messages", []))
        completion = len((content or "").split()) if mode != "huge" else 1
        self._json(
            200,
            {
                "id": f"chatcmpl-{fs.requests}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": req.get("model", "fake"),
                "choices": choices,
                "usage": {
                    "prompt_tokens": prompt,
                    "completion_tokens": completion,
                    "total_tokens": prompt + completion,
                },
            },
        )

    def _json(self, status: int, obj: dict, headers: dict | None = None) -> None:
        self._raw(status, json.dumps(obj).encode("utf-8"), headers)

    def _raw(self, status: int, data: bytes, headers: dict | None = None) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (its timeout): nothing to do


def _echo(req: dict) -> str:
    users = [m for m in req.get("messages", []) if m.get("role") == "user"]
    text = str(users[-1].get("content", "")) if users else ""
    if text.startswith(("Translate this ", "Rewrite the following ")) and text.count("\n\n") >= 2:
        body, _, label = text.partition("\n\n")[2].rpartition("\n\n")
        return f"[{label.strip().rstrip(':')}] {body.partition(': ')[2]}"
    return f"My answer to '{text}' is: it depends on the situation."


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128
    owner: FaultServer

    def handle_error(self, request, client_address):
        pass  # a client that hangs up (its timeout, a kill -9) is part of the game here


class FaultServer:
    """Start with `with FaultServer() as fs:`; `fs.api_base` is the URL to give litellm."""

    def __init__(
        self,
        *,
        delay_s: float = 0.0,
        mode: str = "ok",
        fail_every: int = 0,
        retry_after: str | None = None,
    ):
        self.delay_s, self.mode, self.fail_every = delay_s, mode, fail_every
        self.retry_after = retry_after
        self.script: list[str] = []
        self.requests = 0
        self.inflight_max = 0
        self.bodies: list[dict] = []
        self.auth: list[str | None] = []
        self._inflight = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._httpd = _Server(("127.0.0.1", 0), _Handler)
        self._httpd.owner = self
        self.port = self._httpd.server_address[1]
        self.api_base = f"http://127.0.0.1:{self.port}/v1"
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    def _next_mode(self, body: bytes, auth: str | None) -> str:
        with self._lock:
            self.requests += 1
            self._inflight += 1
            self.inflight_max = max(self.inflight_max, self._inflight)
            self.auth.append(auth)
            try:
                self.bodies.append(json.loads(body or b"{}"))
            except ValueError:
                self.bodies.append({})
            if self.script:
                return self.script.pop(0)
            if self.fail_every and self.requests % self.fail_every == 0:
                return "429" if (self.requests // self.fail_every) % 2 else "500"
            return self.mode

    def reset(self) -> FaultServer:
        """Back to answering every request at once, with fresh counters."""
        self.mode, self.fail_every, self.delay_s, self.retry_after = "ok", 0, 0.0, None
        self.script.clear()
        self.reset_counters()
        return self

    def reset_counters(self) -> None:
        with self._lock:
            self.requests, self.inflight_max = 0, 0
            self.bodies.clear()
            self.auth.clear()

    def start(self) -> FaultServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> FaultServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def elicit_config(fs: FaultServer, bank, n=3, languages=("eng",), **kw):
    """An ElicitConfig of the first n questions of `bank` against `fs`, with short retries."""
    from univar.elicit.settings import ElicitConfig

    kw = dict(timeout_s=5.0, max_retries=2, retry_base_s=0.01, retry_max_s=0.2) | kw
    ids = tuple(q.question_id for q in bank[:n])
    return ElicitConfig(
        model="openai/fake", api_base=fs.api_base, languages=languages, question_ids=ids, **kw
    )


if __name__ == "__main__":  # manual poking: python tests/fault_server.py
    with FaultServer(delay_s=0.1) as server:
        print(server.api_base, flush=True)
        threading.Event().wait()
