"""The bank's non-value control questions: picked only when asked for (`control`,
`control:N`), never by `all` or a value-balanced N, and loaded with their own value."""

from __future__ import annotations

import pytest

from univar import store
from univar.catalog import questions
from univar.errors import UserError


def test_bank_has_at_least_a_hundred_distinct_controls_with_their_value():
    controls = questions.select_questions(None, "control")
    assert len(controls) >= 100
    assert {(q.framework, q.value_code) for q in controls} == {("control", "none")}
    assert len({q.question.lower() for q in controls}) == len(controls)
    values = {(v["framework"], v["code"]) for v in questions.read_values()}
    assert ("control", "none") in values


def test_value_picks_never_include_controls():
    for spec in ("all", 20, 200, len(questions.value_bank())):
        picked = questions.select_questions(None, spec)
        assert picked and not any(questions.is_control(q) for q in picked)
    with pytest.raises(UserError, match="the bank has"):
        questions.select_questions(None, len(questions.value_bank()) + 1)


def test_control_n_is_balanced_over_categories_and_deterministic():
    categories = {q.question_id.split(".")[1] for q in questions.control_questions()}
    assert len(categories) >= 6
    first = questions.select_questions(None, f"control:{len(categories)}")
    assert {q.question_id.split(".")[1] for q in first} == categories
    assert questions.select_questions(None, "control:30")[: len(first)] == first
    with pytest.raises(UserError, match="control questions"):
        questions.select_questions(None, "control:0")
    with pytest.raises(UserError, match="control:N"):
        questions.select_questions(None, "control:many")


def test_load_bank_stores_controls_under_their_framework(tmp_db):
    questions.load_bank(tmp_db)
    with store.connect(tmp_db) as con:
        n = con.execute(
            "SELECT count(*) FROM questions WHERE framework = 'control' AND value_code = 'none'"
        ).fetchone()[0]
        defined = con.execute(
            "SELECT count(*) FROM value_defs WHERE framework = 'control' AND code = 'none'"
        ).fetchone()[0]
    assert n == len(questions.control_questions()) and defined == 1
