"""Text from data is data: a model, value, framework or dataset name, a CSV cell or an answer
shows as typed in figures, pages, exports and the report, and never becomes a link, an image, a
style, a line break or a request (issue 13, finding 5; the export half of finding 2)."""

from __future__ import annotations

import contextlib
import http.server
import json
import re
import shlex
import subprocess
import threading
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest
from google.protobuf.json_format import MessageToDict
from helpers_demo import copy_db, demo_template
from streamlit.testing.v1 import AppTest

from univar import store
from univar.analysis import distances, projection
from univar.analysis.mapdata import Selection
from univar.analysis.projection import ProjectionConfig
from univar.figures import compare_charts, mapstyle, overlay_charts, training_charts, value_map
from univar.output import export, report

ROOT = Path(__file__).resolve().parent.parent
LINK = '<a href="http://127.0.0.1:9/x">click</a>'
STYLE = '<span style="color:red">x</span>'
IMAGE = "![x](http://127.0.0.1:9/p.png) [Re-enter your API key](http://127.0.0.1:9/login)"
# Plots label a model by the last part of its path: this one keeps its markup through that, and
# quotes and an ampersand, which must show as typed (Plotly decodes &amp; but not &quot;).
BARE = '<a href="http:\\\\127.0.0.1:9\\x">R&D "lab" \'x\' <span style="color:red">y<br>z'
MODEL = "org/" + BARE
PAYLOADS = (LINK, STYLE, IMAGE, BARE)

# --- what Plotly makes of a string -------------------------------------------------------------

# the markup the builders write themselves; any other tag came from data
OURS = {"<b>", "</b>", "<br>", "<extra>", "</extra>", "<span style='color:#666'>", "</span>"}
TAG = re.compile(r"<[^<>]*>")
# plotly.js svg_text_utils: these named entities and numeric ones are decoded, nothing else
ENTITIES = {"mu": "μ", "amp": "&", "lt": "<", "gt": ">", "nbsp": "\xa0", "times": "×"}
ENTITIES |= {"plusmn": "±", "deg": "°"}
ENTITY = re.compile(r"&(#\d+|#x[\da-fA-F]+|[a-z]+);")


def _entity(m: re.Match) -> str:
    code = m.group(1)
    if code.startswith("#x"):
        return chr(int(code[2:], 16))
    if code.startswith("#"):
        return chr(int(code[1:]))
    return ENTITIES.get(code, m.group(0))


def shown(text: str) -> str:
    """What Plotly draws for `text`: our tags must be the only tags; entities decoded."""
    tags = set(TAG.findall(text))
    assert tags <= OURS, f"markup from data {tags - OURS} in {text!r}"
    return "".join(ENTITY.sub(_entity, part) for part in TAG.split(text.replace("<br>", "\n")))


def strings(obj):
    """Every string in a figure dict, object arrays (customdata) included."""
    if isinstance(obj, str):
        yield obj
    elif isinstance(obj, dict):
        for value in obj.values():
            yield from strings(value)
    elif isinstance(obj, (list, tuple)):
        for value in obj:
            yield from strings(value)
    elif isinstance(obj, np.ndarray) and obj.dtype == object:
        for value in obj.ravel():
            yield from strings(value)


def check_figure(fig) -> dict:
    """No markup from data anywhere in the figure (names, text, hovers, customdata, titles,
    ticks, annotations); returns its dict."""
    spec = fig if isinstance(fig, dict) else fig.to_dict()
    for text in strings(spec):
        shown(text)
    return spec


# --- (a) plot builders -------------------------------------------------------------------------


def map_frame() -> pd.DataFrame:
    rows = []
    for li, lang in enumerate(("eng", "fra", STYLE)):
        for mi, model in enumerate((MODEL, "openai/gpt-4o-mini")):
            for i in range(6):
                rows.append(
                    {
                        "qa_id": f"{li}-{mi}-{i}",
                        "x": 10.0 * li + mi + i / 10,
                        "y": 5.0 * mi - i / 10,
                        "model": model,
                        "language": lang,
                        "dataset": (LINK, "mine")[i % 2],
                        "value": PAYLOADS[i % 4],
                        "framework": (STYLE, IMAGE)[i % 2],
                        "question": f"Q {LINK}?",
                        "answer": f"{BARE} " * 5,
                        "question_en": None if lang == "eng" else f"Q {STYLE}?",
                        "answer_en": None if lang == "eng" else f"A {IMAGE}",
                    }
                )
    return pd.DataFrame(rows)


