"""UniVaR Studio: browse the human values that LLMs express. `streamlit run app.py`.

The router and the shared sidebar; every screen is a file in pages/, included when it exists.
`streamlit run` finds the App at the bottom and serves it; each browser session then runs this
file as __main__.
"""

from __future__ import annotations

import os

# Before anything heavy loads: no model hub, no price-table download (the user may override).
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

import ast  # noqa: E402
import contextlib  # noqa: E402
import importlib  # noqa: E402
import logging  # noqa: E402
from pathlib import Path  # noqa: E402

import streamlit as st  # noqa: E402

ROOT = Path(__file__).resolve().parent
PAGES = (  # file, title, icon; the first is the default
    ("pages/value_map.py", "Value map", ":material/scatter_plot:"),
    ("pages/compare.py", "Compare", ":material/compare_arrows:"),
    ("pages/elicit.py", "Elicit", ":material/forum:"),
    ("pages/upload.py", "Upload", ":material/upload_file:"),
    ("pages/train_evaluate.py", "Train & evaluate", ":material/model_training:"),
    ("pages/about.py", "Data & provenance", ":material/info:"),
)


def page_imports() -> list[str]:
    """The univar modules the pages and their helpers import at their top, as names under
    `univar.` (they bring pandas, Plotly and DuckDB; torch and the like load later, on use).
    Only our own: pages.* run only in a session (_shared switches Streamlit's folder mode off),
    and nothing else is imported by a name read at run time."""
    names: list[str] = []
    for path in sorted((ROOT / "pages").glob("*.py")):
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if isinstance(node, ast.Import):
                names += [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                names += [node.module] + [f"{node.module}.{a.name}" for a in node.names]
    ours = (n.removeprefix("univar.") for n in names if n.startswith("univar."))
    return list(dict.fromkeys(ours))


@contextlib.asynccontextmanager
async def warm(_app):
    """Before the server takes its first connection: import what the pages import, find the
    default encoder's id and build one tiny map, so that the first page run pays none of it
    (about 1.5 s of a first map on 2 cores). Only a head start: whatever fails here is logged
    and left to the page, which shows it as it always did."""
    for name in page_imports():
        _try(importlib.import_module, f"univar.{name}")
    from univar import encoders
    from univar.figures import value_map

    _try(encoders.encoder_id)
    _try(value_map.warm)
    yield


def _try(step, *args) -> None:
    try:
        step(*args)
    except ModuleNotFoundError:  # `from univar.m import f` named f, which is no module
        pass
    except Exception as exc:  # a broken setting or module: the page reports it
        logging.getLogger("univar").warning("warm-up step %s skipped: %s", step.__name__, exc)


def main() -> None:
    from pages._shared import current_db, sidebar
    from univar import store

    st.set_page_config(
        page_title="UniVaR Studio",
        page_icon=str(ROOT / "assets" / "logo.svg"),
        layout="wide",
        menu_items={"About": "UniVaR Studio: value maps of LLMs (Cahyawijaya et al., NAACL 2025)."},
    )
    pages = [
        st.Page(path, title=title, icon=icon, default=i == 0)
        for i, (path, title, icon) in enumerate(PAGES)
        if (ROOT / path).exists()
    ]
    page = st.navigation(pages)
    st.logo(str(ROOT / "assets" / "logo.svg"))
    with store.kept_open(current_db()):  # a page's dozen short connections share one open file
        sidebar()
        page.run()


if __name__ == "__main__":
    main()
else:  # imported by `streamlit run app.py`, which serves this App
    app = st.App(__file__, lifespan=warm)
