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

from univar.errors import UserError
from univar.output import export, report

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


# --- charts from the store, and the CLI ---------------------------------------------------------


class HashEncoder:
    """A stand-in encoder: deterministic vectors from a text hash, no model to load."""

    id, dim = "hash-encoder", 16

    def encode(self, texts, batch_size=64):
        import hashlib

        import numpy as np

        rows = [np.frombuffer(hashlib.sha256(t.encode()).digest()[:16], np.uint8) for t in texts]
        return np.asarray(rows, dtype=np.float32) / 255.0


@pytest.fixture
def qa_db(tmp_db):
    from univar.ingest import importers
    from univar.ingest.validate import validate_bytes

    lines = ["question,answer,model,language,question_en,answer_en,value,framework"]
    for model in ("alpha", "beta"):
        for i in range(12):
            lines.append(f"Q{i}?,{model} says {i} things,{model},eng,,,SDT,Schwartz")
            lines.append(
                f"Q{i} fr ?,{model} dit {i} choses,{model},fra,Q{i}?,{model} says {i} things!,,"
            )
    v = validate_bytes("\n".join(lines).encode())
    importers.import_validation(v, tmp_db, dataset="mine")
    return tmp_db


def test_charts_and_report_from_the_store(qa_db):
    from univar.analysis import mapdata
    from univar.analysis.projection import ProjectionConfig

    selection, config = mapdata.Selection(), ProjectionConfig(method="pca")
    chart = report.map_chart(qa_db, HashEncoder(), selection, config)
    assert len(chart.data) == 48 and {"x", "y", "identity"} <= set(chart.data.columns)
    assert "question" not in chart.data  # texts stay out of the table export
    dist = report.distance_chart(qa_db, HashEncoder(), selection)
    assert list(dist.data.columns) == [
        "language_a",
        "language_b",
        "distance",
        "ci_low",
        "ci_high",
        "p_value",
        "shared_questions",
    ]
    assert list(dist.data[["language_a", "language_b"]].iloc[0]) == ["eng", "fra"]
    assert dist.fig.to_dict()["data"][0]["type"] == "heatmap"
    figures, prov, tables = report.collect(qa_db, HashEncoder(), selection, config)
    assert figures["Value profiles"] is None  # no surveys in this database
    assert "no survey scores" in prov["Value profiles: not available"]
    assert prov["models"] == "alpha, beta" and prov["projection method"] == "pca"
    html = report.report_html(figures, prov, tables)
    assert not EXTERNAL_SCRIPT.search(html) and "hash-encoder" in html


def test_cli_export_says_what_is_wrong(qa_db, tmp_path, capsys):
    from univar.cli import main

    assert main(["export", "--kind", "report", "--out", str(tmp_path / "r.png")]) == 2
    assert "the report is html or pdf" in capsys.readouterr().err
    assert main(["export", "--kind", "map", "--out", str(tmp_path / "m.xyz")]) == 2
    assert "give --format" in capsys.readouterr().err
    assert main(["export", "--kind", "profile", "--out", str(tmp_path / "p.csv")]) == 2
    assert "python -m univar survey" in capsys.readouterr().err


@pytest.mark.slow
def test_cli_exports_with_the_real_encoder(qa_db, tmp_path):
    from univar.cli import main

    common = ["--method", "pca", "--db", str(qa_db)]
    assert main(["export", "--kind", "map", "--out", str(tmp_path / "map.parquet"), *common]) == 0
    assert len(pd.read_parquet(tmp_path / "map.parquet")) == 48
    assert main(["export", "--kind", "distances", "--out", str(tmp_path / "d.csv"), *common]) == 0
    assert main(["export", "--kind", "map", "--out", str(tmp_path / "map.svg"), *common]) == 0
    assert ET.parse(tmp_path / "map.svg").getroot().tag.endswith("svg")
    assert main(["export", "--kind", "report", "--out", str(tmp_path / "r.html"), *common]) == 0
    html = (tmp_path / "r.html").read_text("utf-8")
    # the report names the encoder the CLI used: the app's default (the shipped one when present)
    from univar import encoders

    assert encoders.encoder_id() in html and not EXTERNAL_SCRIPT.search(html)


def test_uploaded_datasets_are_outlined_diamonds_on_the_map(qa_db):
    from univar.analysis import mapdata
    from univar.analysis.projection import ProjectionConfig
    from univar.figures import value_map
    from univar.store import datasets

    chart = report.map_chart(qa_db, HashEncoder(), mapdata.Selection(), ProjectionConfig("pca"))
    points = chart.data.assign(question="q", answer="a", question_en="q", answer_en="a")
    fig = value_map.value_map_figure(points, uploaded=datasets.uploaded(qa_db))
    mine = [t for t in fig.data if t.meta == "uploaded"]  # arrays: to_dict() packs them
    assert len(mine) == 1 and len(mine[0].x) == 48
    assert mine[0].marker.symbol == "diamond-open" and mine[0].name == "Uploaded data (48)"
    plain = value_map.value_map_figure(points).to_dict()
    assert not [t for t in plain["data"] if t.get("meta") == "uploaded"]
