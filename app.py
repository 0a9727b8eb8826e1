"""UniVaR Studio: browse the human values that LLMs express. `streamlit run app.py`.

The router and the shared sidebar; every screen is a file in pages/, included when it exists.
"""

from __future__ import annotations

import os

# Before anything heavy loads: no model hub, no price-table download (the user may override).
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from pathlib import Path  # noqa: E402

import streamlit as st  # noqa: E402

from pages._shared import current_db, sidebar  # noqa: E402
from univar import store  # noqa: E402

ROOT = Path(__file__).resolve().parent
PAGES = (  # file, title, icon; the first is the default
    ("pages/value_map.py", "Value map", ":material/scatter_plot:"),
    ("pages/compare.py", "Compare", ":material/compare_arrows:"),
    ("pages/elicit.py", "Elicit", ":material/forum:"),
    ("pages/upload.py", "Upload", ":material/upload_file:"),
    ("pages/train_evaluate.py", "Train & evaluate", ":material/model_training:"),
    ("pages/about.py", "Data & provenance", ":material/info:"),
)

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
