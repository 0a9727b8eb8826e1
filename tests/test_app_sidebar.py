"""AppTest of the shared sidebar's encoder choice: the shipped encoder by its card's name, its
one-line summary and its card; a typed name and the trust_remote_code box only under "Other"."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from pages._shared import OTHER_ENCODER, plain
from univar import encoders
from univar.encoders import cards
from univar.ingest import demo

APP = str(Path(__file__).resolve().parent.parent / "app.py")
TRUST = "Run the encoder's own code (trust_remote_code)"


@pytest.fixture(autouse=True)
def no_demo(monkeypatch):
    """The sidebar seeds an empty database with the shipped demo (seconds): not needed here."""
    monkeypatch.setattr(demo, "seed_if_empty", lambda db=None, demo_dir=None: False)


def _sidebar_script():
    from pages._shared import sidebar

    sidebar()


def sidebar_app(tmp_db) -> AppTest:
    at = AppTest.from_function(_sidebar_script, default_timeout=60)
    at.run()
    assert not at.exception, at.exception
    return at


def shipped() -> encoders.ListedEncoder:
    listed = encoders.listed_encoders()
    if not listed[0].card:
        pytest.skip("no trained encoder is shipped in assets/encoders/")
    return listed[0]


def encoder_box(at: AppTest):
    return next(s for s in at.sidebar.selectbox if s.label == "Sentence encoder")


def sidebar_text(at: AppTest) -> str:
    return "\n".join(c.value for c in at.sidebar.caption)


def test_the_shipped_encoders_card_gives_its_name_data_and_figures():
    first = shipped()
    record = json.loads(first.card)
    assert first.name == "assets/encoders/univar-minilm-lora-fulcra"
    assert first.title == record["name"] == "univar-minilm-lora-fulcra"
    # what it was trained on and what it measured, read from the card, not written here
    assert f"{record['data']['n_qas']:,} QAs of value_fulcra" in first.summary
    assert "69.9%" in first.summary and "all-MiniLM-L6-v2: 44.6%" in first.summary
    assert encoders.encoder_choices() == [e.name for e in encoders.listed_encoders()]
    assert encoders.encoder_choices()[-1] == encoders.DEFAULT_ENCODER


def test_a_card_without_figures_still_says_what_it_was_trained_on(tmp_path):
    record = {"name": "mine", "kind": "head", "base": "all-MiniLM-L6-v2", "data": {}}
    assert cards.summary(record, "mine") == "projection head on all-MiniLM-L6-v2"
    record["data"] = {"n_qas": 12, "datasets": ["a", "b"]}
    assert cards.summary(record, "mine") == (
        "projection head on all-MiniLM-L6-v2 · trained on 12 QAs of a, b"
    )


def test_any_path_to_the_shipped_folder_means_the_listed_name():
    first = shipped()
    assert encoders.listed_name(encoders.resolve_name(None)) == first.name  # absolute
    assert encoders.listed_name(first.name) == first.name
    assert encoders.listed_name("sentence-transformers/all-MiniLM-L6-v2") == "all-MiniLM-L6-v2"
    assert encoders.listed_name("CAiRE/UniVaR-lambda-5") is None
    assert encoders.listed_name("/") is None


def test_fresh_app_offers_the_shipped_encoder_by_name_without_the_trust_box(tmp_db):
    first = shipped()
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    assert not at.exception, at.exception
    box = encoder_box(at)
    assert box.value == first.name
    assert box.format_func(box.value) == first.label
    assert first.title in first.label and not first.label.startswith("Other")
    assert at.session_state["encoder"] == first.name
    assert not [c for c in at.sidebar.checkbox if c.label == TRUST]
    assert [t.label for t in at.sidebar.text_input] == ["DuckDB file"]  # no path box
    assert plain(first.summary) in sidebar_text(at).splitlines()  # its one line, as text


def test_the_card_is_a_click_away_as_literal_text(tmp_db):
    first = shipped()
    at = sidebar_app(tmp_db)
    card = [e for e in at.sidebar.expander if e.label == "Encoder card"]
    assert len(card) == 1
    assert not at.sidebar.json  # closed: not built
    at.session_state["sidebar_encoder_card"] = True  # the click
    at.run()
    assert not at.exception, at.exception
    (shown,) = at.sidebar.json
    assert json.loads(shown.value) == json.loads(first.card)  # the card's values as they are


def test_picking_other_shows_the_name_box_and_the_trust_box(tmp_db):
    first = shipped()
    at = sidebar_app(tmp_db)
    encoder_box(at).set_value(OTHER_ENCODER).run()
    assert not at.exception, at.exception
    assert [t.label for t in at.sidebar.text_input] == ["DuckDB file", "Encoder name or path"]
    assert at.sidebar.text_input[1].value == ""  # not the shipped folder's path
    assert [c.label for c in at.sidebar.checkbox] == [TRUST]
    assert not [e for e in at.sidebar.expander if e.label == "Encoder card"]
    assert at.session_state["encoder"] == first.name  # nothing typed yet: unchanged

    at.sidebar.checkbox[0].check().run()
    encoder_box(at).set_value(encoders.DEFAULT_ENCODER).run()
    assert not at.exception, at.exception
    assert at.session_state["encoder"] == encoders.DEFAULT_ENCODER
    assert at.session_state["encoder_trust_remote_code"] is False  # a listed one runs no code
    assert not at.sidebar.checkbox and len(at.sidebar.text_input) == 1


def test_a_typed_encoder_keeps_the_other_choice_and_its_path(tmp_db, tmp_path):
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "modules.json").write_text("[]", encoding="utf-8")
    at = sidebar_app(tmp_db)
    encoder_box(at).set_value(OTHER_ENCODER).run()
    at.sidebar.text_input[1].set_value(str(folder)).run()
    assert not at.exception, at.exception
    assert at.session_state["encoder"] == str(folder)
    at.run()
    assert encoder_box(at).value == OTHER_ENCODER
    assert at.sidebar.text_input[1].value == str(folder)