@pytest.mark.parametrize("color_by", list(mapstyle.COLOR_BY))
def test_value_map_shows_every_name_as_typed(color_by):
    df = map_frame()
    fig = value_map.value_map_figure(df, color_by, highlight=["0-0-1"], uploaded=[LINK])
    overlay_charts.add_instrument_highlight(fig, df.head(3), LINK)
    spec = check_figure(fig)
    traces = {t.get("meta"): t for t in spec["data"]}
    legend = {shown(t["name"]) for t in spec["data"] if t.get("meta") == "legend"}
    column = df[color_by].map(lambda v: mapstyle.group_label(v, color_by))
    assert legend == {f"{name} ({n:,})" for name, n in column.value_counts().items()}
    assert shown(traces["instrument"]["name"]) == f"{LINK} (3)"
    ident = traces["identity-centroids"]
    assert {shown(t) for t in ident["text"]} == {BARE, "gpt-4o-mini"}
    assert any(shown(h).startswith(f"{BARE} · {STYLE}\n") for h in ident["hovertext"])
    qa = [r for t in spec["data"] if t.get("meta") == "qa" for r in t["customdata"]]
    row = next(r for r in qa if r[0] == "0-0-0")  # eng, MODEL, LINK
    assert shown(row[1]) == f"{BARE} · English · {LINK}" and shown(row[2]) == f"Q {LINK}?"
    labels = [shown(a["text"]) for a in spec["layout"]["annotations"]]
    assert STYLE in labels


def test_profile_and_share_charts_show_names_as_typed():
    identity = f"{MODEL}$eng"
    profile = pd.DataFrame(
        {
            "identity": [identity] * 3,
            "instrument": ["pvq", "pvq", LINK],
            "value_name": [LINK, STYLE, IMAGE],
            "angle": [0.0, 90.0, 180.0],
            "centred": [0.5, -1.0, 0.25],
        }
    )
    for fig in (overlay_charts.profile_figure(profile), overlay_charts.profile_figure(profile[:2])):
        spec = check_figure(fig)
        for trace in spec["data"]:
            assert shown(trace["name"]).startswith(identity)
            assert {shown(t) for t in trace["theta"]} <= {LINK, STYLE, IMAGE}
            assert identity not in trace["hovertemplate"]  # the name by reference, not pasted
    share = pd.DataFrame(
        {
            "value": ["a", "b", "c"],
            "value_name": [LINK, STYLE, None],
            "angle": [0.0, 180.0, None],
            "n": [3, 1, 1],
            "share": [0.6, 0.2, 0.2],
        }
    )
    for frame in (share, share.assign(angle=None)):
        spec = check_figure(overlay_charts.share_figure(frame, title=f"Share ({IMAGE} {STYLE})"))
        axis = spec["data"][0].get("theta") or spec["data"][0]["y"]
        assert [shown(t) for t in axis] == [LINK, STYLE, "c"]
        assert shown(spec["layout"]["title"]["text"]) == f"Share ({IMAGE} {STYLE})"


def test_heatmap_dendrogram_and_iw_charts_show_names_as_typed():
    names = [f"{MODEL}$eng", f"{LINK}$fra", f"{STYLE}$eng", f"{IMAGE}$zho"]
    m = pd.DataFrame(
        [[0, 0.2, 0.5, 0.6], [0.2, 0, 0.4, 0.7], [0.5, 0.4, 0, 0.3], [0.6, 0.7, 0.3, 0]],
        index=names,
        columns=names,
    )
    heat = check_figure(compare_charts.heatmap_figure(m, names, title=LINK))["data"][0]
    assert [shown(x) for x in heat["x"]] == names and [shown(y) for y in heat["y"]] == names
    tree = distances.dendrogram(m)
    dendro = check_figure(compare_charts.dendrogram_figure(tree, title=STYLE))["layout"]
    assert {shown(t) for t in dendro["xaxis"]["ticktext"]} == set(names)
    assert shown(dendro["title"]["text"]) == STYLE
    pairs = pd.DataFrame(
        {
            "language_a": [LINK, "eng"],
            "language_b": [STYLE, BARE],
            "iw_distance": [1.0, 2.0],
            "value_distance": [0.1, 0.2],
        }
    )
    iw = check_figure(compare_charts.iw_figure(pairs, r=0.5))["data"][0]
    assert [shown(t) for t in iw["text"]] == [f"{LINK}-{STYLE}", f"eng-{BARE}"]


