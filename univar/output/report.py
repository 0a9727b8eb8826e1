"""The one-click report: one self-contained HTML file (and a PDF) with the value map, the
distance heatmap, the value profiles and the settings and provenance behind them.

The builder takes figures as arguments, so it does not care which module drew them: the CLI
and the pages pass the very figures the screen shows. The HTML inlines plotly.js once (it opens
with the network off). The PDF is the same page with each figure as a static SVG, printed by
headless Chromium: interactive plots would print before they finish drawing.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import subprocess
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from html import escape
from pathlib import Path

from univar import __version__, ids
from univar.elicit import survey
from univar.errors import UserError
from univar.figures import compare_charts
from univar.paths import Db

SECTIONS = ("Value map", "Distances", "Value profiles")
# the static page (inline SVGs, printed to PDF) runs no script at all
_STATIC_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; font-src data:"
_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 1200px; color: #222; }
h1 { margin-bottom: 0.2rem; } .sub { color: #666; margin-top: 0; }
table { border-collapse: collapse; margin: 0.5rem 0 1.5rem; font-size: 0.9rem; }
th, td { border: 1px solid #ccc; padding: 0.25rem 0.6rem; text-align: left; vertical-align: top; }
th { background: #f3f3f3; } section { page-break-inside: avoid; margin-bottom: 2rem; }
.missing { color: #a33; font-style: italic; } svg { max-width: 100%; height: auto; }
"""


def provenance(
    *,
    encoder: str,
    datasets: list[str],
    models: list[str],
    languages: list[str],
    projection: Mapping | None = None,
    extra: Mapping | None = None,
) -> dict:
    """The settings a reader needs to reproduce the figures, in display order."""
    prov = {
        "created": dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
        "univar-studio": __version__,
        "encoder": encoder,
        "datasets": ", ".join(datasets) or "all",
        "models": ", ".join(models),
        "languages": ", ".join(languages),
    }
    for key, value in (projection or {}).items():
        prov[f"projection {key}"] = value
    prov.update(extra or {})
    return prov


def _table(df, max_rows: int = 200) -> str:
    head = "".join(f"<th>{escape(str(c))}</th>" for c in df.columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{escape(_fmt(v))}</td>" for v in row) + "</tr>"
        for row in df.head(max_rows).itertuples(index=False)
    )
    more = f"<p class='sub'>first {max_rows} of {len(df)} rows</p>" if len(df) > max_rows else ""
    return f"<table><tr>{head}</tr>{body}</table>{more}"


def _fmt(v) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def _kv_table(items: Mapping) -> str:
    rows = "".join(
        f"<tr><th>{escape(str(k))}</th><td>{escape(str(v))}</td></tr>" for k, v in items.items()
    )
    return f"<table>{rows}</table>"


def _page(title: str, prov: Mapping, blocks: list[str], head_js: str = "") -> str:
    from univar.output import export

    policy = export.HTML_CSP if head_js else _STATIC_CSP
    return (
        f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>{export.csp_meta(policy)}"
        f"<title>{escape(title)}</title><style>{_STYLE}</style>{head_js}</head><body>"
        f"<h1>{escape(title)}</h1><p class='sub'>{escape(str(prov.get('created', '')))}</p>"
        + "".join(blocks)
        + "<section><h2>Settings and provenance</h2>"
        + _kv_table(prov)
        + "</section></body></html>"
    )


def _blocks(figures: Mapping, tables: Mapping | None, render) -> list[str]:
    blocks = []
    names = list(SECTIONS) + [n for n in figures if n not in SECTIONS]
    for name in names:
        if name not in figures:
            continue
        fig = figures[name]
        body = (
            render(name, fig)
            if fig is not None
            else "<p class='missing'>not available for this selection</p>"
        )
        table = (tables or {}).get(name)
        extra = _table(table) if table is not None else ""
        blocks.append(f"<section><h2>{escape(name)}</h2>{body}{extra}</section>")
    return blocks


def report_html(
    figures: Mapping, prov: Mapping, tables: Mapping | None = None, *, title: str = ""
) -> str:
    """The interactive report: plotly.js inlined once, every figure as a live chart."""
    import plotly.io as pio
    from plotly.offline import get_plotlyjs

    title = title or "UniVaR Studio report"
    head_js = f"<script>{get_plotlyjs()}</script>"
    config = {"displaylogo": False}

    def render(_name, fig):
        return pio.to_html(fig, full_html=False, include_plotlyjs=False, config=config)

    return _page(title, prov, _blocks(figures, tables, render), head_js)


def report_static_html(
    figures: Mapping, prov: Mapping, tables: Mapping | None = None, *, title: str = ""
) -> str:
    """The same report with each figure as an inline SVG (no script at all)."""
    from univar.output import export

    present = [(n, f) for n, f in figures.items() if f is not None]
    svgs = export.figures_bytes([f for _, f in present], "svg")
    by_name = {
        n: _strip_xml_decl(s.decode("utf-8")) for (n, _), s in zip(present, svgs, strict=True)
    }
    title = title or "UniVaR Studio report"
    return _page(title, prov, _blocks(figures, tables, lambda name, _f: by_name[name]))


def _strip_xml_decl(svg: str) -> str:
    return svg[svg.index("?>") + 2 :] if svg.startswith("<?xml") else svg


