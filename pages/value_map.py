"""Value map: every QA pair as a faint point, language and model$language centroids, search,
and a table of the QA pairs picked with a box or lasso."""

from __future__ import annotations

import streamlit as st

from pages._export import export_buttons, report_buttons
from pages._shared import current_db, current_encoder, plain
from pages._shared_start import survey_offer
from univar.analysis import distances, expression, mapdata, overlays, projection, relayout
from univar.analysis.projection import METHODS, METRICS, ProjectionConfig
from univar.catalog import instruments
from univar.catalog.registry import BY_CODE, model_label
from univar.config import field_default
from univar.elicit import survey
from univar.errors import UserError
from univar.figures import mapstyle, overlay_charts, value_map
from univar.ingest import demo
from univar.quality.filter import QualityFilter
from univar.store.datasets import uploaded as uploaded_datasets

db = current_db()
encoder = current_encoder()


@st.cache_data(show_spinner=False, max_entries=16)
def choices(db: str, version: tuple) -> mapdata.Options:
    return mapdata.options(db)


@st.cache_data(show_spinner=False, max_entries=8)
def map_view(db: str, version: tuple, encoder_id: str, selection, config, quality):
    """What the map draws of the selection's points on the stored layout (all of them, or a
    sample keeping every model$language when there are more than the browser draws well);
    None when the layout must be fitted or extended."""
    return mapdata.stored_view(db, encoder_id, selection, config, quality)


@st.cache_data(show_spinner=False, max_entries=16)
def left_out(db: str, version: tuple, selection, quality) -> str:
    """What the quality filter keeps off this selection's map, in one line ('' for nothing)."""
    return mapdata.left_out(db, selection, quality)


@st.cache_data(show_spinner=False, max_entries=16)
def overlay_choices(db: str, version: tuple) -> tuple[list, list, tuple]:
    """Frameworks, instruments with QA pairs, uploaded datasets: read once per state of the
    database, not on every selection change (each rerun of the page)."""
    return overlays.frameworks(db), overlays.instruments_with_qas(db), tuple(uploaded_datasets(db))


@st.cache_data(show_spinner=False, max_entries=32)
def profile_of(db: str, version: tuple, who: str, framework: str):
    """(survey profile, share of QAs per value) of one model$language."""
    return survey.survey_profile(db, [who]), overlays.value_share(db, who, framework)


@st.cache_data(show_spinner=False, max_entries=32)
def unscored(db: str, version: tuple, who: str, quality) -> int:
    """How many of its answers the value scorer's base encoder has no vector of yet."""
    return expression.to_embed(db, who, quality=quality)


@st.cache_data(show_spinner=False, max_entries=32)
def expression_of(db: str, version: tuple, who: str, quality):
    """What the value scorer reads in one model$language's answers (vectors cached)."""
    return expression.value_expression(db, who, quality=quality)


def expression_panel(who: str, quality) -> None:
    """The scorer's profile of `who`; where answers still need embedding (which loads the
    encoder), a button does it, with progress, so that opening the page never waits on it."""
    try:
        scorer = expression.load_scorer()
        version = mapdata.db_version(db)
        pending = unscored(db, version, who, quality)
    except UserError as exc:
        st.info(plain(exc))
        return
    if pending:
        st.caption(
            plain(
                f"Which values its answers express: {pending:,} of them need a vector of "
                f"{scorer.base_encoder} first (the value scorer reads those)."
            )
        )
        if not st.button("Score its answers", key="map_expression_score"):
            return
        with st.status("Scoring its answers", expanded=True) as box:
            bar = st.progress(0.0, text=f"Embedding with {scorer.base_encoder} ...")
            expression.value_expression(
                db,
                who,
                quality=quality,
                progress=lambda done, total, message="": bar.progress(
                    done / total if total else 1.0, text=f"Embedding: {done:,} of {total:,}"
                ),
            )
            box.update(label="Scored", state="complete", expanded=False)
        version = mapdata.db_version(db)
    frame = expression_of(db, version, who, quality)
    if not frame["n"].any():
        st.caption("None of its answers passes the quality checks: nothing to score.")
        return
    st.plotly_chart(
        overlay_charts.expression_figure(
            frame,
            title=f"Values its answers express (scorer: {scorer.headline()}, "
            "Value FULCRA held-out)",
        ),
        key="map_value_expression",
        width="stretch",
    )
    st.caption(
        "The value scorer is trained on English Value FULCRA answers of 5 LLMs, labelled by "
        "people with the values each answer supports or opposes; its scores are estimates. "
        "Translated answers are scored on their English. Bars: answers whose likeliest "
        "reading supports (or opposes) the value; net: mean P(supports) − P(opposes). See "
        "docs/value-scorer.md."
    )