def test_training_charts_show_names_as_typed():
    curve = [{"step": i, "loss": 1 / i} for i in range(1, 6)]
    loss = check_figure(training_charts.loss_curve_figure(curve, title=LINK))
    assert shown(loss["layout"]["title"]["text"]) == LINK
    table = pd.DataFrame(
        {"encoder": [MODEL, "tfidf"], "method": [STYLE, STYLE], "acc@1": [50.0, 40.0]}
    )
    bars = check_figure(training_charts.results_figure(table))["data"]
    assert shown(bars[0]["name"]) == STYLE
    assert [shown(x) for x in bars[0]["x"]] == [training_charts.short_name(MODEL), "tfidf"]
    classes = [f"{MODEL}$eng", f"org/{BARE}x$fra"]
    cm = pd.DataFrame([[3, 1], [0, 2]], index=classes, columns=classes)
    heat = check_figure(training_charts.confusion_figure(cm, title=STYLE))
    assert [shown(x) for x in heat["data"][0]["x"]] == [
        training_charts.short_name(c) for c in classes
    ]
    assert shown(heat["layout"]["title"]["text"]) == STYLE


# --- (b) the pages -----------------------------------------------------------------------------

PAGE_MODEL = f"org/{IMAGE} {LINK}"  # the whole name shows where a page writes an identity
MARKDOWN_FIELDS = {"body", "label", "help", "text"}  # protos' fields Streamlit renders as Markdown


def nodes(node):
    yield node
    for child in getattr(node, "children", {}).values():
        yield from nodes(child)


def page_texts(at) -> tuple[list[str], list[dict]]:
    """(every Markdown text of the page: bodies and labels, figure specs)."""
    texts, specs = [], []

    def collect(obj):
        if isinstance(obj, dict):
            for key, value in obj.items():
                if key in MARKDOWN_FIELDS and isinstance(value, str):
                    texts.append(value)
                else:
                    collect(value)
        elif isinstance(obj, list):
            for value in obj:
                collect(value)

    for node in nodes(at._tree):
        proto = getattr(node, "proto", None)
        if proto is None:
            continue
        if getattr(node, "type", None) == "plotly_chart":
            specs.append(json.loads(proto.spec))
        else:
            collect(MessageToDict(proto, preserving_proto_field_name=True))
    return texts, specs


def rendered(markdown: str) -> str:
    """The text Streamlit shows for a body `plain()` made: escapes undone, joiners dropped."""
    return re.sub(r"\\(.)", r"\1", markdown).replace("\u2060", "")


def check_page(at, *, shows: str) -> None:
    """No live image, link or HTML from data in any Markdown of the page, which does show
    `shows` (so the data reached it); no markup from data in its figures."""
    assert not at.exception, at.exception
    texts, specs = page_texts(at)
    for text in texts:
        live = re.sub(r"\\.", "\0", text)  # what is left of Markdown once escapes are out
        for syntax in ("![", "](http", "<a ", "<span", "<img", "http://", "https://"):
            assert syntax not in live, (syntax, text)
    assert any(shows in rendered(t) for t in texts), (shows, texts)
    for spec in specs:
        check_figure(spec)


@pytest.fixture
def payload_db(tmp_path_factory, tmp_path, monkeypatch):
    """The embedded demo (five real LLMs); gemini's answers renamed to a payload model, with a
    payload framework and value."""
    monkeypatch.setitem(projection.PROJECTORS, "umap", projection.PCAProjector())
    db = copy_db(demo_template(tmp_path_factory, 12), tmp_path)
    with store.transaction(db) as con:
        con.execute(
            "UPDATE qa_pairs SET model = ?, framework = ?, value_code = ? WHERE model = 'gemini'",
            [PAGE_MODEL, LINK, STYLE],
        )
    monkeypatch.setenv("UNIVAR_DB", str(db))
    return db


