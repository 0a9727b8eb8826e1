"""Survey mode: rating parsing in several languages, centred scoring, asking through the cache."""

from __future__ import annotations

import json
import math

import pytest
from conftest import ROOT, shared_file
from fault_server import FaultServer
from streamlit.testing.v1 import AppTest

from univar import ids, store
from univar.catalog import instruments
from univar.elicit import survey
from univar.errors import UserError


@pytest.mark.parametrize(
    "answer, rating",
    [
        ("4", 4),
        ("5 - Like me", 5),
        ("**3**", 3),
        ("Rating (1-6): Very much like me.", 6),
        ("Not like me at all.", 1),
        ("not like me", 2),
        ("A little like me", 3),
        ("I would say 4, since it fits most days.", 4),
        ("Rating: 2", 2),
        ("I'd rate myself a 6 out of 6", 6),
        ("On a scale of 1 to 6, I think 3", 3),
        ("Tout à fait comme moi", 6),
        ("Réponse : 5", 5),
        ("Pas du tout comme moi.", 1),
        ("Sehr wie ich", 6),
        ("Überhaupt nicht wie ich", 1),
        ("Se parece mucho a mí", 6),
        ("No se parece a mí", 2),
        ("非常像我", 6),
        ("不像我", 2),
        ("我选 ４", 4),  # full-width digit
        ("٥", 5),  # Arabic-Indic digit
        ("Совсем не похож на меня", 1),
        ("cinq", 5),
        ("Four.", 4),
    ],
)
def test_parse_rating(answer, rating):
    assert survey.parse_rating(answer) == rating


@pytest.mark.parametrize(
    "answer",
    [
        None,
        "",
        "As an AI, I do not have personal values.",
        "10",
        "1 = Not like me at all\n2 = Not like me\n3 = A little like me\n4 = Moderately like me",
        "1 = Not like me\n2 = Not like me",  # the scale read back, not an answer
        "It is somewhat like me, 4 or 5",  # two ratings
        "One of the most important things in life.",
    ],
)
def test_unparseable_answers_give_none(answer):
    assert survey.parse_rating(answer) is None


def test_translated_labels_are_used():
    labels = {1: ["Hindi sangat tidak mirip"], 6: ["Sangat mirip dengan saya"]}
    assert survey.parse_rating("Sangat mirip dengan saya.", labels) == 6
    assert survey.parse_rating("Sangat mirip dengan saya.") is None


def test_centred_scores_by_hand(tmp_db):
    """sdt items rated 6, hed items 1, 1 and unparseable, every other item 3.
    Answered items: 56; their sum 51*3 + 3*6 + 2*1 = 173; MRAT = 173/56."""
    instruments.ensure(tmp_db)
    special = {1: "6", 23: "6", 39: "6", 3: "1", 36: "1", 46: "no idea"}
    answers = [(ids.item_id(n), 0, special.get(n, "3"), None) for n in instruments.ITEM_VALUE]
    assert survey.record(tmp_db, "univar-portraits", "m", "eng", answers) == 56
    scores = survey.score(tmp_db, "univar-portraits", "m", "eng").set_index("value_code")
    mrat = 173 / 56
    assert len(scores) == 19
    assert scores.loc["sdt", "raw_mean"] == 6
    assert math.isclose(scores.loc["sdt", "centred"], 6 - mrat)
    assert math.isclose(scores.loc["hed", "centred"], 1 - mrat)
    assert scores.loc["hed", "n_items"] == 2
    assert math.isclose(scores.loc["ach", "centred"], 3 - mrat)
    stored = store.query_df("SELECT rating FROM survey_responses WHERE item_id = '46'")
    assert stored["rating"].isna().all()


