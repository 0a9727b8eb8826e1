"""What every page shares: the database and encoder in use (the sidebar) and cached handles.

Session keys every page reads: `db` (path of the DuckDB file; `db_path` holds the same) and
`encoder` (a name or path for `univar.encoders.load_encoder`; None means the default).
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from univar import encoders
from univar.analysis import mapdata
from univar.errors import UserError
from univar.ingest import demo
from univar.paths import db_path

OTHER_ENCODER = "Other (a sentence-transformers name or path) ..."


def _leave_folder_mode() -> None:
    """Until app.py has run once, Streamlit takes a `pages/` folder for an old-style multipage
    app: a deep link such as /compare as a new server's first request would run that page
    alone, without the router and sidebar. Every page imports this module, so it switches that
    off and reruns: the rerun goes through app.py's st.navigation to the same page."""
    try:
        from streamlit.runtime.pages_manager import PagesManager
    except ImportError:  # a Streamlit without that class has no such mode to leave
        return
    if getattr(PagesManager, "uses_pages_directory", False):
        PagesManager.uses_pages_directory = False
        st.rerun()


_leave_folder_mode()


def current_db() -> str:
    """The database this session uses: the sidebar's choice, else $UNIVAR_DB or the default."""
    if not st.session_state.get("db"):
        st.session_state.db = str(db_path())
    st.session_state.db_path = st.session_state.db  # the name some pages read
    return st.session_state.db


def current_encoder_name() -> str:
    if not st.session_state.get("encoder"):
        st.session_state.encoder = encoders.resolve_name(None)
    return st.session_state.encoder


@st.cache_resource(show_spinner=False)
def encoder_handle(name: str, trust_remote_code: bool = False) -> encoders.LazyEncoder:
    """One encoder per name per server; its model loads on the first text it must embed."""
    return encoders.LazyEncoder(name, trust_remote_code=trust_remote_code)


def current_encoder() -> encoders.LazyEncoder:
    trust = bool(st.session_state.get("encoder_trust_remote_code"))
    return encoder_handle(current_encoder_name(), trust)


@st.cache_resource(show_spinner="Loading the demo dataset ...")
def seed_demo(db: str) -> bool:
    """Once per database per server: an empty database gets the shipped demo."""
    return demo.seed_if_empty(db)


@st.cache_data(show_spinner=False, max_entries=32)
def counts(db: str, version: tuple) -> dict:
    return mapdata.database_counts(db)


def sidebar() -> None:
    """The database (path and what it holds) and the encoder, for every page."""
    db = current_db()
    with st.sidebar:
        st.markdown("### Database")
        typed = st.text_input(
            "DuckDB file",
            value=db,
            help="Every page reads and writes this file. A new path starts an empty database.",
        ).strip()
        if typed and typed != db:
            if not typed.endswith(".duckdb"):
                st.error("The database file name must end in .duckdb")
            else:
                st.session_state.db = st.session_state.db_path = typed
                st.rerun()
        try:
            seed_demo(db)
            c = counts(db, mapdata.db_version(db))
            st.caption(
                f"{c['qa_pairs']:,} QA pairs · {c['models']:,} models · "
                f"{c['languages']:,} languages · {c['datasets']:,} datasets · "
                f"{c['vectors']:,} cached vectors · {c['maps']:,} cached maps"
            )
        except Exception as exc:  # a locked or foreign file: say so, keep the app usable
            st.error(f"Cannot read {Path(db).name}: {exc}")
        st.markdown("### Encoder")
        choices = encoders.encoder_choices()
        name = current_encoder_name()
        options = [*choices, OTHER_ENCODER]
        picked = st.selectbox(
            "Sentence encoder",
            options,
            index=choices.index(name) if name in choices else len(choices),
            help="QA pairs are embedded as `Q: ... A: ...` with this encoder; each encoder "
            "has its own cached vectors and maps.",
        )
        if picked == OTHER_ENCODER:
            typed = st.text_input(
                "Encoder name or path",
                value="" if name in choices else name,
                placeholder="e.g. CAiRE/UniVaR-lambda-5 (needs network) or a local folder",
            ).strip()
            name = typed or name
            st.checkbox(
                "Run the encoder's own code (trust_remote_code)",
                key="encoder_trust_remote_code",
                help="Some models, such as CAiRE/UniVaR-lambda-5, ship Python code that runs "
                "when they load. Allow it only for models you trust.",
            )
        else:
            name = picked
        if name != st.session_state.encoder:
            st.session_state.encoder = name
            st.rerun()
        st.caption(f"In use: `{name}`")


def plain(message) -> str:
    """A message as literal text in Streamlit's markdown: two `$` (as in two model$language
    identities) would otherwise typeset what lies between them as LaTeX."""
    return str(message).replace("$", "\\$")


def show_user_error(exc: UserError) -> None:
    st.error(plain(exc))