def report_pdf(
    figures: Mapping, prov: Mapping, tables: Mapping | None = None, *, title: str = ""
) -> bytes:
    """The static report printed to PDF by headless Chromium (offline; ~6 s)."""
    from univar.output import export

    browser = export.browser_path()
    if browser is None:
        raise UserError(export.INSTALL_HINT)
    html = report_static_html(figures, prov, tables, title=title)
    with tempfile.TemporaryDirectory(prefix="univar-report-") as tmp:
        page, pdf = Path(tmp) / "report.html", Path(tmp) / "report.pdf"
        page.write_text(html, encoding="utf-8")
        cmd = [
            browser,
            "--headless",
            "--no-sandbox",  # root in containers; the page is our own, with no script
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--proxy-server={export.NO_NETWORK_PROXY}",
            f"--user-data-dir={tmp}/profile",
            "--no-pdf-header-footer",
            f"--print-to-pdf={pdf}",
            page.as_uri(),
        ]
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        except subprocess.TimeoutExpired:
            raise UserError("Chromium took over 120 s to print the report") from None
        if not pdf.exists():
            raise UserError(f"Chromium did not print the report: {done.stderr.strip()[-300:]}")
        return pdf.read_bytes()


# --- the charts, from the store: the same calls the pages make --------------------------------


@dataclass
class Chart:
    """A figure and the data behind it (what the CSV/Parquet export holds)."""

    fig: object
    data: object
    title: str


def map_chart(
    db: Db, encoder, selection, config, color_by: str = "language", *, quality=None
) -> Chart:
    """The value map of the Value map page; `quality` (`quality.filter.QualityFilter`): by
    default the QA pairs a quality check flagged are left out. A selection larger than the
    page draws is drawn, and its data held, as the page's sample (`mapdata.map_view`)."""
    from univar.analysis import mapdata
    from univar.figures import value_map

    view = mapdata.map_view(db, encoder, selection, config, quality=quality)
    points = view.points
    data = points.drop(columns=[c for c in mapdata.TEXT_COLUMNS if c in points])
    fig = value_map.value_map_figure(points, color_by, total=view.total, centroids=view.centroids)
    return Chart(fig, data, "Value map")


def distance_chart(
    db: Db,
    encoder,
    selection,
    by: str = "language",
    metric: str = "cosine",
    settings=None,
    *,
    quality=None,
) -> Chart:
    """The clustered distance heatmap between languages, models or identities, with each
    pair's bootstrap interval and permutation p-value (`uncertainty.UncertaintyConfig`
    settings), of the QA pairs `quality` lets through; its data is the long table, one row
    per pair."""
    from univar.analysis import distances, uncertainty

    frame, vectors = distances.load(db, encoder, selection.datasets, quality)
    keep = frame.index == frame.index  # all rows, then narrowed by the selection
    if selection.models is not None:
        keep &= frame["model"].isin(selection.models).to_numpy()
    if selection.languages is not None:
        keep &= frame["language"].isin(selection.languages).to_numpy()
    table = uncertainty.distance_table(
        db, frame[keep], vectors[keep], encoder.id, by, metric, settings
    )
    matrix = table.matrix()
    order = distances.cluster_order(matrix)
    title = f"{distances.METRICS[metric]} between {by}s"
    fig = compare_charts.heatmap_figure(matrix, order, title=title, pairs=table.pairs)
    return Chart(fig, table.export_frame(), "Distances")


def profile_chart(db: Db, selection, instrument: str | None = None) -> Chart:
    """Survey value profiles (centred scores) of the selected model$language identities."""
    from univar.figures import overlay_charts

    profile = survey.survey_profile(db, None, instrument)
    if selection.models is not None:
        profile = profile[profile["identity"].map(ids.identity_model).isin(selection.models)]
    if selection.languages is not None:
        profile = profile[profile["identity"].map(ids.identity_language).isin(selection.languages)]
    if profile.empty:
        raise UserError("no survey scores for this selection: run `python -m univar survey`")
    return Chart(overlay_charts.profile_figure(profile), profile, "Value profiles")


def collect(
    db: Db,
    encoder,
    selection,
    config,
    *,
    color_by="language",
    by="language",
    metric="cosine",
    instrument=None,
    distance_settings=None,
    quality=None,
):
    """(figures, provenance, tables) for the report; a chart that cannot be drawn for this
    selection (no surveys yet, one language only) is listed as not available. The map and the
    distances read the QA pairs `quality` lets through (by default: no flagged ones)."""
    from univar.analysis import mapdata
    from univar.quality.filter import QualityFilter

    quality = quality or QualityFilter()
    charts, missing = {}, {}
    for name, build in (
        ("Value map", lambda: map_chart(db, encoder, selection, config, color_by, quality=quality)),
        (
            "Distances",
            lambda: distance_chart(
                db, encoder, selection, by, metric, distance_settings, quality=quality
            ),
        ),
        ("Value profiles", lambda: profile_chart(db, selection, instrument)),
    ):
        try:
            charts[name] = build()
        except UserError as exc:
            missing[name] = str(exc)
    points = charts["Value map"].data if "Value map" in charts else None
    if points is None:
        raise UserError(missing.get("Value map", "no value map for this selection"))
    prov = provenance(
        encoder=encoder.id,
        datasets=sorted(points["dataset"].unique()),
        models=sorted(points["model"].unique()),
        languages=sorted(points["language"].unique()),
        projection=dataclasses.asdict(config),
        extra={
            "QA pairs": len(points),
            "quality filter": quality.describe(),
            "left out": mapdata.left_out(db, selection, quality) or "none",
            "distance": f"{metric} between {by}s",
        }
        | {f"{k}: not available": v for k, v in missing.items()},
    )
    figures = {name: charts[name].fig if name in charts else None for name in SECTIONS}
    tables = {"Distances": charts["Distances"].data} if "Distances" in charts else {}
    return figures, prov, tables
