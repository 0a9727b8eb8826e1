"""Exports open and hold what the screen shows: tables, standalone HTML, static images (kaleido
with Debian's chromium, marked slow) and the report."""

from __future__ import annotations

import io
import re
import struct
import xml.etree.ElementTree as ET

import pandas as pd
import plotly.graph_objects as go
import pytest

from univar import export, report
from univar.errors import UserError

EXTERNAL_SCRIPT = re.compile(r"<script[^>]*\bsrc\s*=\s*['\"]?(https?:)?//", re.I)


@pytest.fixture
def fig():
    f = go.Figure(go.Scatter(x=[1, 2, 3], y=[3, 1, 2], mode="markers", name="gpt-4o$fra"))
    f.update_layout(title="Value map <test>", xaxis_title="UMAP 1")
    return f


@pytest.fixture
def data():
    return pd.DataFrame(
        {
            "model": ["=cmd|' /C calc'!A0", "+sum(1)", "-2+3", "@me", "plain", "\tx"],
            "x": [1.5, -2.0, 3.0, 4.0, 5.0, 6.0],
            "n": [1, -2, 3, 4, 5, 6],
        }
    )


def test_csv_is_spreadsheet_safe_and_keeps_numbers(data):
    raw = export.table_bytes(data, "csv")
    assert raw.startswith(b"\xef\xbb\xbf")  # a BOM: Excel then reads UTF-8 correctly
    back = pd.read_csv(io.BytesIO(raw), encoding="utf-8-sig")
    assert list(back["model"]) == [
        "'=cmd|' /C calc'!A0",
        "'+sum(1)",
        "'-2+3",
        "'@me",
        "plain",
        "'\tx",
    ]
    assert list(back["x"]) == list(data["x"]) and list(back["n"]) == list(data["n"])


def test_csv_neutralises_column_names_too():
    raw = export.table_bytes(pd.DataFrame({"=evil": [1]}), "csv")
    assert raw.decode("utf-8-sig").splitlines()[0] == "'=evil"


def test_parquet_round_trips(data):
    back = pd.read_parquet(io.BytesIO(export.table_bytes(data, "parquet")))
    pd.testing.assert_frame_equal(back, data)  # Parquet is not for spreadsheets: data as is


def test_html_is_standalone(fig):
    html = export.html_bytes(fig, title="map").decode("utf-8")
    assert "plotly.js v" in html or "Plotly" in html
    assert len(html) > 1_000_000  # the bundle is inlined, not fetched
    assert not EXTERNAL_SCRIPT.search(html)
    assert "gpt-4o$fra" in html and "<title>map</title>" in html


def test_unknown_format_and_missing_input():
    with pytest.raises(UserError, match="unknown format 'xlsx'"):
        export.export_bytes("xlsx", fig=go.Figure())
    with pytest.raises(UserError, match="needs the data"):
        export.export_bytes("csv", fig=go.Figure())


def test_no_browser_says_what_to_install(fig, monkeypatch):
    monkeypatch.setattr(export, "browser_path", lambda: None)
    with pytest.raises(UserError, match="apt-get install chromium"):
        export.figure_bytes(fig, "png")
    with pytest.raises(UserError, match="apt-get install chromium"):
        report.report_pdf({"Value map": fig}, {"encoder": "e"})


def test_write_picks_format_from_extension(tmp_path, data):
    path = export.write(tmp_path / "out" / "table.parquet", data=data)
    assert pd.read_parquet(path).shape == data.shape


def _report_parts(fig):
    heat = go.Figure(go.Heatmap(z=[[0, 0.3], [0.3, 0]], x=["eng", "fra"], y=["eng", "fra"]))
    prov = report.provenance(
        encoder="all-MiniLM-L6-v2",
        datasets=["mine <script>"],
        models=["gpt-4o"],
        languages=["eng", "fra"],
        projection={"method": "umap", "n_neighbors": 15, "min_dist": 0.1},
    )
    tables = {"Distances": pd.DataFrame({"language": ["eng"], "fra": [0.3]})}
    return {"Value map": fig, "Distances": heat, "Value profiles": None}, prov, tables


def test_report_html_is_self_contained(fig):
    figures, prov, tables = _report_parts(fig)
    html = report.report_html(figures, prov, tables)
    assert not EXTERNAL_SCRIPT.search(html)
    assert html.count("<script>") >= 1 and html.count("plotly.js v") <= 2  # inlined once
    for section in ("Value map", "Distances", "Value profiles", "Settings and provenance"):
        assert f"<h2>{section}</h2>" in html
    assert "not available" in html  # the missing profile says so instead of vanishing
    assert "mine &lt;script&gt;" in html and "mine <script>" not in html
    assert "projection n_neighbors" in html and "all-MiniLM-L6-v2" in html


@pytest.mark.slow
def test_static_images_open(fig):
    png, svg, pdf = export.render_images([(fig, "png"), (fig, "svg"), (fig, "pdf")], width=800)
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert struct.unpack(">II", png[16:24]) == (800, 800)
    root = ET.fromstring(svg)
    assert root.tag.endswith("svg")
    texts = "".join(root.itertext())
    assert "Value map <test>" in texts and "UMAP 1" in texts  # what the screen shows
    assert pdf.startswith(b"%PDF")


@pytest.mark.slow
def test_report_pdf_prints_offline(fig):
    figures, prov, tables = _report_parts(fig)
    pdf = report.report_pdf(figures, prov, tables)
    assert pdf.startswith(b"%PDF") and len(pdf) > 5_000