@st.cache_data(show_spinner=False, max_entries=16)
def layout_of(db: str, version: tuple, encoder_id: str, config, quality):
    """(the layout in use, its extent: the frame every selection is drawn in)."""
    return (
        projection.current(db, encoder_id, config, quality),
        mapdata.layout_extent(db, encoder_id, config, quality),
    )


@st.fragment(run_every=1.0)
def relayout_progress(job: relayout.RelayoutJob) -> None:
    """While a re-layout runs only this part reruns, so the map above stays as it is; once
    the new layout is stored the whole page reruns and shows it."""
    if job.live:
        st.progress(job.fraction, text=plain(f"Re-layout: {job.message}"))
    else:
        st.rerun()


@st.cache_data(show_spinner=False, max_entries=32)
def search(db: str, version: tuple, selection, text: str, quality) -> list[str]:
    return mapdata.search(db, selection, text, quality)


@st.cache_resource(show_spinner=False, max_entries=4)
def map_figure(
    db,
    version,
    encoder_id,
    selection,
    config,
    quality,
    color_by,
    query,
    uploaded,
    _points,
    _matches,
    framework=None,
    instrument=None,
    extent=None,
    _view=None,
):
    """The figure for one state of the page, built once: a selection rerun at 100,000 points
    then skips the build. Shared between sessions, so never mutate it. `_view`: the
    `mapdata.MapView` the points come from (a sample's figure counts all it stands for)."""
    if color_by == "value" and framework:  # the value of each QA's question in that framework
        _points = overlays.with_values(db, _points, framework)
    fig = value_map.value_map_figure(
        _points,
        color_by,
        highlight=_matches,
        uploaded=uploaded,
        extent=extent,
        total=_view.total if _view else None,
        centroids=_view.centroids if _view else None,
    )
    if instrument:
        ringed = overlays.instrument_points(db, _points, instrument)
        overlay_charts.add_instrument_highlight(fig, ringed, instrument)
    return fig


def build_map(selection, config, quality) -> None:
    """Embed what is missing and project, with progress; the result lands in the database."""
    with st.status(
        "Building the map (embedding new QA pairs, then fitting or placing them)", expanded=True
    ) as box:
        bar = st.progress(0.0, text="Starting ...")
        mapdata.prepare(
            db,
            encoder,
            selection,
            config,
            quality=quality,
            progress=lambda done, total, message="": bar.progress(
                done / total, text=plain(message)
            ),
        )
        box.update(label="Map ready", state="complete", expanded=False)


def keep_valid(key: str, allowed: list[str]) -> None:
    """The choice of a link, else the one made before (Streamlit forgets a widget's state
    while its page is not shown, so a copy lives under another key), else everything; only
    what still exists here."""
    wanted = st.query_params.get(key.removeprefix("map_"))
    if wanted and key not in st.session_state:
        st.session_state[key] = wanted.split(",")
    if key not in st.session_state and f"kept_{key}" in st.session_state:
        chosen, seen = st.session_state[f"kept_{key}"]  # what is new since is shown too
        st.session_state[key] = [*chosen, *(v for v in allowed if v not in seen)]
    st.session_state[key] = [v for v in st.session_state.get(key, allowed) if v in allowed]


