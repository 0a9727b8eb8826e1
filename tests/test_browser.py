"""The main path in a real browser: `streamlit run app.py`, headless Chromium through Playwright.

One Streamlit server and one page for the module; the tests run in order on it: the map and
its model choice, the overlays (colour by Schwartz value, an instrument's QAs ringed, a value
profile), the Compare page (heatmap, dendrogram, near and far answers), a CSV upload that
lands on the map (its QA pairs the quality checks pass), and the quality table of Data &
provenance with examples of a flag.

The database holds real answers only: five LLMs from Value FULCRA (../shared/data), plus the
local SmolLM2 answering some of the project's portrait items in English and French (the
Value FULCRA prompts differ across its models: these are the pairs on the same question) and
taking the portrait survey, through the real llama.cpp server. The fixture embeds everything and fits the one
layout that every selection filters, so nothing waits on UMAP's ~30 s compile inside the server before the upload
(which is then placed on that layout).
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from helpers_browser import choose, chromium_page, need_browser, plot_traces, settle, streamlit_app
from helpers_demo import build_demo_db, fulcra_rows

from univar import encoders, quality, store
from univar.analysis import projection
from univar.analysis.projection import ProjectionConfig
from univar.catalog import instruments, questions
from univar.elicit import engine, survey
from univar.elicit.settings import ElicitConfig, GenerationConfig

pytestmark = [pytest.mark.slow, pytest.mark.browser]

ROOT = Path(__file__).resolve().parent.parent
SHOTS = ROOT / "out" / "browser"
PER_MODEL = 12  # 5 real LLMs: 60 QA pairs
PORTRAITS = 6  # portrait items SmolLM2 answers as open questions, in English and French
PORTRAIT_QAS = 2 * PORTRAITS
UPLOADED = 4  # further Value FULCRA answers per model, uploaded as a CSV
DROPPED = "gemini"  # the model the first test removes from the map
SCORED = "PKU-Alignment/alpaca-7b-reproduced"  # the value scorer's profile is drawn of it
SMOLLM2 = "openai/smollm2"
MAP = ".js-plotly-plot .main-svg"
# the map's labels: annotations placed clear of one another (text traces before that)
LABELS = """() => [...document.querySelectorAll('.st-key-value_map .js-plotly-plot')]
  .flatMap(gd => [...(gd.data || []).flatMap(t => t.mode && t.mode.includes('text') ? t.text : []),
                  ...((gd.layout || {}).annotations || []).map(a => a.text)])"""
QA_POINTS = """() => {
  const gd = document.querySelector('.st-key-value_map .js-plotly-plot');
  if (!gd || !gd.data) return -1;
  return gd.data.filter(t => t.meta === 'qa').reduce((n, t) => n + t.customdata.length, 0);
}"""
COORDINATES = """() => {
  const gd = document.querySelector('.st-key-value_map .js-plotly-plot'), out = {};
  for (const t of gd.data.filter(t => t.meta === 'qa')) {
    const xs = Array.from(t.x), ys = Array.from(t.y);
    t.customdata.forEach((row, i) => { out[row[0]] = [xs[i], ys[i]]; });
  }
  return out;
}"""
UPDATED_WITHIN_MS = 2000  # issue 16: a selection change redraws the map within 2 s


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory, smollm2) -> Path:
    need_browser()
    path = build_demo_db(tmp_path_factory.mktemp("browser") / "demo.duckdb", PER_MODEL)
    items = questions.select_questions(path, f"instrument:{instruments.PORTRAITS}")[:PORTRAITS]
    config = ElicitConfig(
        model=SMOLLM2,
        api_base=smollm2,
        languages=("eng", "fra"),
        dataset="portraits",
        question_ids=tuple(q.question_id for q in items),
        generation=GenerationConfig(max_tokens=32),
    )
    assert engine.run(config, path, questions=items).failed == 0
    survey.run(survey.SurveyConfig(model=SMOLLM2, api_base=smollm2), path)
    assert len(survey.survey_profile(path, [f"{SMOLLM2}$eng"])) == 19

    encoder = encoders.load_encoder()
    frame, _ = encoders.embed_qa(path, encoder)
    projection.project(path, encoder, list(frame["qa_id"]), ProjectionConfig())
    return path


@pytest.fixture(scope="module")
def page(demo_db, tmp_path_factory):
    with streamlit_app(demo_db, tmp_path_factory.mktemp("server")) as url:
        with chromium_page() as tab:
            tab.goto(url)
            tab.wait_for_selector(MAP)
            yield tab


def test_the_map_opens_and_follows_the_model_choice(page):
    page.wait_for_function(f"({QA_POINTS})() > 0")
    assert page.evaluate(QA_POINTS) == 5 * PER_MODEL + PORTRAIT_QAS
    assert DROPPED in page.evaluate(LABELS)  # model labels at the model$language centroids
    settle(page)
    before = page.evaluate(COORDINATES)
    page.locator(f'button[aria-label="Remove {DROPPED}"]').click()
    page.wait_for_function(
        f"({QA_POINTS})() === {4 * PER_MODEL + PORTRAIT_QAS}", timeout=UPDATED_WITHIN_MS
    )
    page.wait_for_function(f"!({LABELS})().includes('{DROPPED}')")
    after = page.evaluate(COORDINATES)
    assert len(after) == 4 * PER_MODEL + PORTRAIT_QAS and set(after) < set(before)
    moved = [qa_id for qa_id, xy in after.items() if xy != before[qa_id]]
    assert not moved, f"{len(moved)} points moved when a model was removed"
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "value_map.png"), full_page=True)


def test_overlays_value_colours_instrument_ring_and_profile(page, demo_db):
    choose(page, "Colour by", "Value")
    choose(page, "Value framework", "Schwartz")
    choose(page, "Highlight an instrument's QAs", instruments.PORTRAITS)
    page.wait_for_function(
        "() => [...document.querySelectorAll('.st-key-value_map .js-plotly-plot')]"
        ".some(gd => (gd.data || []).some(t => t.meta === 'instrument'))"
    )
    traces = plot_traces(page, "value_map")
    # the QA traces are now one per Schwartz value (codes as the value definitions name them)
    codes = {
        v.lower()
        for v in store.query_df(
            "SELECT code FROM value_defs WHERE lower(framework) = 'schwartz'", path=demo_db
        )["code"]
    }
    qa_names = {t["name"].lower() for t in traces if t["meta"] == "qa"}
    assert len(qa_names & codes) >= 3, qa_names
    ring = [t for t in traces if t["meta"] == "instrument"]
    assert len(ring) == 1 and ring[0]["n"] == PORTRAIT_QAS  # SmolLM2's portrait answers

    choose(page, "Model$language", f"{SMOLLM2}$eng")
    page.locator(".st-key-map_profile .js-plotly-plot").wait_for()
    profile = plot_traces(page, "map_profile")
    assert any(t["type"] == "scatterpolar" and t["n"] == 20 for t in profile)  # 19, closed
    # the bank's question mix waits in an expander, apart from what the answers express
    page.get_by_text("Questions asked per value (the bank's mix, not a finding)").click()
    page.locator(".st-key-map_value_share .js-plotly-plot").wait_for()
    share = plot_traces(page, "map_value_share")
    assert any(t["type"] == "barpolar" for t in share)
    page.screenshot(path=str(SHOTS / "overlays.png"), full_page=True)

    # the value scorer's profile of a Value FULCRA model, under the "Value profile" header
    choose(page, "Model$language", f"{SCORED}$eng")
    page.get_by_role("button", name="Score its answers").click()
    page.locator(".st-key-map_value_expression .js-plotly-plot").wait_for(timeout=300_000)
    bars = plot_traces(page, "map_value_expression")
    assert [t["name"] for t in bars] == ["opposes", "supports"]
    assert all(t["type"] == "bar" and t["n"] == 8 for t in bars)  # the scorer's 8 values
    assert page.evaluate(
        """() => {
          const head = [...document.querySelectorAll('h3')]
            .find(h => h.textContent.includes('Value profile'));
          const chart = document.querySelector('.st-key-map_value_expression .js-plotly-plot');
          return !!head && !!(head.compareDocumentPosition(chart)
            & Node.DOCUMENT_POSITION_FOLLOWING);
        }"""
    )
    page.screenshot(path=str(SHOTS / "value_expression.png"), full_page=True)


def test_compare_heatmap_dendrogram_and_near_far_pairs(page):
    page.get_by_role("link", name="Compare", exact=True).click()
    page.locator(".st-key-distance_heatmap .js-plotly-plot").wait_for()  # two languages
    settle(page)
    radio = page.get_by_test_id("stRadio").filter(has_text="Distances between")
    radio.get_by_text("Models", exact=True).click()
    page.wait_for_function(
        "() => { const gd = document.querySelector('.st-key-distance_heatmap .js-plotly-plot');"
        " return gd && gd.data && gd.data[0].z.length === 6; }"  # the six models
    )
    settle(page)
    heat = plot_traces(page, "distance_heatmap")
    assert heat[0]["type"] == "heatmap" and heat[0]["n"] == 6
    assert {t["meta"] for t in heat[1:]} <= {"indistinguishable"}  # the marks, if any
    # each pair whose hover says it cannot be told apart carries a drawn mark, and no other
    cells, marks, drawn = page.evaluate(
        """() => {
          const gd = document.querySelector('.st-key-distance_heatmap .js-plotly-plot');
          const cells = gd.data[0].customdata.flat()
            .filter(c => c[1].includes('not distinguishable')).length;
          const marks = gd.data.filter(t => t.meta === 'indistinguishable')
            .reduce((n, t) => n + t.x.length, 0);
          return [cells, marks, gd.querySelectorAll('.scatterlayer .point').length];
        }"""
    )
    assert cells == marks == drawn, (cells, marks, drawn)
    page.locator(".st-key-distance_dendrogram .js-plotly-plot").wait_for()
    tree = plot_traces(page, "distance_dendrogram")
    assert len(tree) >= 2  # one link per merge of the average-linkage tree
    page.screenshot(path=str(SHOTS / "compare.png"), full_page=True)

    page.get_by_role("tab", name="Near and far answers").click()
    page.get_by_text("Nearest", exact=False).first.wait_for()
    page.get_by_text("Farthest", exact=False).first.wait_for()
    grids = page.locator('[data-testid="stDataFrame"]:visible table[role=grid]')
    grids.nth(1).wait_for(state="attached")
    rows = [int(t.get_attribute("aria-rowcount") or 0) for t in grids.all()]
    assert len(rows) == 2 and all(n > 1 for n in rows), rows  # header plus at least one pair


def test_uploaded_value_fulcra_csv_appears_on_the_map(page, demo_db, tmp_path):
    done = {r["qa_id"] for r in fulcra_rows(PER_MODEL)}
    rows = [
        r
        for r in fulcra_rows(PER_MODEL + UPLOADED)
        if r["qa_id"] not in done
        and r["model"] != DROPPED  # the map's model choice still leaves it out
    ]
    path = tmp_path / "fulcra_mine.csv"
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, ["model", "language", "question", "answer"])
        writer.writeheader()
        writer.writerows({k: r[k] for k in writer.fieldnames} for r in rows)

    page.get_by_role("link", name="Upload", exact=True).click()
    page.get_by_text("Your datasets").wait_for()
    settle(page)  # a file chosen during a rerun is dropped with it
    page.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(str(path))
    page.get_by_test_id("stMetric").filter(has_text="QA pairs").get_by_text(
        str(len(rows)), exact=True
    ).wait_for()
    settle(page)
    page.get_by_role("button", name="Import", exact=True).click()
    page.get_by_text(f"Imported {len(rows)} QA pairs as dataset").wait_for()
    settle(page)
    # an import is checked as it lands: the map shows the uploaded pairs that pass the checks
    kept = store.query_df(
        f"SELECT count(*) AS n FROM qa WHERE dataset NOT IN ('demo', 'portraits') "
        f"AND {quality.passing_sql()}",
        path=demo_db,
    )["n"].iloc[0]
    assert kept > 0

    page.get_by_role("link", name="Value map", exact=True).click()
    mine = """() => [...document.querySelectorAll('.st-key-value_map .js-plotly-plot')]
      .flatMap(gd => gd.data || []).filter(t => t.meta === 'uploaded')
      .reduce((n, t) => n + t.customdata.length, 0)"""
    page.wait_for_function(f"({mine})() === {kept}", timeout=300_000)
    settle(page)
    assert page.evaluate(QA_POINTS) == 4 * PER_MODEL + PORTRAIT_QAS + kept
    page.screenshot(path=str(SHOTS / "uploaded.png"), full_page=True)


def test_the_provenance_page_shows_the_quality_table_with_examples(page, demo_db):
    """One QA pair per identity of the first model gets an `echo` verdict here (what the
    checker says of real answers is its own tests' business); the table counts them."""
    flagged = store.query_df(
        "SELECT min(qa_id) AS qa_id, identity FROM qa WHERE model = ? GROUP BY identity",
        [DROPPED],
        path=demo_db,
    )
    with store.transaction(demo_db) as con:
        for qa_id in flagged["qa_id"]:
            con.execute(
                "INSERT OR REPLACE INTO qa_quality (qa_id, checker_version, flags, reasons) "
                "VALUES (?, ?, ['echo'], ?)",
                [qa_id, quality.CHECKER_VERSION, json.dumps({"echo": "repeats the question"})],
            )
    identities = store.query_df("SELECT DISTINCT identity FROM qa", path=demo_db)
    page.get_by_role("link", name="Data & provenance", exact=True).click()
    page.get_by_text("Quality checks", exact=True).wait_for()

    def grid(header: str):
        """The accessible table of the data frame with this column (columns scrolled out of
        view are not in it)."""
        column = page.locator("th[role=columnheader]", has_text=header)
        return page.get_by_test_id("stDataFrame").filter(has=column).locator("table[role=grid]")

    table = grid("share passing")
    table.wait_for(state="attached")
    # the header row and one row per model$language
    assert table.get_attribute("aria-rowcount") == str(len(identities) + 1)
    headers = table.locator("th[role=columnheader]").all_text_contents()
    assert headers[:4] == ["identity", "QA pairs", "checked", "share passing"]
    assert "empty" in headers  # then the flags, one column each
    who = flagged["identity"].iloc[0]
    choose(page, "Examples of a flag", f"{who} · echo (1)")
    examples = grid("reason")
    examples.wait_for(state="attached")
    assert examples.get_attribute("aria-rowcount") == "2"  # the header and the one example
    page.screenshot(path=str(SHOTS / "provenance.png"), full_page=True)


def test_a_deep_link_as_a_new_servers_first_request_gets_the_app(page, demo_db, tmp_path):
    """Streamlit takes a pages/ folder for an old-style multipage app until app.py has run:
    /compare first would run that page alone, without the app's navigation and sidebar."""
    with streamlit_app(demo_db, tmp_path) as url:
        tab = page.context.browser.new_context().new_page()  # one browser per thread
        tab.goto(url + "/compare")
        tab.get_by_text("Compare languages and models").wait_for()
        sidebar = tab.get_by_test_id("stSidebar")
        sidebar.get_by_text("DuckDB file").wait_for()  # the app's shared sidebar
        assert sidebar.get_by_role("link", name="Value map", exact=True).count() == 1
        assert tab.url.endswith("/compare")