def test_value_map_page_writes_names_as_text(payload_db):
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=90)
    at.run()
    assert not at.exception, at.exception
    at.selectbox(key="map_color_by").set_value("framework").run()
    who = f"{PAGE_MODEL}$eng"
    at.selectbox(key="map_profile_identity").set_value(who).run()
    check_page(at, shows=f"No survey of {who} yet")
    legend = {shown(t["name"]) for t in page_texts(at)[1][0]["data"] if t.get("meta") == "legend"}
    assert f"{LINK} (12)" in legend
    (command,) = [c.value for c in at.code]  # the names are quoted for a shell as well
    assert command == f"python -m univar survey --model {shlex.quote(PAGE_MODEL)} --languages eng"


def upload_page(db: Path) -> AppTest:
    at = AppTest.from_file(str(ROOT / "pages" / "upload.py"), default_timeout=60)
    at.session_state["db"] = str(db)
    return at.run()


def csv(*rows: list[str]) -> bytes:
    return pd.DataFrame(rows[1:], columns=rows[0]).to_csv(index=False).encode()


def test_upload_page_writes_cells_as_text(tmp_db):
    at = upload_page(tmp_db)
    bad = csv(["question", "answer", "model", "language"], ["Q?", "A.", "m", IMAGE[:30]])
    at.get("file_uploader")[0].upload("bad.csv", bad, "text/csv").run()
    assert at.error
    check_page(at, shows=f"unknown language code '{IMAGE[:30]}'")

    at = upload_page(tmp_db)
    good = csv(
        ["question", "answer", "model", "language", LINK],
        ["Q?", "A.", PAGE_MODEL, "eng", "z"],
        ["Q2?", "A2.", PAGE_MODEL, "eng", "z"],
    )
    at.get("file_uploader")[0].upload("good.csv", good, "text/csv").run()
    check_page(at, shows=f"{PAGE_MODEL}$eng (2)")
    assert any(LINK in rendered(i.value) for i in at.info)  # the unused column, named
    next(c for c in at.checkbox if c.label.startswith("Embed")).uncheck().run()
    next(b for b in at.button if b.label == "Import").click().run()
    check_page(at, shows="Imported 2 QA pairs")


# --- (c) exports and the report ----------------------------------------------------------------


def export_figures() -> dict:
    df = map_frame()
    names = [f"{MODEL}$eng", f"{LINK}$fra", f"{STYLE}$eng"]
    m = pd.DataFrame([[0, 0.2, 0.5], [0.2, 0, 0.4], [0.5, 0.4, 0]], index=names, columns=names)
    profile = pd.DataFrame(
        {"identity": [f"{LINK}$eng"] * 2, "value_name": [STYLE, LINK], "angle": [0.0, 90.0]}
    ).assign(centred=[0.1, -0.1])
    return {
        "Value map": value_map.value_map_figure(df, "value"),
        "Distances": compare_charts.heatmap_figure(m, names, title=STYLE),
        "Value profiles": overlay_charts.profile_figure(profile),
    }


def live_markup(page: str) -> str:
    """A page with the plotly.js bundle cut out and the figure JSON's escapes (\\u003c for <,
    \\u002f for /, \\") undone: what a browser hands to Plotly."""
    from plotly.offline import get_plotlyjs

    page = page.replace(get_plotlyjs(), "")
    return (
        page.replace("\\u003c", "<")
        .replace("\\u003e", ">")
        .replace("\\u002f", "/")
        .replace("\\u0026", "&")
        .replace('\\"', '"')
    )


def check_page_markup(page: str) -> None:
    text = live_markup(page)
    for raw in ('<a href="http://127.0.0.1', '<span style="color:red">', '<a href="http:\\\\'):
        assert raw not in text, raw
    assert '&lt;a href="http://127.0.0.1:9/x"&gt;click&lt;/a&gt;' in text  # there, as text
    assert '&lt;span style="color:red"&gt;' in text
    csp = re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', page)
    assert csp and "default-src 'none'" in csp.group(1)  # and it could fetch nothing anyway


