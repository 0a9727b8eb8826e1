"""Serve the shipped tiny LLMs (SmolLM2, Gemma-3) as an OpenAI-compatible API on loopback.

Installs llama-cpp-python if needed (see `univar.llm.local_server.ensure_llama_cpp`), starts one
llama.cpp server process for the chosen models and blocks until Ctrl-C (or SIGTERM), then stops
it. Both models are weak stand-ins for real LLMs: good for offline work, the demo and the tests.
"""

from __future__ import annotations

import argparse
import ipaddress
import signal
import sys
import time

from univar.errors import UserError
from univar.paths import CACHE_DIR


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--models",
        default="smollm2,gemma3",
        help="comma-separated local models to serve: smollm2, gemma3 (default: both)",
    )
    parser.add_argument("--port", type=int, default=8010, help="TCP port (default: 8010)")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1)")
    parser.add_argument(
        "--allow-remote",
        action="store_true",
        help="allow a non-loopback --host: anyone who reaches it can use the models",
    )
    parser.add_argument(
        "--threads", type=int, default=None, help="CPU threads per request (default: all cores)"
    )
    parser.add_argument(
        "--log-dir",
        default=str(CACHE_DIR / "llm-server"),
        help="folder for the server's config and log (default: .cache/llm-server)",
    )


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _raise_interrupt(signum, frame):
    raise KeyboardInterrupt


def run(args: argparse.Namespace) -> int:
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    if not is_loopback(args.host) and not args.allow_remote:
        raise UserError(
            f"--host {args.host} is not a loopback address: add --allow-remote to serve beyond"
            " this machine"
        )
    if args.threads is not None and args.threads < 1:
        raise UserError(f"--threads must be at least 1, got {args.threads}")

    from univar.llm import local_server

    # `kill PID` stops cleanly too, even while the server is starting (start() stops it then).
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        server = local_server.start(
            models=models,
            host=args.host,
            port=args.port,
            n_threads=args.threads,
            log_dir=args.log_dir,
        )
    except BaseException:
        signal.signal(signal.SIGTERM, previous)
        raise
    try:
        for name in server.models:
            print(f"{name}: api_base {server.api_base(name)}  (litellm model openai/{name})")
        first = server.models[0]
        print(
            f"example: python -m univar elicit --model openai/{first}"
            f" --api-base {server.api_base(first)}"
        )
        print(f"log: {server.log_path}")
        print("serving; press Ctrl-C to stop", flush=True)
        while server.running():
            time.sleep(0.5)
        print(
            f"error: the server exited with code {server.process.returncode};"
            f" see {server.log_path}",
            file=sys.stderr,
        )
        return 1
    except KeyboardInterrupt:
        print("stopping the local LLM server", file=sys.stderr, flush=True)
        return 0
    finally:
        server.stop()
        signal.signal(signal.SIGTERM, previous)