def test_samples_of_an_item_are_averaged_first(tmp_db):
    instruments.ensure(tmp_db)
    answers = [(ids.item_id(n), 0, "3", None) for n in instruments.ITEM_VALUE]
    answers += [("01", 1, "5", None)]  # item 1 (sdt): samples 3 and 5 -> 4
    survey.record(tmp_db, "univar-portraits", "m", "eng", answers)
    scores = survey.score(tmp_db, "univar-portraits", "m", "eng").set_index("value_code")
    mrat = (56 * 3 + 4) / 57
    assert math.isclose(scores.loc["sdt", "raw_mean"], (4 + 3 + 3) / 3)
    assert math.isclose(scores.loc["sdt", "centred"], 10 / 3 - mrat)


def test_survey_items_need_text(tmp_db):
    with pytest.raises(UserError, match="import --format pvq-rr"):
        survey.survey_items(tmp_db, "pvq-rr")
    with pytest.raises(UserError, match="no 6-point portraits"):
        survey.survey_items(tmp_db, "valueprism")
    assert len(survey.survey_items(tmp_db, "univar-portraits")) == 57


def test_config_is_checked():
    with pytest.raises(UserError, match="unknown language"):
        survey.SurveyConfig("openai/x", languages=("xx",))
    with pytest.raises(UserError, match="temperature"):
        survey.SurveyConfig("openai/x", temperature=3.0)
    with pytest.raises(UserError, match="malformed model"):
        survey.SurveyConfig("bad model")


def test_run_through_the_cache_with_translation(tmp_db):
    """A fake server echoes the prompt: no rating parses, but every step is cached and stored."""
    with FaultServer() as fs:
        cfg = survey.SurveyConfig(
            "openai/fake", languages=("eng", "fra"), api_base=fs.api_base, concurrency=8
        )
        scores = survey.run(cfg, tmp_db)
        sent = fs.requests
        # eng: 57 answers; fra: 57 answers, 57 items + prompt + cue + 6 labels translated
        assert sent == 57 + 57 + 57 + 8
        assert set(scores["identity"]) == {"openai/fake$eng", "openai/fake$fra"}
        assert len(scores) == 38
        fra = store.query_df(
            "SELECT raw_answer FROM survey_responses WHERE language = 'fra' ORDER BY item_id"
        )
        assert fra["raw_answer"][0].startswith("My answer to '[French] Rate how much")
        purposes = dict(
            store.query_df("SELECT purpose, count(*) AS n FROM requests GROUP BY 1").values
        )
        assert purposes == {"survey": 114, "translate": 65}
        survey.run(cfg, tmp_db)  # again: everything from the cache
        assert fs.requests == sent
    runs = store.query_df("SELECT status FROM runs WHERE kind = 'survey'")
    assert list(runs["status"]) == ["done", "done"]


@pytest.mark.slow
def test_pvq_rr_survey_against_local_smollm2(tmp_db, request):
    try:
        server = request.getfixturevalue("local_llm")
    except pytest.FixtureLookupError:
        pytest.skip("the local_llm fixture is not in tests/conftest.py yet")
    assert instruments.import_pvq_rr(shared_file("pvq_rr_items.jsonl"), tmp_db) == 57
    cfg = survey.SurveyConfig(
        "openai/smollm2", instrument="pvq-rr", api_base=server.api_base("smollm2"), concurrency=2
    )
    scores = survey.run(cfg, tmp_db)
    assert len(scores) == 19 and set(scores["identity"]) == {"openai/smollm2$eng"}
    rated = store.query_df("SELECT count(rating) AS n FROM survey_responses")["n"][0]
    assert rated > 10  # a weak model, but a real one: many of its replies give a rating
    profile = survey.survey_profile(tmp_db, ["openai/smollm2$eng"], "pvq-rr")
    assert len(profile) == 19 and profile["angle"].notna().all()

    at = AppTest.from_file(str(ROOT / "pages" / "compare.py"), default_timeout=60)
    at.session_state["db"] = str(tmp_db)
    at.run()
    assert not at.exception, at.exception
    radar = json.loads(at.get("plotly_chart")[0].proto.spec)["data"][0]
    assert radar["name"] == "openai/smollm2$eng" and len(radar["theta"]) == 20
