"""The Elicit page in headless Chromium against the real local SmolLM2 server: pick it, two
languages and 10 questions, run, watch the progress advance and finish, find the new points on
the value map, then run again from the history and see it finish from the cache."""

from __future__ import annotations

import re
import shutil
import tempfile
import time
from pathlib import Path

import pytest
from helpers_browser import chromium_page, need_browser, number, pick, settle, streamlit_app

from univar import store

pytestmark = [pytest.mark.slow, pytest.mark.browser]

MODEL = "openai/smollm2"


@pytest.fixture(scope="module")
def app_url(smollm2):
    """`streamlit run app.py` on a free port, on a new database, offering the SmolLM2 server."""
    need_browser()
    # Not under pytest's basetemp: a concurrent pytest session may prune it during this
    # minutes-long test, database included.
    folder = Path(tempfile.mkdtemp(prefix="univar-browser-"))
    db = folder / "elicit.duckdb"
    with streamlit_app(db, folder, UNIVAR_LOCAL_LLM_URL=smollm2) as url:
        yield url + "/", db
    if not any(folder.glob("*.png")):  # a failure's screenshot and log stay for a look
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="module")
def page(app_url):
    with chromium_page(1400, 2000, 60_000) as page:
        yield page


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
    page.get_by_role("link", name="Elicit", exact=True).click()
    page.get_by_text("1 · Models").wait_for()

    pick(page, "Local models", "smollm2")
    page.get_by_text("smollm2 — SmolLM2-135M-Instruct").first.wait_for()
    pick(page, "Languages", "fra")
    number(page, "How many questions", 10)
    number(page, "Max new tokens", 32)
    metrics = page.get_by_test_id("stMetric")
    metrics.filter(has_text="QA pairs").get_by_text("20", exact=True).wait_for()
    # 10 eng answers; 10 fra: question out, answer, question and answer back
    metrics.filter(has_text="Requests to send").get_by_text("50", exact=True).wait_for()

    settle(page)
    page.get_by_role("button", name="Run", exact=True).click()
    seen = _wait_until_finished(page, 600, db.parent / "first-run.png")
    counts = [int(m.group(1)) for s in seen if (m := re.match(r"(\d+) of 20 QA pairs", s))]
    assert any(0 < n < 20 for n in counts), f"no progress seen between start and end: {seen}"
    page.get_by_text(re.compile(r"done: 20 QA pairs: 20 asked")).wait_for()
    ok, requests = _stored(db)
    assert ok >= 18 and requests >= 40  # a weak model may fail a translation or two

    page.get_by_role("link", name="See these answers on the value map", exact=True).click()
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

    page.get_by_role("link", name="Elicit", exact=True).click()
    page.get_by_text("5 · Run history").wait_for()
    settle(page)
    page.get_by_role("button", name="Run again").click()
    _wait_until_finished(page, 60, db.parent / "run-again.png")
    if ok == 20:  # failed pairs are retried by design; with none, nothing is asked
        page.get_by_text(re.compile(r"0 asked, 20 from cache, 0 failed; 0 requests")).wait_for()
        assert _stored(db) == (ok, requests)
