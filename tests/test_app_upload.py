"""AppTest of the upload page: a real CSV (Value FULCRA) is checked, previewed, summarised and,
on confirm, stored; a broken one is refused with its message; datasets are renamed/deleted."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest
from test_importers import BAD_DIR, fulcra_csv

from univar import store
from univar.store import datasets

PAGE = str(Path(__file__).resolve().parent.parent / "pages" / "upload.py")
TIMEOUT = 60  # the first run imports pandas/duckdb; 2 shared cores


def page(db: Path) -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=TIMEOUT)
    at.session_state["db"] = str(db)
    return at.run()


def by_label(widgets, label: str):
    return next(w for w in widgets if w.label.startswith(label))


def test_fulcra_upload_preview_confirm_and_store(tmp_path, tmp_db):
    csv = fulcra_csv(tmp_path / "fulcra sample.csv", limit=300).read_bytes()
    at = page(tmp_db)
    at.get("file_uploader")[0].upload("fulcra sample.csv", csv, "text/csv").run()
    assert not at.exception and not at.error
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["QA pairs"] == "300" and metrics["Models"] == "5"
    assert at.dataframe[0].value.shape[0] == 50  # the preview
    assert at.warning and all("formula" in w.value for w in at.warning)  # answers with '-'

    importer = by_label(at.button, "Import")
    assert importer.disabled  # not before the user accepts the formula-like cell
    by_label(at.checkbox, "Store these cells").check()
    by_label(at.checkbox, "Embed with the current encoder").uncheck()
    by_label(at.text_input, "Dataset name").input("my fulcra")
    at.run()
    by_label(at.button, "Import").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert "300" in at.success[0].value and "my fulcra" in at.success[0].value
    n = store.query_df("SELECT count(*) AS n FROM qa WHERE dataset = 'my fulcra'", path=tmp_db)
    assert n["n"][0] == 300
    assert datasets.uploaded(tmp_db) == ["my fulcra"]


def test_broken_csv_is_refused_with_its_message(tmp_db):
    at = page(tmp_db)
    data = (BAD_DIR / "unknown_language.csv").read_bytes()
    at.get("file_uploader")[0].upload("bad.csv", data, "text/csv").run()
    assert "did you mean 'fra'?" in at.error[0].value
    assert not [b for b in at.button if b.label == "Import"]
    assert not tmp_db.exists()  # nothing was written, not even an empty database


def test_rename_and_delete_from_the_page(tmp_db):
    from univar.ingest import importers
    from univar.ingest.validate import validate_bytes

    good = b"question,answer,model,language\nQ?,A.,m,eng\n"
    importers.import_validation(validate_bytes(good), tmp_db, dataset="first")
    at = page(tmp_db)
    at.text_input(key="rename_to").input("second").run()
    by_label(at.button, "Rename").click().run()
    assert datasets.list_datasets(tmp_db)["dataset"].tolist() == ["second"]
    at.checkbox(key="delete_sure").check().run()
    by_label(at.button, "Delete").click().run()
    assert datasets.list_datasets(tmp_db).empty


@pytest.mark.slow
def test_upload_is_embedded_for_the_map(tmp_path, tmp_db):
    """With 'embed now' on, the uploaded QA pairs get vectors from the default encoder."""
    csv = fulcra_csv(tmp_path / "small.csv", limit=20).read_bytes()
    at = page(tmp_db)
    at.default_timeout = 300
    at.get("file_uploader")[0].upload("small.csv", csv, "text/csv").run()
    by_label(at.button, "Import").click().run()
    assert not at.exception and not at.error
    n = store.query_df("SELECT count(*) AS n FROM embeddings", path=tmp_db)
    assert n["n"][0] == 20
