"""What the real-browser tests share: `streamlit run app.py` on a free port, headless Debian
Chromium through Playwright, and the small moves on Streamlit widgets."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def need_browser() -> None:
    pytest.importorskip("playwright")
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is absent: apt-get install chromium")


@contextlib.contextmanager
def streamlit_app(db: Path, log_dir: Path, **env: str):
    """The app on `db` (and any other environment), serving until the block ends; yields its
    URL. The server's output goes to log_dir/streamlit.log."""
    from univar.llm.local_server import free_port

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = os.environ | {"UNIVAR_DB": str(db), "HF_HUB_OFFLINE": "1"} | env
    with open(Path(log_dir) / "streamlit.log", "w") as log:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "streamlit",
                "run",
                "app.py",
                "--server.headless",
                "true",
                "--server.port",
                str(port),
                "--server.address",
                "127.0.0.1",
                "--browser.gatherUsageStats",
                "false",
            ],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            _wait_healthy(url, proc)
            yield url
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)


def _wait_healthy(url: str, proc: subprocess.Popen, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"streamlit exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise TimeoutError(f"{url} was not healthy after {timeout} s")


@contextlib.contextmanager
def chromium_page(width: int = 1600, height: int = 1150, timeout_ms: int = 120_000):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": width, "height": height})
            page.set_default_timeout(timeout_ms)
            yield page
        finally:
            browser.close()


def settle(page) -> None:
    """Wait until no script run is in progress: a click during a rerun can be lost."""
    quiet = 0
    while quiet < 3:
        busy = page.get_by_test_id("stStatusWidget").count()
        quiet = 0 if busy else quiet + 1
        page.wait_for_timeout(300)


def pick(page, label: str, text: str) -> None:
    """Add `text` to the multiselect labelled `label`."""
    box = page.get_by_test_id("stMultiSelect").filter(has_text=label)
    box.locator("input").click()
    box.locator("input").fill(text)
    page.keyboard.press("Enter")
    page.keyboard.press("Escape")


def choose(page, label: str, option: str) -> None:
    """Pick `option` in the selectbox labelled `label`."""
    settle(page)
    box = page.get_by_test_id("stSelectbox").filter(has_text=label)
    box.locator("input").click()
    box.locator("input").fill(option)  # long lists render only the options in view
    page.get_by_role("option", name=option, exact=True).click()
    settle(page)


def number(page, label: str, value: int) -> None:
    field = page.get_by_label(label, exact=True)
    field.fill(str(value))
    field.press("Enter")


def plot_traces(page, key: str | None = None) -> list[dict]:
    """type, meta, name and point count of every trace of the Plotly charts on the page (of
    the chart whose Streamlit key is `key`, when given)."""
    return page.evaluate(
        """(key) => {
          const charts = [...document.querySelectorAll('.js-plotly-plot')].filter(
            gd => !key || gd.closest(`.st-key-${key}`));
          return charts.flatMap((gd, chart) => (gd.data || []).map(t => ({
            chart, type: t.type || 'scatter', meta: t.meta ?? null, name: t.name ?? null,
            n: (t.customdata || t.x || t.r || t.z || []).length})));
        }""",
        key,
    )
