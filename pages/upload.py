"""Upload your own QA pairs: check the file, preview it, import it as a dataset, embed it for
the map; rename or delete your datasets."""

from __future__ import annotations

import streamlit as st

from pages._shared import current_db, current_encoder, plain, policy, shown_errors
from univar import encoders
from univar.ingest import importers, validate
from univar.llm import local_server
from univar.llm.keys import key_for, key_source_label
from univar.store import datasets

LAYOUTS = {"Generic CSV": "csv", "UniVaR paper CSV (one file per model)": "univar-paper"}
COLUMNS_HELP = (
    "Columns: **question, answer, model, language** (ISO 639-3, e.g. eng, fra, zho) required; "
    "question_en, answer_en, value, framework, sample (0 to 9999) optional. UTF-8 text. "
    "Rows are numbered as a spreadsheet shows them (the header is row 1)."
)
db = current_db()


def checked(upload, layout: str, model: str, skip: bool) -> validate.Validation:
    """The file's validation, kept while the same file and options stay chosen."""
    limit = policy().max_upload_bytes
    key = (upload.file_id, layout, model, limit, skip)
    if st.session_state.get("upload_check_key") != key:
        # getvalue() hands over the upload's own buffer; validation reads it as a stream
        st.session_state.upload_check = validate.validate_bytes(
            upload.getvalue(),
            name=upload.name,
            layout=layout,
            model=model or None,
            max_bytes=limit,
            skip_duplicates=skip,
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
        "Per model and language: "
        + plain(", ".join(f"{k} ({n})" for k, n in s["identities"].items()))
    )
    st.dataframe(v.frame().head(50), hide_index=True, width="stretch")


def translator_settings() -> tuple[str, str | None, str | None]:
    """(model, api_base, key typed here) of the translator. The server's own key goes only to
    its provider's endpoints (`keys.key_for`): any other endpoint gets a key field."""
    local = local_server.default_api_base()
    left, right = st.columns(2)
    model = left.text_input("Translator model (litellm)", "openai/smollm2", key="up_t_model")
    base = (
        right.text_input(
            "Its api_base (empty for a hosted provider)", local, key="up_t_base"
        ).strip()
        or None
    )
    typed = None
    if base != local and key_for(model, base, policy=policy())[0] is None:
        typed = st.text_input(
            "API key for this translator",
            type="password",
            key="up_t_key",
            help="Kept in this browser session's memory only: never saved or logged, and sent "
            "only to this endpoint.",
        )
    source = key_for(model, base, typed=typed, policy=policy())[1]
    st.caption(f"🔑 The translator uses {key_source_label(model, source)}.")
    return model, base, typed or None


def import_and_embed(v, name, accept, translate_with, embed_now) -> None:
    translate = None
    if translate_with:
        model, base, key = translate_with
        translate = importers.llm_translator(model, base, db=db, api_key=key, policy=policy())
    with st.spinner("Translating and importing ..." if translate else "Importing ..."):
        result = importers.import_validation(
            v, db, dataset=name, accept_formulas=accept, translate=translate
        )
    dropped = f" ({result.dropped:,} exact duplicate rows dropped)" if result.dropped else ""
    st.success(
        f"Imported {result.rows:,} QA pairs as dataset **{plain(result.dataset)}**{dropped}."
    )
    if embed_now:
        bar = st.progress(0.0, text="Embedding for the map ...")
        encoder = current_encoder()
        encoders.embed_qa(
            db,
            encoder,
            datasets=[result.dataset],
            progress=lambda done, total, message="": bar.progress(done / max(total, 1)),
        )
        bar.progress(1.0, text=f"Embedded with {plain(encoder.id)}: your data is on the value map.")


st.title("Upload your QA pairs")
st.markdown(COLUMNS_HELP)
layout = LAYOUTS[st.radio("Layout", list(LAYOUTS), horizontal=True)]
model = st.text_input(
    "Model name for every row (optional)",
    help="Overrides the model column; for paper files the file name is the default.",
)
limit_mb = policy().max_upload_mb
upload = st.file_uploader(
    "CSV file",
    type=["csv", "txt", "gz"],
    max_upload_size=limit_mb,
    help=f"Up to {limit_mb} MB (this server's max_upload_mb); gzip-compressed files too.",
)
skip_duplicates = st.checkbox(
    "Skip exact duplicate rows",
    key="up_skip_duplicates",
    help="Leave out rows that repeat an earlier row exactly (the same model, language, "
    "question, answer, sample and every other cell); a repeat that differs in any cell is "
    "still refused.",
)

v = None
if upload is not None:
    with shown_errors("checking the file"):
        v = checked(upload, layout, model, skip_duplicates)
if v is not None:
    for problem in v.errors:  # they quote the file's cells and names
        st.error(plain(problem))
    if v.duplicates and not skip_duplicates:
        st.info("Tick *Skip exact duplicate rows* to leave out rows that repeat another exactly.")
    for note in v.notes:
        st.info(plain(note))
    if v.ok:
        show_summary(v)
        accept = True
        if v.confirm:
            for warning in v.confirm:
                st.warning(plain(warning))
            accept = st.checkbox("Store these cells as they are (CSV exports neutralise them)")
        name = st.text_input("Dataset name", value=importers.name_from_file(upload.name))
        translate_with = None
        if v.summary()["untranslated"]:
            if st.checkbox("Translate non-English rows to English first", key="up_translate"):
                translate_with = translator_settings()
            else:
                st.warning(
                    "Non-English rows without question_en/answer_en are embedded as they "
                    "are: their points sit by language more than by value."
                )
        embed_now = st.checkbox("Embed with the current encoder now (for the map)", value=True)
        if st.button("Import", type="primary", disabled=not accept):
            with shown_errors("importing the file"):
                import_and_embed(v, name, accept, translate_with, embed_now)

st.header("Your datasets")
table = datasets.list_datasets(db)
st.dataframe(table, hide_index=True, width="stretch")
if len(table):
    chosen = st.selectbox("Dataset", list(table["dataset"]))
    left, right = st.columns(2)
    new_name = left.text_input("New name", value=chosen, key="rename_to")
    if left.button("Rename"):
        with shown_errors("renaming the dataset", left):
            datasets.rename_dataset(chosen, new_name, db)
            st.rerun()
    sure = right.checkbox(f"Yes, delete {plain(chosen)} and its QA pairs", key="delete_sure")
    if right.button("Delete", disabled=not sure):
        with shown_errors("deleting the dataset", right):
            datasets.delete_dataset(chosen, db)
            st.rerun()
