"""The Elicit page in headless Chromium against the real local SmolLM2 server: pick it, two
languages and 10 questions, run, watch the progress advance and finish, find the new points on
the value map, then run again from the history and see it finish from the cache."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

from univar import local_llm, store

pytestmark = [pytest.mark.slow, pytest.mark.browser]

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]  # fmt: skip
MODEL = "openai/smollm2"


@pytest.fixture(scope="module")
def smollm2(request) -> str:
    """The api_base of a SmolLM2 server: the session's, one already up ($UNIVAR_LOCAL_LLM_URL
    or port 8010), or our own."""
    if _has_fixture(request, "local_llm"):
        return request.getfixturevalue("local_llm").api_base("smollm2")
    for url in (os.environ.get("UNIVAR_LOCAL_LLM_URL"), local_llm.DEFAULT_PORT):
        url = f"http://127.0.0.1:{url}/v1" if isinstance(url, int) else url
        if url and "smollm2" in local_llm.served_models(url):
            return url
    try:
        server = local_llm.start(("smollm2",), port=local_llm.free_port())
    except local_llm.LocalLLMError as exc:
        pytest.skip(f"no local SmolLM2 server: {exc}")
    request.addfinalizer(server.stop)
    return server.api_base("smollm2")


def _has_fixture(request, name: str) -> bool:
    return bool(request.session._fixturemanager.getfixturedefs(name, request.node))


@pytest.fixture(scope="module")
def app_url(smollm2):
    """`streamlit run app.py` on a free port, on a new database, offering the SmolLM2 server."""
    pytest.importorskip("playwright")
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian chromium is not installed")
    # Not under pytest's basetemp: a concurrent pytest session may prune it during this
    # minutes-long test, database included.
    folder = Path(tempfile.mkdtemp(prefix="univar-browser-"))
    db = folder / "elicit.duckdb"
    port = local_llm.free_port()
    env = os.environ | {"UNIVAR_DB": str(db), "UNIVAR_LOCAL_LLM_URL": smollm2}
    log = (db.parent / "streamlit.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
         "--server.port", str(port), "--server.address", "127.0.0.1",
         "--browser.gatherUsageStats", "false"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(url + "_stcore/health", timeout=1).close()
            break
        except OSError:
            assert proc.poll() is None and time.monotonic() < deadline, "streamlit did not start"
            time.sleep(0.3)
    yield url, db
    proc.terminate()
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)
    log.close()
    if not any(folder.glob("*.png")):  # a failure's screenshot and log stay for a look
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="module")
def page(app_url):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 2000})
        page.set_default_timeout(60_000)
        yield page
        browser.close()


def _pick(page, label: str, text: str) -> None:
    box = page.get_by_test_id("stMultiSelect").filter(has_text=label)
    box.locator("input").click()
    box.locator("input").fill(text)
    page.keyboard.press("Enter")
    page.keyboard.press("Escape")


def _number(page, label: str, value: int) -> None:
    field = page.get_by_label(label, exact=True)
    field.fill(str(value))
    field.press("Enter")


def _settle(page) -> None:
    """Wait until no script run is in progress: a click during a rerun can be lost."""
    quiet = 0
    while quiet < 3:
        busy = page.get_by_test_id("stStatusWidget").count()
        quiet = 0 if busy else quiet + 1
        page.wait_for_timeout(300)


def _stored(db) -> tuple[int, int]:
    with store.connect(db) as con:
        ok = con.execute(
            "SELECT count(*) FROM qa_pairs WHERE model = ? AND status = 'ok'", [MODEL]
        ).fetchall()[0][0]
        return ok, con.execute("SELECT count(*) FROM requests").fetchall()[0][0]


def _wait_until_finished(page, timeout_s: float, shot: Path) -> list[str]:
    """The distinct progress lines seen until the job shows 'Finished'."""
    seen: list[str] = []
    deadline = time.monotonic() + timeout_s
    while not page.get_by_text("Finished", exact=False).count():
        if time.monotonic() > deadline:
            page.screenshot(path=str(shot), full_page=True)
            shown = page.locator("section.stMain").inner_text()[-1500:]
            raise AssertionError(f"not finished ({shot}); progress: {seen}; page ends: {shown}")
        for line in page.get_by_test_id("stProgress").all_inner_texts():
            if not seen or seen[-1] != line:
                seen.append(line)
        page.wait_for_timeout(500)
    return seen


def test_elicit_in_the_browser_then_map_then_cache(page, app_url):
    url, db = app_url
    page.goto(url)
    page.get_by_text("Database").first.wait_for()
    page.get_by_role("link", name="Elicit").click()
    page.get_by_text("1 · Models").wait_for()

    _pick(page, "Local models", "smollm2")
    page.get_by_text("smollm2 — SmolLM2-135M-Instruct").first.wait_for()
    _pick(page, "Languages", "fra")
    _number(page, "How many questions", 10)
    _number(page, "Max new tokens", 32)
    metrics = page.get_by_test_id("stMetric")
    metrics.filter(has_text="QA pairs").get_by_text("20", exact=True).wait_for()
    # 10 eng answers; 10 fra: question out, answer, question and answer back
    metrics.filter(has_text="Requests to send").get_by_text("50", exact=True).wait_for()

    _settle(page)
    page.get_by_role("button", name="Run", exact=True).click()
    seen = _wait_until_finished(page, 600, db.parent / "first-run.png")
    counts = [int(m.group(1)) for s in seen if (m := re.match(r"(\d+) of 20 QA pairs", s))]
    assert any(0 < n < 20 for n in counts), f"no progress seen between start and end: {seen}"
    page.get_by_text(re.compile(r"done: 20 QA pairs: 20 asked")).wait_for()
    ok, requests = _stored(db)
    assert ok >= 18 and requests >= 40  # a weak model may fail a translation or two

    page.get_by_role("link", name="See these answers on the value map").click()
    page.locator(".js-plotly-plot .main-svg").first.wait_for(timeout=300_000)
    # the map shows every QA of this model in these languages: the new ones and any demo rows
    on_map = store.query_df(
        "SELECT count(*) AS n FROM qa WHERE model = ? AND language IN ('eng', 'fra')",
        [MODEL],
        path=db,
    )["n"][0]
    page.get_by_text(
        re.compile(rf"^{on_map} QA pairs · 1 models · 2 languages · encoder")
    ).wait_for(timeout=180_000)

    page.get_by_role("link", name="Elicit").click()
    page.get_by_text("5 · Run history").wait_for()
    _settle(page)
    page.get_by_role("button", name="Run again").click()
    _wait_until_finished(page, 60, db.parent / "run-again.png")
    if ok == 20:  # failed pairs are retried by design; with none, nothing is asked
        page.get_by_text(re.compile(r"0 asked, 20 from cache, 0 failed; 0 requests")).wait_for()
        assert _stored(db) == (ok, requests)
