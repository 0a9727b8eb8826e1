"""Figures and tables as files: PNG/SVG/PDF (kaleido + Chromium), standalone HTML, CSV, Parquet.

Static images need a Chromium-family browser: kaleido drives it headless. Where none is found
the error says what to install, since kaleido's own hint (download Chrome) cannot work offline.
HTML inlines plotly.js (~4.8 MB), so an exported chart opens with the network off.
Text from data reaches figures escaped (`figures.mapstyle.html_text`); in depth, kaleido's page
and every exported page carry a Content-Security-Policy that lets them fetch nothing.
"""

from __future__ import annotations

import io
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

from univar.errors import UserError
from univar.ingest.csvfile import FORMULA_START, formula_start

IMAGE_FORMATS = ("png", "svg", "pdf")
TABLE_FORMATS = ("csv", "parquet")
FORMATS = (*IMAGE_FORMATS, "html", *TABLE_FORMATS)
MIME = {
    "png": "image/png",
    "svg": "image/svg+xml",
    "pdf": "application/pdf",
    "html": "text/html",
    "csv": "text/csv",
    "parquet": "application/vnd.apache.parquet",
}
# OWASP's CSV-injection list adds tab and carriage return as first characters of their own
EXPORT_START = (*FORMULA_START, "\t", "\r")
INSTALL_HINT = (
    "static image export needs Chromium: install it with `apt-get install chromium` "
    "(Debian/Ubuntu) or your system's chromium package, or point BROWSER_PATH at a "
    "Chrome/Chromium binary"
)
DEFAULT_SIZE = {"width": 1200, "height": 800}
# The page kaleido draws in may load its own files (plotly.js, kaleido's script) and data:
# images, nothing else: a url() or <img> that reached a figure's text fetches nothing, on a
# server whose exports anyone using it may trigger.
EXPORT_CSP = (
    "default-src 'none'; script-src file:; style-src 'unsafe-inline'; img-src data: blob:; "
    "font-src data:"
)
# An exported page (plotly.js inline, as is the figure) needs nothing from anywhere else.
HTML_CSP = (
    "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
    "img-src data: blob:; font-src data:"
)
# Any other request of that Chromium (loopback aside: Chromium never proxies it, the CSP
# covers it) goes to a proxy that does not exist, and fails instead of leaving the machine.
NO_NETWORK_PROXY = "http://127.0.0.1:9"


def browser_path() -> str | None:
    """The Chromium kaleido will use, or None; a cheap search that starts no browser."""
    try:
        from choreographer.browsers.chromium import Chromium

        return Chromium.find_browser(skip_local=False)
    except Exception:  # an older choreographer: fall back to the usual names on PATH
        return next(
            (
                p
                for n in ("chromium", "chromium-browser", "google-chrome")
                if (p := shutil.which(n))
            ),
            None,
        )


def _check_format(fmt: str, allowed: Sequence[str]) -> str:
    fmt = (fmt or "").lower().lstrip(".")
    if fmt not in allowed:
        raise UserError(f"unknown format {fmt!r}; use one of {', '.join(allowed)}")
    return fmt


def render_images(jobs: Sequence[tuple[object, str]], **size) -> list[bytes]:
    """(figure, png|svg|pdf) pairs rendered in ONE browser session: kaleido starts Chromium
    once per call (~4 s), so batching five figures costs about what one does."""
    fmts = [_check_format(fmt, IMAGE_FORMATS) for _, fmt in jobs]
    if not jobs:
        return []
    if browser_path() is None:
        raise UserError(INSTALL_HINT)
    import kaleido

    opts = {**DEFAULT_SIZE, **{k: v for k, v in size.items() if v}}
    with tempfile.TemporaryDirectory(prefix="univar-export-") as tmp:
        paths = [Path(tmp) / f"figure{i}.{fmt}" for i, fmt in enumerate(fmts)]
        specs = [
            {"fig": fig, "path": path, "opts": {**opts, "format": fmt}}
            for (fig, _), path, fmt in zip(jobs, paths, fmts, strict=True)
        ]
        try:  # kaleido itself, not plotly.io.write_images, which cannot set the page or browser
            kaleido.write_fig_from_object_sync(
                specs, kopts=_kaleido_options(), cancel_on_error=True
            )
        except Exception as exc:
            if type(exc).__name__ in ("ChromeNotFoundError", "BrowserFailedError"):
                raise UserError(f"{INSTALL_HINT} ({type(exc).__name__})") from None
            raise
        return [p.read_bytes() for p in paths]