def remember(key: str, allowed: list[str]) -> None:
    st.session_state[f"kept_{key}"] = (st.session_state[key], allowed)


def language_name(code: str) -> str:
    return f"{BY_CODE[code].name} ({code})" if code in BY_CODE else code


st.title("Value map")
version = mapdata.db_version(db)
opts = choices(db, version)
if not opts.n_qa:
    st.info(
        "This database has no QA pairs yet. Elicit answers from LLMs or upload a CSV of QA pairs, "
        "and they appear here."
    )
    st.stop()
if demo.DEMO_DATASET in opts.datasets:
    st.caption(
        "Includes the shipped demo dataset: its models, date and settings are under "
        "*Data & provenance*."
    )

left, middle, right, finder = st.columns([3, 3, 2, 2])
keep_valid("map_models", opts.models)
keep_valid("map_languages", opts.languages)
models = left.multiselect(
    "Models",
    opts.models,
    key="map_models",
    format_func=model_label,
    on_change=remember,
    args=("map_models", opts.models),
)
languages = middle.multiselect(
    "Languages",
    opts.languages,
    key="map_languages",
    format_func=language_name,
    on_change=remember,
    args=("map_languages", opts.languages),
)
color_by = right.selectbox(
    "Colour by",
    list(mapstyle.COLOR_BY),
    format_func=mapstyle.COLOR_BY.get,
    key="map_color_by",
    index=0 if len(opts.languages) > 1 else 1,  # one language: the models tell more apart
)
datasets = None
if len(opts.datasets) > 1:
    datasets = tuple(st.multiselect("Datasets", opts.datasets, default=opts.datasets))
query = finder.text_input(
    "Search questions and answers", placeholder="e.g. family, freedom", key="map_search"
)
framework = instrument = None
over_left, over_right = st.columns(2)
frameworks, instruments_with_qas, uploaded = overlay_choices(db, version)
if color_by == "value":
    framework = over_left.selectbox(
        "Value framework",
        frameworks or [None],
        key="map_framework",
        help="Colour each QA by the value its question stands for in this framework.",
    )
if instruments_with_qas:
    instrument = over_right.selectbox(
        "Highlight an instrument's QAs",
        [None, *instruments_with_qas],
        format_func=lambda i: "(none)" if i is None else i,
        key="map_instrument",
    )

include_flagged = st.toggle(
    "Include flagged QA pairs",
    value=field_default(QualityFilter, "include_flagged"),
    key="map_include_flagged",
    help="Answers the quality checks flagged (not English where English was expected, refusals, "
    "echoes of the question, degenerate or empty text) are left out of the map and its layout "
    "by default. Included, they get a layout of their own; their flags show in the hover.",
)
quality = QualityFilter(include_flagged=include_flagged)

with st.expander("Projection settings"):
    defaults = ProjectionConfig()
    a, b, c, d, e, f = st.columns(6)
    method = a.radio(
        "Method",
        list(METHODS),
        index=METHODS.index(defaults.method),
        format_func=str.upper,
        horizontal=True,
        key="map_method",
        help="UMAP keeps neighbourhoods (the paper's map); PCA is instant.",
    )
    n_neighbors = b.slider(
        "UMAP neighbours", 2, 200, defaults.n_neighbors, disabled=method != "umap"
    )
    min_dist = c.slider(
        "UMAP min. distance", 0.0, 1.0, defaults.min_dist, 0.05, disabled=method != "umap"
    )
    metric = d.selectbox(
        "Metric",
        list(METRICS),
        index=METRICS.index(defaults.metric),
        disabled=method != "umap",
    )
    seed = e.number_input("Seed", 0, 2**31 - 1, defaults.seed, step=1)
    fit_sample = f.number_input(
        "UMAP fit sample",
        100,
        10**9,
        defaults.fit_sample,
        step=10_000,
        disabled=method != "umap",
        help="Above this many QA pairs UMAP is fitted on a sample of that many keeping every "
        "model and language, and the rest are placed by their nearest neighbours: a layout "
        "of a million QA pairs in minutes rather than hours on a laptop's cores.",
    )

