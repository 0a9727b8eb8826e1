"""What every page shares: the database and encoder in use (the sidebar) and cached handles.

Session keys every page reads: `db` (path of the DuckDB file; `db_path` holds the same) and
`encoder` (a name or path for `univar.encoders.load_encoder`; None means the default).
"""

from __future__ import annotations

import logging
import re
import uuid
from contextlib import contextmanager
from pathlib import Path

import streamlit as st

import univar.policy
from univar import encoders, store
from univar.analysis import mapdata
from univar.errors import UserError
from univar.ingest import demo

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


def policy() -> univar.policy.Policy:
    """The operator's policy for this request. Not cached: it is cheap, and the operator (or a
    test) may change the settings while the server runs."""
    return univar.policy.load(server_address=st.get_option("server.address"))


def session_owner() -> str:
    """An id for this browser session, to tell whose job is whose. Streamlit's own session id is
    not used: AppTest gives every test session the same one."""
    if "univar_session" not in st.session_state:
        st.session_state.univar_session = uuid.uuid4().hex
    return st.session_state.univar_session


def current_db() -> str:
    """The database this session uses: the sidebar's choice, else $UNIVAR_DB or the default."""
    if not st.session_state.get("db"):
        st.session_state.db = str(policy().default_db())
    st.session_state.db_path = st.session_state.db  # the name some pages read
    return st.session_state.db


def current_encoder_name() -> str:
    if not st.session_state.get("encoder"):
        default = encoders.resolve_name(None)
        # by its listed name: the sidebar then shows it as that choice, not as a path
        st.session_state.encoder = encoders.listed_name(default) or default
    return st.session_state.encoder


@st.cache_resource(show_spinner=False)
def encoder_handle(name: str, trust_remote_code: bool = False) -> encoders.LazyEncoder:
    """One encoder per name per server; its model loads on the first text it must embed."""
    return encoders.LazyEncoder(name, trust_remote_code=trust_remote_code)


def current_encoder() -> encoders.LazyEncoder:
    trust = bool(st.session_state.get("encoder_trust_remote_code"))
    # the sidebar checked the name when it was typed; this catches any other way in
    return encoder_handle(encoders.check_allowed(current_encoder_name(), policy(), trust), trust)


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
            try:
                chosen = policy().resolve_inside(typed, "database file")
                if not chosen.name.endswith(".duckdb"):
                    raise UserError("The database file name must end in .duckdb")
                store.check_store(chosen)  # somebody else's DuckDB file is never written to
            except (UserError, store.StoreError) as exc:
                show_user_error(exc)
            else:
                st.session_state.db = st.session_state.db_path = str(chosen)
                st.rerun()
        # a locked or foreign file: say so and keep the app usable; a database error's own
        # text holds the file's full path, so only the log gets it
        with shown_errors(f"reading {Path(db).name}"):
            seed_demo(db)
            c = counts(db, mapdata.db_version(db))
            st.caption(
                f"{c['qa_pairs']:,} QA pairs · {c['models']:,} models · "
                f"{c['languages']:,} languages · {c['datasets']:,} datasets · "
                f"{c['vectors']:,} cached vectors · {c['maps']:,} cached maps"
            )
        st.markdown("### Encoder")
        encoder_choice()


def encoder_choice() -> None:
    """The listed encoders by name, each with its one-line summary and its card; a typed name
    or path (and the trust_remote_code box) only under "Other"."""
    listed = {e.name: e for e in encoders.listed_encoders()}
    name = current_encoder_name()
    shown = encoders.listed_name(name)
    options = [*listed, OTHER_ENCODER]
    picked = st.selectbox(
        "Sentence encoder",
        options,
        index=options.index(shown) if shown in listed else len(listed),
        format_func=lambda n: listed[n].label if n in listed else n,
        help="QA pairs are embedded as `Q: ... A: ...` with this encoder; each encoder "
        "has its own cached vectors and maps.",
    )
    if picked == OTHER_ENCODER:
        name = other_encoder(name, typed_before=shown is None)
    else:
        name = picked
        # the box belongs to a typed model: a listed one never runs code of its own
        st.session_state.encoder_trust_remote_code = False
        encoder_card(listed[picked])
    if name != st.session_state.encoder:
        st.session_state.encoder = name
        st.rerun()
    if picked == OTHER_ENCODER:
        st.caption(f"In use: {plain(name)}")