def test_exported_html_and_report_hold_no_live_markup_from_data():
    figures = export_figures()
    for fig in figures.values():
        check_page_markup(export.html_bytes(fig, title=LINK).decode("utf-8"))
    prov = report.provenance(
        encoder="e", datasets=[LINK], models=[MODEL, LINK], languages=["eng", STYLE]
    )
    check_page_markup(report.report_html(figures, prov, {"Distances": pd.DataFrame({LINK: [1]})}))


# --- (d) static exports make no request --------------------------------------------------------


@contextlib.contextmanager
def counting_server():
    """A loopback HTTP server; yields (its URL, the list of paths it was asked for)."""
    asked: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            asked.append(self.path)
            self.send_response(404)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", asked
    finally:
        server.shutdown()
        server.server_close()


def need_chromium() -> None:
    if export.browser_path() is None:
        pytest.skip("no Chromium: apt-get install chromium")


@pytest.mark.slow
def test_png_and_pdf_exports_fetch_nothing_a_name_points_at(tmp_db):
    """Names that point at a server (a CSS url(), an <img>) in the charts of the store, exported
    as PNG, PDF, SVG and the PDF report: the server hears nothing, the SVG shows them as text."""
    from test_export import HashEncoder

    from univar.ingest import importers
    from univar.ingest.validate import validate_bytes

    need_chromium()
    with counting_server() as (url, asked):
        model = f'<span style="background-image:url({url}/x)">m</span><img src={url}/y>'
        value = f'<span style="background-image:url({url}/v)">v</span><img src={url}/w>'
        header = ["question", "answer", "model", "language", "value", "framework"]
        answer = "I think people should look after each other, number {}."
        rows = [
            [f"Question {i}?", answer.format(i), (model, "plain")[i % 2], "eng", value, "f"]
            for i in range(8)
        ]
        importers.import_validation(validate_bytes(csv(header, *rows)), tmp_db, dataset="mine")
        config = ProjectionConfig(method="pca")
        vmap = report.map_chart(tmp_db, HashEncoder(), Selection(), config, color_by="value").fig
        dist = report.distance_chart(tmp_db, HashEncoder(), Selection(), by="model").fig
        png, pdf, dpng, dpdf, svg = export.render_images(
            [(vmap, "png"), (vmap, "pdf"), (dist, "png"), (dist, "pdf"), (dist, "svg")],
            width=700,
            height=500,
        )
        prov = report.provenance(encoder="hash", datasets=["mine"], models=[model], languages=[])
        printed = report.report_pdf({"Value map": vmap, "Distances": dist}, prov)
        time.sleep(1)  # a request on its way still arrives
        assert asked == []
    assert png.startswith(b"\x89PNG") and dpng.startswith(b"\x89PNG")
    assert pdf.startswith(b"%PDF") and dpdf.startswith(b"%PDF") and printed.startswith(b"%PDF")
    ticks = "".join(ET.fromstring(svg).itertext())
    assert model in ticks  # the name drawn as typed, markup and all


@pytest.mark.slow
def test_export_pages_fetch_nothing_even_from_unescaped_markup(tmp_path):
    """In depth: a figure built without the builders, its markup live, exported as PNG, PDF,
    the PDF report and standalone HTML (opened in Chromium): the CSP (and, for other hosts,
    the dead proxy) let nothing out, and the HTML still draws its chart."""
    need_chromium()
    with counting_server() as (url, asked):
        name = f'<span style="background-image:url({url}/x)">m</span><img src={url}/y>'
        fig = go.Figure(go.Scatter(x=[1, 2], y=[2, 1], name=name, showlegend=True))
        fig.update_layout(title=f'<span style="filter:url({url}/f#a)">t</span>')
        png, pdf = export.render_images([(fig, "png"), (fig, "pdf")], width=600, height=400)
        report.report_pdf(
            {"Value map": fig}, report.provenance(encoder="e", datasets=[], models=[], languages=[])
        )
        page = tmp_path / "chart.html"
        page.write_bytes(export.html_bytes(fig))
        done = subprocess.run(
            [
                export.browser_path(),
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                f"--user-data-dir={tmp_path / 'profile'}",
                "--virtual-time-budget=10000",
                "--dump-dom",
                page.as_uri(),
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
        time.sleep(1)
        assert asked == []
    assert png.startswith(b"\x89PNG") and pdf.startswith(b"%PDF")
    assert "main-svg" in done.stdout  # plotly.js ran and drew under the page's CSP
