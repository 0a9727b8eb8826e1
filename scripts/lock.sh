#!/usr/bin/env bash
# Regenerate requirements.lock from requirements.txt: every package pinned, with hashes that
# `pip install --require-hashes -r requirements.lock` checks.
#
#   bash scripts/lock.sh            # rewrite requirements.lock
#   bash scripts/lock.sh --verify   # also install the lock into a fresh venv and import the stack
#
# The resolution uses this machine's pip configuration (`pip config list`): torch comes from
# the CPU wheel in its find-links folder, so the lock holds that wheel's hash; everything else
# gets PyPI's hashes (all files of the pinned version, so other platforms install too). On a
# machine without that folder, point pip at the same wheel, e.g.
#   pip install --require-hashes -r requirements.lock --find-links https://download.pytorch.org/whl/cpu
set -euo pipefail
cd "$(dirname "$0")/.."
export PIP_DISABLE_PIP_VERSION_CHECK=1

TOOLS=.cache/lock-tools  # pip-tools lives apart from the project's environment
if [ ! -x "$TOOLS/bin/pip-compile" ]; then
  python -m venv "$TOOLS"
  "$TOOLS/bin/pip" install -q pip-tools==7.6.2
fi

CUSTOM_COMPILE_COMMAND="bash scripts/lock.sh" "$TOOLS/bin/pip-compile" -q \
  --generate-hashes --allow-unsafe --strip-extras \
  --no-emit-index-url --no-emit-find-links --no-emit-trusted-host \
  --resolver=backtracking --rebuild \
  -o requirements.lock requirements.txt

# The CPU wheel is versioned 2.13.0+cpu; requirements.txt says torch==2.13.0, which pip
# matches to it. Keep the lock's pin identical to requirements.txt's.
sed -i -E 's/^torch==([0-9.]+)\+cpu /torch==\1 /' requirements.lock

if [ "${1:-}" = "--verify" ]; then
  CHECK=$(mktemp -d)/venv
  python -m venv "$CHECK"
  "$CHECK/bin/pip" install -q --require-hashes -r requirements.lock
  LITELLM_LOCAL_MODEL_COST_MAP=True "$CHECK/bin/python" -c \
    "import torch, sentence_transformers, streamlit, litellm, duckdb; print('lock ok: torch', torch.__version__, 'litellm', litellm.__version__ if hasattr(litellm, '__version__') else '?')"
  rm -rf "$(dirname "$CHECK")"
fi
