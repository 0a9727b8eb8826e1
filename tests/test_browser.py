"""The main path in a real browser: `streamlit run app.py`, headless Chromium through Playwright.

One Streamlit server and one page per module (fixtures `server` and `page`); later steps add
test functions that reuse them. The server gets a demo database whose maps are computed in
the fixture, so nothing waits on UMAP's ~30 s compile inside the server.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from helpers_demo import build_demo_db, fulcra_rows

pytestmark = [pytest.mark.slow, pytest.mark.browser]

ROOT = Path(__file__).resolve().parent.parent
SHOTS = ROOT / "out" / "browser"
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
PER_MODEL = 12  # 5 real LLMs: 60 QA pairs
DROPPED = "gemini"  # the model the test removes from the map
MAP = ".js-plotly-plot .main-svg"
QA_POINTS = """() => {
  const gd = document.querySelector('.js-plotly-plot');
  if (!gd || !gd.data) return -1;
  return gd.data.filter(t => t.meta === 'qa').reduce((n, t) => n + t.customdata.length, 0);
}"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_healthy(url: str, proc: subprocess.Popen, timeout: float = 90) -> None:
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


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory) -> Path:
    """Real answers, real MiniLM vectors, and the default UMAP maps the test will show."""
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is absent: apt-get install chromium")
    from univar import embed, projection
    from univar.config import ProjectionConfig

    encoder = embed.load_encoder()
    path = build_demo_db(tmp_path_factory.mktemp("browser") / "demo.duckdb", PER_MODEL)
    embed.embed_qa(path, encoder)
    rows = fulcra_rows(PER_MODEL)
    for keep in (rows, [r for r in rows if r["model"] != DROPPED]):
        projection.project(path, encoder, [r["qa_id"] for r in keep], ProjectionConfig())
    return path


@pytest.fixture(scope="module")
def server(demo_db, tmp_path_factory):
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "UNIVAR_DB": str(demo_db), "HF_HUB_OFFLINE": "1"}
    log = open(tmp_path_factory.mktemp("server") / "streamlit.log", "w")  # noqa: SIM115
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
         "--server.port", str(port), "--server.address", "127.0.0.1",
         "--browser.gatherUsageStats", "false"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        wait_healthy(url, proc)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


@pytest.fixture(scope="module")
def page(server):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        tab = browser.new_page(viewport={"width": 1600, "height": 1150})
        tab.set_default_timeout(120_000)
        tab.goto(server)
        tab.wait_for_selector(MAP)
        yield tab
        browser.close()


def test_the_map_opens_and_follows_the_model_choice(page):
    page.wait_for_function(f"({QA_POINTS})() > 0")
    assert page.evaluate(QA_POINTS) == 5 * PER_MODEL
    labels = page.locator(".js-plotly-plot .textpoint").all_text_contents()
    assert DROPPED in labels  # model labels at the model$language centroids
    page.locator(f'button[aria-label="Remove {DROPPED}"]').click()
    page.wait_for_function(f"({QA_POINTS})() === {4 * PER_MODEL}")
    page.wait_for_selector(MAP)
    assert DROPPED not in page.locator(".js-plotly-plot .textpoint").all_text_contents()
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "value_map.png"), full_page=True)
