"""Export buttons for any chart: `export_buttons(fig, data, name)` under it.

PNG, SVG, PDF and HTML come from the figure, CSV and Parquet from the data behind it. Bytes are
made only when a button is clicked (Streamlit runs the callable then), so a page with many
charts pays nothing until someone downloads.
"""

from __future__ import annotations

import functools
import re

import streamlit as st

from univar.output import export, report

LABELS = {
    "png": "PNG",
    "svg": "SVG",
    "pdf": "PDF",
    "html": "HTML",
    "csv": "CSV",
    "parquet": "Parquet",
}


@st.cache_resource(show_spinner=False)
def _browser() -> str | None:
    return export.browser_path()


def file_stem(name: str) -> str:
    return re.sub(r"[^\w.-]+", "-", name).strip("-.") or "chart"


def export_buttons(fig, data, name: str, *, key: str | None = None) -> None:
    """A row of download buttons; a format whose input is missing is shown disabled."""
    key = f"export-{key or file_stem(name)}"
    stem = file_stem(name)
    browser = _browser()
    for column, fmt in zip(st.columns(len(export.FORMATS)), export.FORMATS, strict=True):
        source = data if fmt in export.TABLE_FORMATS else fig
        no_browser = fmt in export.IMAGE_FORMATS and browser is None
        help_text = export.INSTALL_HINT if no_browser else f"download as {LABELS[fmt]}"
        column.download_button(
            LABELS[fmt],
            data=functools.partial(export.export_bytes, fmt, fig, data),
            file_name=f"{stem}.{fmt}",
            mime=export.MIME[fmt],
            key=f"{key}-{fmt}",
            help=help_text,
            disabled=source is None or no_browser,
            on_click="ignore",
            width="stretch",
        )


def report_buttons(db, encoder, selection, config, *, key: str = "report", **options) -> None:
    """The one-click report (HTML, PDF) of a selection: map, distances, value profiles and the
    settings behind them. Built only when clicked; the same builder as `univar export`."""

    def build(fmt: str) -> bytes:
        figures, prov, tables = report.collect(db, encoder, selection, config, **options)
        if fmt == "pdf":
            return report.report_pdf(figures, prov, tables)
        return report.report_html(figures, prov, tables).encode("utf-8")

    left, right = st.columns(2)
    left.download_button(
        "Report (HTML)",
        data=functools.partial(build, "html"),
        file_name="univar-report.html",
        mime="text/html",
        key=f"{key}-html",
        help="one self-contained file: opens offline, charts stay interactive",
        on_click="ignore",
        width="stretch",
    )
    right.download_button(
        "Report (PDF)",
        data=functools.partial(build, "pdf"),
        file_name="univar-report.pdf",
        mime="application/pdf",
        key=f"{key}-pdf",
        help=export.INSTALL_HINT if _browser() is None else "printed by headless Chromium",
        disabled=_browser() is None,
        on_click="ignore",
        width="stretch",
    )
