"""Data & provenance: what each dataset in the database is, where it came from, how it was made,
and how its QA pairs fare in the quality checks (per model$language, with examples per flag)."""

from __future__ import annotations

import json

import streamlit as st

from pages._shared import current_db, current_encoder, plain
from univar import quality
from univar.analysis import mapdata
from univar.ingest import demo

db = current_db()
EXAMPLES = 20  # QA pairs listed per identity and flag


@st.cache_data(show_spinner=False, max_entries=8)
def quality_summary(db: str, version: tuple):
    return quality.summary(db)


@st.cache_data(show_spinner=False, max_entries=32)
def quality_examples(db: str, version: tuple, identity: str, flag: str):
    return quality.examples(db, identity, flag, EXAMPLES)


def quality_section() -> None:
    """The quality checks' verdicts per model$language, and examples of one flag on click."""
    st.markdown("#### Quality checks")
    version = mapdata.db_version(db)
    table = quality_summary(db, version)
    if table.empty:
        st.caption("No QA pairs to check yet.")
        return
    sums = quality.totals(table)
    share = sums["share_passing"]
    st.caption(
        f"{sums['qa_pairs']:,} QA pairs · {sums['checked']:,} checked (checker "
        f"{quality.CHECKER_VERSION}) · {'-' if share is None else f'{share:.1%}'} of those "
        "pass every check. Maps, Compare, training and exports leave flagged pairs out unless "
        "asked to include them; pairs not checked yet go in unseen."
        + (
            f" {sums['unchecked']:,} are not checked yet: `python -m univar check` checks them."
            if sums["unchecked"]
            else ""
        )
    )
    flags = [f for f in quality.FLAGS if f in table.columns]
    shown = ["identity", "qa_pairs", "checked", "share_passing", *flags]
    st.dataframe(
        table[shown],
        hide_index=True,
        width="stretch",
        key="quality_table",
        column_config={
            "qa_pairs": st.column_config.NumberColumn("QA pairs"),
            "share_passing": st.column_config.NumberColumn("share passing", format="percent"),
        },
    )
    counts = {
        (row["identity"], flag): int(row[flag])
        for row in table.to_dict("records")
        for flag in flags
        if row[flag]
    }
    if not counts:
        return
    picked = st.selectbox(
        "Examples of a flag",
        list(counts),
        index=None,
        format_func=lambda pair: f"{pair[0]} · {pair[1]} ({counts[pair]:,})",
        placeholder="Choose a model$language and a flag",
        key="quality_examples",
    )
    if picked is not None:
        found = quality_examples(db, version, *picked)
        first = [
            c for c in ("reason", "question", "answer", "question_en", "answer_en") if c in found
        ]
        st.dataframe(
            found[first + [c for c in found.columns if c not in first]],
            hide_index=True,
            width="stretch",
            key="quality_examples_table",
        )


st.title("Data & provenance")
st.markdown(
    "UniVaR Studio maps the human values that LLMs express, after *High-Dimension Human Value "
    "Representation in Large Language Models* (Cahyawijaya et al., NAACL 2025). Each point on the "
    "value map is one question-answer pair, embedded as `Q: question A: answer` in English."
)

overview = mapdata.datasets_overview(db)
if overview.empty:
    st.info("This database holds no datasets yet.")
for row in overview.to_dict("records"):
    with st.container(border=True):
        st.markdown(f"#### {plain(row['dataset'])} · {plain(row['kind'])}")
        if isinstance(row["description"], str) and row["description"]:
            st.markdown(plain(row["description"]))
        st.caption(
            f"{row['qa_pairs']:,} QA pairs · {row['models']:,} models · "
            f"{row['languages']:,} languages · added {row['created_at']:%Y-%m-%d %H:%M}"
        )
        # a dataset without provenance reads back as NaN, not None, beside one that has it
        stored = row["provenance"]
        provenance = json.loads(stored) if isinstance(stored, str) and stored else None
        if row["kind"] == "demo" and provenance and provenance.get("models"):
            st.markdown(
                f"Models: **{plain(', '.join(provenance.get('models', [])))}** · languages: "
                f"**{plain(', '.join(provenance.get('languages', [])))}** · exported "
                f"{plain(provenance.get('exported_at', 'unknown'))} · encoder "
                f"{plain(provenance.get('encoder'))}"
            )
            st.caption(
                "The demo's answers come from small local models (SmolLM2-135M, Gemma-3-270M) "
                "run offline: real LLMs, but weak ones. Elicit from stronger models to see "
                "clearer value differences."
            )
        if provenance:
            with st.expander("Provenance (settings, dates, sources)"):
                st.json(provenance)

quality_section()

st.markdown("#### This session")
st.caption(f"Database `{db}` · encoder `{current_encoder().name}` · demo folder `{demo.DEMO_DIR}`")