def encoder_card(listed: encoders.ListedEncoder) -> None:
    st.caption(plain(listed.summary))
    if listed.card:
        card = st.expander("Encoder card", key="sidebar_encoder_card", on_change="rerun")
        if card.open:  # built once opened: every page load would draw the viewer unseen
            card.json(listed.card, expanded=1)  # a JSON viewer: every value as literal text


def other_encoder(name: str, typed_before: bool) -> str:
    """A sentence-transformers name or path typed here, once this server allows it."""
    rules = policy()
    typed = st.text_input(
        "Encoder name or path",
        value=name if typed_before else "",
        placeholder="e.g. CAiRE/UniVaR-lambda-5 (needs network) or a local folder",
    ).strip()
    if rules.allows_remote_code():
        st.checkbox(
            "Run the encoder's own code (trust_remote_code)",
            key="encoder_trust_remote_code",
            help="Some models, such as CAiRE/UniVaR-lambda-5, ship Python code that runs "
            "when they load. Allow it only for models you trust.",
        )
    else:
        st.caption(
            "This server runs no encoder's own code (trust_remote_code): its operator "
            "has not allowed it."
        )
    if typed and typed != name:
        trust = bool(st.session_state.get("encoder_trust_remote_code"))
        try:
            allowed = encoders.check_allowed(typed, rules, trust)
            encoder_handle(allowed, trust)  # hashes a folder: a bad one is named here
        except UserError as exc:
            show_user_error(exc)
        else:
            return allowed
    return name


# Each character to which Markdown, GitHub's Markdown or Streamlit give a meaning: links and
# images ([ ] ( ) !), raw HTML, entities and autolinks (< > & : and the . of www.x.org),
# emphasis, code, headings, lists, tables, rules (\ ` * _ # + - . | > ~ =), LaTeX ($) and
# Streamlit's :color[...] directives ({ }). CommonMark lets a backslash escape each of them.
_MARKDOWN_ESCAPES = str.maketrans({c: "\\" + c for c in "\\`*_{}[]()#+-.!|<>~$&:="})
# GitHub's Markdown links bare URLs and e-mails by a search in the text after escapes are
# undone: an invisible WORD JOINER in `http://`, `www.` and before `@` leaves nothing to find.
_AUTOLINK_JOINTS = re.compile(r"(?<=http:)(?=//)|(?<=https:)(?=//)|(?<=www)(?=\.)|(?=@)", re.I)


def plain(message) -> str:
    """Text from data as literal text in anything of Streamlit that renders Markdown (markdown,
    write, caption, info/warning/error/success, labels of widgets, expanders, tabs, metrics).

    Data: a CSV cell, an LLM's answer, a model, value, framework or dataset name, anything read
    from the database, an error that quotes one. Unescaped, `![x](https://host/p.png)` makes
    every viewer's browser fetch from that host, `[Re-enter your key](https://host)` is a live
    link and two `$` typeset LaTeX. Selectbox and multiselect options and data frames show text
    as it is: they take the text itself."""
    return _AUTOLINK_JOINTS.sub("\u2060", str(message)).translate(_MARKDOWN_ESCAPES)


def show_user_error(exc: UserError) -> None:
    st.error(plain(exc))


_log = logging.getLogger("univar.pages")


class Outcome:
    """What `shown_errors` saw: `failed` turns True when it showed an error."""

    failed = False


@contextmanager
def shown_errors(doing: str, where=None):
    """Wraps what a page does for a click or an upload. A UserError shows its one line; any
    other error shows one line that says nothing of it, since its text and traceback may hold
    server paths or settings, and goes with its traceback to the server log. `where`: a column
    or container to show it in. st.rerun and st.stop pass through (they are no Exception)."""
    outcome = Outcome()
    try:
        yield outcome
    except UserError as exc:
        outcome.failed = True
        (where or st).error(plain(exc))
    except Exception:
        outcome.failed = True
        _log.exception("unexpected error while %s", doing)
        (where or st).error(
            plain(f"Something went wrong while {doing}; the server log has the details.")
        )
