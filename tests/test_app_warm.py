"""`streamlit run app.py` serves app.py's App, whose start-up warms the process before the
server is up: the first page run then finds the pages' modules loaded (issue 16)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

from conftest import ROOT
from streamlit.web.server.app_discovery import discover_asgi_app

HEAVY = ("torch", "sentence_transformers", "transformers", "umap", "numba", "litellm")


def test_streamlit_run_finds_the_app_in_app_py():
    found = discover_asgi_app(ROOT / "app.py")
    assert found.is_asgi_app and found.import_string == "app:app"


def test_the_warm_up_loads_the_pages_modules_and_nothing_heavy():
    script = textwrap.dedent(
        f"""
        import asyncio, json, sys
        sys.path.insert(0, {str(ROOT)!r})
        import app

        async def start():
            async with app.warm(None):
                pass

        before = set(sys.modules)
        asyncio.run(start())
        print(json.dumps({{
            "imports": app.page_imports(),
            "loaded": sorted(set(sys.modules) - before),
            "heavy": [m for m in {HEAVY!r} if m in sys.modules],
        }}))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=300, cwd=ROOT
    )
    assert done.returncode == 0, done.stderr[-2000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["heavy"] == []
    # what the Value map page and its figure need is loaded before the first session
    for module in ("pandas", "univar.analysis.mapdata", "univar.figures.value_map", "univar.store"):
        assert module in out["loaded"], module
    # the pages themselves are not: importing pages._shared outside a session would switch
    # Streamlit's folder mode off before a deep link could be served
    assert not [m for m in out["loaded"] if m.split(".")[0] == "pages"]
    assert "analysis.mapdata" in out["imports"]  # named under univar., the only ones imported


def test_a_failing_warm_up_step_does_not_stop_the_server_starting():
    script = textwrap.dedent(
        f"""
        import asyncio, sys
        sys.path.insert(0, {str(ROOT)!r})
        import app
        from univar import encoders

        def broken():
            raise RuntimeError("a broken encoder setting")

        encoders.encoder_id = broken

        async def start():
            async with app.warm(None):
                print("serving")

        asyncio.run(start())
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=300, cwd=ROOT
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().endswith("serving")
    assert "warm-up step broken skipped: a broken encoder setting" in done.stderr