try:
    selection = mapdata.Selection(tuple(models), tuple(languages), datasets)
    config = ProjectionConfig(
        method, n_neighbors, min_dist, metric, int(seed), fit_sample=int(fit_sample)
    )
    view = map_view(db, version, encoder.id, selection, config, quality)
    if view is None:
        build_map(selection, config, quality)
        version = mapdata.db_version(db)
        view = map_view(db, version, encoder.id, selection, config, quality)
    if view is None:  # a re-layout switched layouts meanwhile: place them on the new one
        view = mapdata.map_view(db, encoder, selection, config, quality=quality)
except UserError as exc:
    st.warning(plain(exc))
    st.stop()
points = view.points  # what the figure draws: a sample keeps every model$language

matches = search(db, version, selection, query, quality) if query.strip() else []
summary = mapdata.summary(points, encoder.id, view.total)
found = f" · {len(matches):,} match “{query.strip()}”" if query.strip() else ""
st.caption(plain(summary + found))
hidden = left_out(db, version, selection, quality)
if hidden:
    st.caption(plain(hidden + " (the toggle above brings them back)"))
layout, extent = layout_of(db, version, encoder.id, config, quality)
note, redo = st.columns([6, 1], vertical_alignment="center")
note.caption(
    plain(
        "Every selection shows its points of one layout: "
        + mapdata.layout_note(layout, points, view.placed)
    )
)
job = relayout.job_for(db, encoder.id, config, quality)
if redo.button(
    "Re-layout",
    key="map_relayout",
    disabled=bool(job and job.live),
    help="Fit a new layout of every QA pair with these settings (and this choice of flagged "
    "pairs), in the background: this map stays until the new one is ready. QA pairs added "
    "since the last fit are then fitted too.",
):
    job = relayout.start(db, encoder, config, quality=quality)
if job and job.live:
    relayout_progress(job)
elif job and job.status == "failed":
    st.error(plain(f"Re-layout failed: {job.error}"))

fig = map_figure(
    db,
    version,
    encoder.id,
    selection,
    config,
    quality,
    color_by,
    query,
    uploaded,
    points,
    matches,
    framework,
    instrument,
    extent,
    view,
)
event = st.plotly_chart(
    fig,
    key="value_map",
    on_select="rerun",
    selection_mode=("box", "lasso", "points"),
    config={"scrollZoom": True, "displaylogo": False},
    width="stretch",
)
with st.expander("Export this map, or a report"):
    export_buttons(fig, points, "value-map")
    report_buttons(db, encoder, selection, config, color_by=color_by, quality=quality)

picked = mapdata.selected_from_event(event)
if picked:
    st.subheader(f"{len(picked):,} selected QA pairs")
    st.dataframe(mapdata.details(db, picked), hide_index=True, width="stretch")
else:
    st.caption("Draw a box or a lasso on the map (or click a point) to list its QA pairs here.")

st.subheader("Value profile")
who = st.selectbox("Model$language", distances.identities(points), key="map_profile_identity")
profile_left, profile_right = st.columns(2)
share_framework = framework or instruments.SCHWARTZ
profile, share = profile_of(db, version, who, share_framework)
if profile.empty:
    with profile_left:
        survey_offer(db, who)  # a button that surveys it, or the command where none can
else:
    profile_left.plotly_chart(
        overlay_charts.profile_figure(profile), key="map_profile", width="stretch"
    )
with profile_right:
    expression_panel(who, quality)
mix = st.expander(
    "Questions asked per value (the bank's mix, not a finding)", key="map_mix", on_change="rerun"
)
if mix.open:  # drawn only once opened: a closed chart still costs the browser its render
    mix.plotly_chart(
        overlay_charts.share_figure(
            share,
            title=f"Share of its QAs per value ({share_framework})",
        ),
        key="map_value_share",
        width="stretch",
    )
