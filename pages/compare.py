"""Compare: how far apart languages and models are on the value embeddings (a clustered
heatmap and a dendrogram), the nearest and farthest answers of two identities to the same
question, survey value profiles side by side, and the match with Inglehart-Welzel distances."""

from __future__ import annotations

import streamlit as st

from pages._shared import current_db, current_encoder, plain
from univar import ids
from univar.analysis import distances, mapdata, overlays, uncertainty
from univar.catalog.registry import BY_CODE, model_label
from univar.config import field_default
from univar.elicit import survey
from univar.errors import UserError
from univar.figures import compare_charts, overlay_charts
from univar.quality.filter import QualityFilter

db = current_db()
encoder = current_encoder()
GROUP_NAMES = {"language": "Languages", "model": "Models", "identity": "Model$language"}


@st.cache_resource(
    show_spinner="Embedding the QA pairs (once per database change) ...", max_entries=2
)
def embedded(db: str, version: tuple, _encoder, encoder_id: str, quality: QualityFilter):
    return distances.load(db, _encoder, quality=quality)


@st.cache_data(
    show_spinner="Measuring distances, bootstrapping questions and permuting labels (once per "
    "database change; then from the database) ...",
    max_entries=32,
)
def table(db: str, version: tuple, _encoder, encoder_id: str, quality, by: str, metric: str):
    frame, vectors = embedded(db, version, _encoder, encoder_id, quality)
    return uncertainty.distance_table(db, frame, vectors, encoder_id, by, metric)


def matrix(db: str, version: tuple, _encoder, encoder_id: str, quality, by: str, metric: str):
    return table(db, version, _encoder, encoder_id, quality, by, metric).matrix()


@st.cache_data(show_spinner=False, max_entries=32)
def near_far(db: str, version: tuple, _encoder, encoder_id: str, quality, a: str, b: str, k: int):
    frame, vectors = embedded(db, version, _encoder, encoder_id, quality)
    return distances.near_far_pairs(frame, vectors, a, b, k)


@st.cache_data(show_spinner=False, max_entries=16)
def left_out(db: str, version: tuple, quality) -> str:
    return mapdata.left_out(db, mapdata.Selection(), quality)


def label(by: str):
    if by == "language":
        return lambda c: BY_CODE[c].name if c in BY_CODE else c
    if by == "model":
        return model_label
    return identity_label


def identity_label(ident: str) -> str:
    model, language = ids.parse_identity(ident)
    return ids.identity(model_label(model), language)


def distances_tab() -> str:
    """Heatmap and dendrogram of one grouping and metric; returns the metric chosen."""
    a, b = st.columns(2)
    by = a.radio(
        "Distances between",
        list(GROUP_NAMES),
        format_func=GROUP_NAMES.get,
        horizontal=True,
        key="cmp_by",
        index=0 if frame["language"].nunique() > 1 else 1,
    )  # one language: models
    metric = b.selectbox(
        "Metric",
        list(distances.METRICS),
        format_func=distances.METRICS.get,
        help="Centroid cosine compares means only; energy distance and MMD "
        "compare whole distributions of answers.",
        key="cmp_metric",
    )
    try:
        t = table(db, version, encoder, encoder.id, quality, by, metric)
    except UserError as exc:
        st.warning(plain(exc))
        return metric
    m = t.matrix()
    order = distances.cluster_order(m)
    name = f"{GROUP_NAMES[by]}: {distances.METRICS[metric]}"
    left, right = st.columns([3, 2])
    left.plotly_chart(
        compare_charts.heatmap_figure(m, order, title=name, label=label(by), pairs=t.pairs),
        key="distance_heatmap",
        width="stretch",
    )
    left.caption(
        f"Hover a cell for its {uncertainty.CONFIDENCE:.0%} interval ({t.resamples} bootstrap "
        f"resamples of the {t.n_questions:,} questions) and the p-value of a permutation test "
        f"({t.permutations} shuffles of the two groups' labels within each question). White "
        f"dots mark pairs that do not differ at {uncertainty.ALPHA:.0%}. Only answers to "
        f"different questions are compared, so a shared question mix never reads as closeness."
    )
    if t.left_out:
        left.caption(
            plain(f"Left out (answers to fewer than two questions): {', '.join(t.left_out)}")
        )
    if len(m) >= 3:
        tree = distances.dendrogram(m, support=t.support)
        right.plotly_chart(
            compare_charts.dendrogram_figure(
                tree,
                title="Clustering (average linkage), bootstrap support per merge",
                label=label(by),
                resamples=t.valid_resamples,
            ),
            key="distance_dendrogram",
            width="stretch",
        )
    else:
        right.caption("A dendrogram needs at least three groups.")
    with st.expander("Distance matrix as a table"):
        st.dataframe(m.loc[order, order], width="stretch")
        st.dataframe(t.export_frame(), hide_index=True, width="stretch")
    return metric


