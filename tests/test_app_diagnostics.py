"""AppTest of the Diagnostics section of the Train & evaluate page: run it, read its table,
chart and export buttons."""

from __future__ import annotations

from test_app_train import charts, page
from test_diagnostics import MINILM, diag_db  # noqa: F401 (a fixture)


def test_diagnostics_section_shows_table_chart_and_exports(diag_db):  # noqa: F811
    at = page(diag_db).run()
    assert not at.exception
    assert "te_diag_chart" not in charts(at)  # nothing is measured until asked
    at.multiselect(key="te_diag_encoders").set_value([MINILM])
    at.button(key="te_diagnose").click().run()
    assert not at.exception and not at.error
    table = at.dataframe[-1].value  # the section comes last on the Evaluate tab
    assert list(table["encoder"]) == [MINILM]
    assert (table["value_acc"] > table["control_acc"]).all()
    assert "te_diag_chart" in charts(at)
    assert any("control questions" in c.value for c in at.caption)
    labels = [b.proto.label for b in at.get("download_button")]
    assert "CSV" in labels
