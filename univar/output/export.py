"""Figures and tables as files: PNG/SVG/PDF (kaleido + Chromium), standalone HTML, CSV, Parquet.

Static images need a Chromium-family browser: kaleido drives it headless. Where none is found
the error says what to install, since kaleido's own hint (download Chrome) cannot work offline.
HTML inlines plotly.js (~4.8 MB), so an exported chart opens with the network off.
"""

from __future__ import annotations

import io
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

from univar.errors import UserError

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
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")  # OWASP's list for CSV injection
INSTALL_HINT = (
    "static image export needs Chromium: install it with `apt-get install chromium` "
    "(Debian/Ubuntu) or your system's chromium package, or point BROWSER_PATH at a "
    "Chrome/Chromium binary"
)
DEFAULT_SIZE = {"width": 1200, "height": 800}


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
    import plotly.io as pio

    opts = {**DEFAULT_SIZE, **{k: v for k, v in size.items() if v}}
    with tempfile.TemporaryDirectory(prefix="univar-export-") as tmp:
        paths = [Path(tmp) / f"figure{i}.{fmt}" for i, fmt in enumerate(fmts)]
        try:  # the format of each file follows its extension
            pio.write_images([fig for fig, _ in jobs], paths, **opts)
        except Exception as exc:
            if type(exc).__name__ in ("ChromeNotFoundError", "BrowserFailedError"):
                raise UserError(f"{INSTALL_HINT} ({type(exc).__name__})") from None
            raise
        return [p.read_bytes() for p in paths]


def figures_bytes(figs: Sequence, fmt: str, **size) -> list[bytes]:
    """Several figures in one format, in one browser session."""
    return render_images([(fig, fmt) for fig in figs], **size)


def figure_bytes(fig, fmt: str, *, width: int | None = None, height: int | None = None) -> bytes:
    """One figure as PNG, SVG or PDF (HTML: use html_bytes)."""
    if (fmt or "").lower() == "html":
        return html_bytes(fig)
    return figures_bytes([fig], fmt, width=width, height=height)[0]


def html_bytes(fig, *, title: str | None = None) -> bytes:
    """A standalone page with plotly.js inlined: no CDN, works offline."""
    import plotly.io as pio

    html = pio.to_html(
        fig,
        include_plotlyjs=True,
        include_mathjax=False,
        full_html=True,
        config={"displaylogo": False},
    )
    if title:
        from html import escape

        html = html.replace("<head>", f"<head><title>{escape(title)}</title>", 1)
    return html.encode("utf-8")


def neutralise(value):
    """A string a spreadsheet would run as a formula gets a leading apostrophe."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
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
