"""A shared server in a real browser (`streamlit run app.py`, headless Chromium): a database
path outside the data folder, typed in the sidebar, gets one refusal and creates nothing."""

from __future__ import annotations

import pytest
from helpers_browser import chromium_page, need_browser, settle, streamlit_app

pytestmark = [pytest.mark.slow, pytest.mark.browser]

REFUSAL = "outside this server's data folder"


def test_a_database_outside_the_data_folder_is_refused_and_nothing_is_created(tmp_path):
    need_browser()
    data = tmp_path / "data"
    data.mkdir()
    db = data / "univar.duckdb"
    outside = tmp_path / "elsewhere" / "new"
    env = {"UNIVAR_MODE": "shared", "UNIVAR_DATA_DIR": str(data)}
    with streamlit_app(db, tmp_path, **env) as url, chromium_page() as page:
        page.goto(f"{url}/about")  # a light page: the sidebar is the same on every one
        sidebar = page.get_by_test_id("stSidebar")
        field = sidebar.get_by_label("DuckDB file", exact=True)
        field.wait_for()
        settle(page)
        field.fill(str(outside / "x.duckdb"))
        field.press("Enter")
        refusal = page.get_by_test_id("stAlert").filter(has_text=REFUSAL)
        refusal.wait_for()
        settle(page)
        assert refusal.count() == 1
        assert "\n" not in refusal.inner_text().strip()  # one line
        session = page.get_by_test_id("stCaptionContainer").filter(has_text="demo folder")
        assert str(db) in session.inner_text()  # the session still uses the same file
    assert not (tmp_path / "elsewhere").exists()
    assert sorted(p.name for p in data.iterdir() if not p.name.endswith(".wal")) == [db.name]
