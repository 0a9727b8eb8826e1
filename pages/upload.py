"""Upload your own QA pairs: check the file, preview it, import it as a dataset, embed it for
the map; rename or delete your datasets."""

from __future__ import annotations

import streamlit as st

from pages._shared import current_db, current_encoder, plain
from univar import encoders
from univar.errors import UserError
from univar.ingest import importers, validate
from univar.llm import local_server
from univar.store import datasets

LAYOUTS = {"Generic CSV": "csv", "UniVaR paper CSV (one file per model)": "univar-paper"}
COLUMNS_HELP = (
    "Columns: **question, answer, model, language** (ISO 639-3, e.g. eng, fra, zho) required; "
    "question_en, answer_en, value, framework, sample optional. UTF-8 text. "
    "Rows are numbered as a spreadsheet shows them (the header is row 1)."
)
db = current_db()


def checked(upload, layout: str, model: str) -> validate.Validation:
    """The file's validation, kept while the same file and options stay chosen."""
    key = (upload.file_id, layout, model)
    if st.session_state.get("upload_check_key") != key:
        st.session_state.upload_check = validate.validate_bytes(
            upload.getvalue(), name=upload.name, layout=layout, model=model or None
        )
        st.session_state.upload_check_key = key
    return st.session_state.upload_check


def show_summary(v: validate.Validation) -> None:
    s = v.summary()
    a, b, c, d = st.columns(4)
    a.metric("QA pairs", f"{s['rows']:,}")
    b.metric("Models", len(s["models"]))
    c.metric("Languages", len(s["languages"]))
    d.metric("Need translation", f"{s['untranslated']:,}")
    st.caption(
        "Per model and language: " + ", ".join(f"{k} ({n})" for k, n in s["identities"].items())
    )
    st.dataframe(v.frame().head(50), hide_index=True, width="stretch")


def import_and_embed(v, name, accept, translate_with, embed_now) -> None:
    translate = importers.llm_translator(*translate_with, db=db) if translate_with else None
    with st.spinner("Translating and importing ..." if translate else "Importing ..."):
        result = importers.import_validation(
            v, db, dataset=name, accept_formulas=accept, translate=translate
        )
    st.success(f"Imported {result.rows:,} QA pairs as dataset **{result.dataset}**.")
    if embed_now:
        bar = st.progress(0.0, text="Embedding for the map ...")
        encoder = current_encoder()
        encoders.embed_qa(
            db,
            encoder,
            datasets=[result.dataset],
            progress=lambda done, total, message="": bar.progress(done / max(total, 1)),
        )
        bar.progress(1.0, text=f"Embedded with {encoder.id}: your data is on the value map.")


st.title("Upload your QA pairs")
st.markdown(COLUMNS_HELP)
layout = LAYOUTS[st.radio("Layout", list(LAYOUTS), horizontal=True)]
model = st.text_input(
    "Model name for every row (optional)",
    help="Overrides the model column; for paper files the file name is the default.",
)
upload = st.file_uploader("CSV file", type=["csv", "txt", "gz"])

if upload is not None:
    v = checked(upload, layout, model)
    for problem in v.errors:
        st.error(problem)
    for note in v.notes:
        st.info(note)
    if v.ok:
        show_summary(v)
        accept = True
        if v.confirm:
            for warning in v.confirm:
                st.warning(warning)
            accept = st.checkbox("Store these cells as they are (CSV exports neutralise them)")
        name = st.text_input("Dataset name", value=importers.name_from_file(upload.name))
        translate_with = None
        if v.summary()["untranslated"]:
            if st.checkbox("Translate non-English rows to English first", key="up_translate"):
                left, right = st.columns(2)
                translate_with = (
                    left.text_input("Translator model (litellm)", "openai/smollm2"),
                    right.text_input(
                        "Its api_base (empty for a hosted provider)",
                        local_server.default_api_base(),
                    ).strip()
                    or None,
                )
            else:
                st.warning(
                    "Non-English rows without question_en/answer_en are embedded as they "
                    "are: their points sit by language more than by value."
                )
        embed_now = st.checkbox("Embed with the current encoder now (for the map)", value=True)
        if st.button("Import", type="primary", disabled=not accept):
            try:
                import_and_embed(v, name, accept, translate_with, embed_now)
            except UserError as exc:
                st.error(plain(exc))

st.header("Your datasets")
table = datasets.list_datasets(db)
st.dataframe(table, hide_index=True, width="stretch")
if len(table):
    chosen = st.selectbox("Dataset", list(table["dataset"]))
    left, right = st.columns(2)
    new_name = left.text_input("New name", value=chosen, key="rename_to")
    if left.button("Rename"):
        try:
            datasets.rename_dataset(chosen, new_name, db)
            st.rerun()
        except UserError as exc:
            left.error(plain(exc))
    sure = right.checkbox(f"Yes, delete {chosen} and its QA pairs", key="delete_sure")
    if right.button("Delete", disabled=not sure):
        datasets.delete_dataset(chosen, db)
        st.rerun()