def pairs_tab() -> None:
    ids = distances.identities(frame)
    if len(ids) < 2:
        st.info("Near and far answers need two model$language identities.")
        return
    best = distances.most_shared_pair(frame) or (ids[0], ids[1])
    a, b, c = st.columns([2, 2, 1])
    first = a.selectbox("Identity A", ids, index=ids.index(best[0]), key="pair_a")
    second = b.selectbox("Identity B", ids, index=ids.index(best[1]), key="pair_b")
    k = c.slider("Pairs of each kind", 1, 10, 5, key="pair_k")
    try:
        pairs = near_far(db, version, encoder, encoder.id, quality, first, second, k)
    except UserError as exc:
        st.warning(plain(exc))
        return
    shared = distances.shared_questions(frame, first, second)
    st.caption(
        f"These rest on {shared:,} question{'s' if shared != 1 else ''} that both answered: "
        "each pair is their two answers to one of them."
    )
    st.markdown("**Nearest**: the two answer most alike")
    st.dataframe(pairs[pairs["kind"] == "near"], hide_index=True, width="stretch")
    st.markdown("**Farthest**: the two answer most differently")
    st.dataframe(pairs[pairs["kind"] == "far"], hide_index=True, width="stretch")


def survey_tab() -> None:
    surveyed = overlays.survey_instruments(db)
    if not surveyed:
        st.info(
            "No survey yet. Run one with `python -m univar survey --model MODEL "
            "--languages eng,fra` to score the 19 Schwartz values per model$language."
        )
        return
    instrument = st.selectbox("Instrument", surveyed, key="survey_instrument")
    who = overlays.survey_identities(db, instrument)
    picked = st.multiselect("Model$language", who, default=who[:3], key="survey_who")
    if picked:
        profile = survey.survey_profile(db, picked, instrument)
        st.plotly_chart(
            overlay_charts.profile_figure(profile), key="survey_profile", width="stretch"
        )
        st.dataframe(profile, hide_index=True, width="stretch")


def iw_tab(metric: str) -> None:
    st.markdown(
        "Upload Inglehart-Welzel map coordinates of the languages' countries (CSV with columns "
        "**language, x, y**; x = survival/self-expression, y = traditional/secular). The "
        "distances between languages on the value map are then correlated with theirs."
    )
    upload = st.file_uploader("Coordinates CSV", type=["csv"], key="iw_upload")
    if upload is None:
        return
    try:
        coords = distances.read_iw_coordinates(upload.getvalue())
        langs = matrix(db, version, encoder, encoder.id, quality, "language", metric)
        result = distances.iw_correlation(langs, coords)
    except UserError as exc:
        st.error(plain(exc))
        return
    a, b, c, d = st.columns(4)
    a.metric("Pearson r", f"{result.pearson:.2f}")
    b.metric("Spearman rho", f"{result.spearman:.2f}")
    c.metric("Mantel p", f"{result.p_value:.3f}")
    d.metric("Languages", result.n_languages)
    st.plotly_chart(
        compare_charts.iw_figure(result.pairs, r=result.pearson), key="iw_scatter", width="stretch"
    )


st.title("Compare languages and models")
version = mapdata.db_version(db)
quality = QualityFilter(
    include_flagged=st.toggle(
        "Include flagged QA pairs",
        value=field_default(QualityFilter, "include_flagged"),
        key="cmp_include_flagged",
        help="Answers the quality checks flagged are left out of every distance by default.",
    )
)
frame = None
if mapdata.database_counts(db)["qa_pairs"]:
    try:
        frame, _ = embedded(db, version, encoder, encoder.id, quality)
    except UserError as exc:
        st.error(plain(exc))
if frame is None:
    st.info("This database has no QA pairs yet: elicit answers or upload a CSV to compare.")
elif frame.empty:
    st.info(
        "Every QA pair in this database is flagged by the quality checks: include flagged QA "
        "pairs to compare them."
    )
    frame = None
else:
    st.caption(
        f"{len(frame):,} QA pairs of {frame['identity'].nunique()} model$language identities, "
        f"embedded with `{encoder.id}`."
    )
hidden = left_out(db, version, quality)
if hidden:
    st.caption(plain(hidden))

tab_dist, tab_pairs, tab_survey, tab_iw = st.tabs(
    ["Distances", "Near and far answers", "Survey profiles", "Inglehart-Welzel"]
)
with tab_survey:
    survey_tab()
if frame is not None:
    with tab_dist:
        chosen_metric = distances_tab()
    with tab_pairs:
        pairs_tab()
    with tab_iw:
        iw_tab(chosen_metric)