def _kaleido_options() -> dict:
    """The render page with EXPORT_CSP and without MathJax (kaleido's default fetches it from a
    CDN, and it would typeset text between two `$`, which the screen shows as typed), and the
    browser behind NO_NETWORK_PROXY."""
    from kaleido import PageGenerator

    if "<head>" not in PageGenerator.header:  # a kaleido whose page this cannot lock down
        raise RuntimeError("kaleido's page has no <head> to put the export CSP in")

    class LockedPage(PageGenerator):
        header = PageGenerator.header.replace("<head>", f"<head>{csp_meta(EXPORT_CSP)}", 1)

    return {"page_generator": LockedPage(mathjax=False), "proxy_server": NO_NETWORK_PROXY}


def figures_bytes(figs: Sequence, fmt: str, **size) -> list[bytes]:
    """Several figures in one format, in one browser session."""
    return render_images([(fig, fmt) for fig in figs], **size)


def figure_bytes(fig, fmt: str, *, width: int | None = None, height: int | None = None) -> bytes:
    """One figure as PNG, SVG or PDF (HTML: use html_bytes)."""
    if (fmt or "").lower() == "html":
        return html_bytes(fig)
    return figures_bytes([fig], fmt, width=width, height=height)[0]


def csp_meta(policy: str) -> str:
    return f'<meta http-equiv="Content-Security-Policy" content="{policy}">'


def html_bytes(fig, *, title: str | None = None) -> bytes:
    """A standalone page with plotly.js inlined: no CDN, works offline, fetches nothing."""
    import plotly.io as pio

    html = pio.to_html(
        fig,
        include_plotlyjs=True,
        include_mathjax=False,
        full_html=True,
        config={"displaylogo": False},
    )
    head = csp_meta(HTML_CSP)
    if title:
        from html import escape

        head += f"<title>{escape(title)}</title>"
    return html.replace("<head>", f"<head>{head}", 1).encode("utf-8")


def neutralise(value):
    """A string a spreadsheet would run as a formula gets a leading apostrophe."""
    if isinstance(value, str) and (value.startswith(EXPORT_START) or formula_start(value)):
        return "'" + value
    return value


def spreadsheet_safe(df):
    """A copy whose text cells and column names cannot run as formulas; numbers stay numbers."""
    out = df.copy()
    out.columns = [neutralise(str(c)) for c in out.columns]
    for col in out.columns:
        if out[col].dtype.kind not in "biufcmM":  # text and object columns only
            out[col] = out[col].map(neutralise)
    return out


def table_bytes(df, fmt: str) -> bytes:
    """The data behind a chart: spreadsheet-safe CSV (UTF-8 with BOM, for Excel) or Parquet."""
    fmt = _check_format(fmt, TABLE_FORMATS)
    if fmt == "csv":
        return spreadsheet_safe(df).to_csv(index=False).encode("utf-8-sig")
    buf = io.BytesIO()
    df.to_parquet(buf, index=False)
    return buf.getvalue()


def export_bytes(fmt: str, fig=None, data=None) -> bytes:
    """Any export format: image/HTML formats from the figure, tables from the data."""
    fmt = _check_format(fmt, FORMATS)
    if fmt in TABLE_FORMATS:
        if data is None:
            raise UserError(f"{fmt} export needs the data behind the chart")
        return table_bytes(data, fmt)
    if fig is None:
        raise UserError(f"{fmt} export needs a figure")
    return html_bytes(fig) if fmt == "html" else figure_bytes(fig, fmt)


def write(path: str | Path, fmt: str | None = None, fig=None, data=None) -> Path:
    """Write one export to `path`; the format defaults to the file's extension."""
    path = Path(path)
    fmt = fmt or path.suffix.lstrip(".")
    content = export_bytes(fmt, fig, data)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return path
