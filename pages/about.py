"""Data & provenance: what each dataset in the database is, where it came from, how it was made."""

from __future__ import annotations

import json

import streamlit as st

from pages._shared import current_db, current_encoder, plain
from univar.analysis import mapdata
from univar.ingest import demo

db = current_db()

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
        if row["description"]:
            st.markdown(plain(row["description"]))
        st.caption(
            f"{row['qa_pairs']:,} QA pairs · {row['models']:,} models · "
            f"{row['languages']:,} languages · added {row['created_at']:%Y-%m-%d %H:%M}"
        )
        provenance = json.loads(row["provenance"]) if row["provenance"] else None
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

st.markdown("#### This session")
st.caption(f"Database `{db}` · encoder `{current_encoder().name}` · demo folder `{demo.DEMO_DIR}`")
