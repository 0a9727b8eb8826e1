"""The value taxonomy and question bank: loading (idempotent), the Schwartz circle, and the
three ways to pick a job's questions (all, a value-balanced N, a user's CSV file)."""

from __future__ import annotations

import pytest

from univar import cli, store
from univar.catalog import questions
from univar.errors import UserError


@pytest.fixture
def small_bank(tmp_path, monkeypatch):
    """3 frameworks: A with 3 values, B with 2, C with 1; 2 questions per value."""
    values = tmp_path / "values.csv"
    bank = tmp_path / "questions.csv"
    vals = [("A", "a1"), ("A", "a2"), ("A", "a3"), ("B", "b1"), ("B", "b2"), ("C", "c1")]
    values.write_text(
        "framework,value,code,definition\n"
        + "".join(f"{fw},{code.upper()},{code},Valuing {code}.\n" for fw, code in vals)
    )
    bank.write_text(
        "question_id,framework,code,question\n"
        + "".join(
            f"{code}.{i},{fw},{code},Question {i} about {code}?\n"
            for fw, code in vals
            for i in (1, 2)
        )
    )
    monkeypatch.setattr(questions, "VALUES_CSV", values)
    monkeypatch.setattr(questions, "QUESTIONS_CSV", bank)
    return vals


def test_balanced_pick_covers_values_and_frameworks_first(small_bank):
    picked = questions.select_questions(None, 6)
    assert [q.value_code for q in picked] == ["a1", "b1", "c1", "a2", "b2", "a3"]
    assert all(q.question_id.endswith(".1") for q in picked)
    eight = questions.select_questions(None, 8)
    assert eight[:6] == picked and [q.question_id for q in eight[6:]] == ["a1.2", "b1.2"]
    assert questions.select_questions(None, 8) == eight  # deterministic
    assert len(questions.select_questions(None, "all")) == 12


def test_real_bank_twenty_questions_cover_twenty_values():
    picked = questions.select_questions(None, 20)
    assert len({(q.framework, q.value_code) for q in picked}) == 20
    assert len({q.framework for q in picked}) >= 5


def test_load_is_idempotent_and_places_schwartz_values_on_the_circle(tmp_db):
    first = questions.load_bank(tmp_db)
    assert first == questions.load_bank(tmp_db)
    with store.connect(tmp_db) as con:
        n_values = con.execute("SELECT count(*) FROM value_defs").fetchone()[0]
        n_questions = con.execute(
            "SELECT count(*) FROM questions WHERE source = 'bank'"
        ).fetchone()[0]
        angles = [
            a
            for (a,) in con.execute(
                "SELECT angle FROM value_defs WHERE framework = 'Schwartz' ORDER BY angle"
            ).fetchall()
        ]
        others = con.execute(
            "SELECT count(angle) FROM value_defs WHERE framework <> 'Schwartz'"
        ).fetchone()[0]
    assert (n_values, n_questions) == first and n_values >= 80 and n_questions >= 400
    assert len(angles) == 19 and None not in angles and others == 0
    steps = {round(b - a, 3) for a, b in zip(angles, angles[1:], strict=False)}
    assert steps == {round(360 / 19, 3)}


def test_schwartz_angle_matches_codes_and_names():
    assert questions.schwartz_angle("Schwartz", "sdt") == 0.0
    assert questions.schwartz_angle("Schwartz", "x", "Power (dominance)") == pytest.approx(
        5 * 360 / 19
    )
    assert questions.schwartz_angle("Hofstede", "sdt") is None
    assert questions.schwartz_angle("Schwartz", "achievementish") is None


def test_question_file_with_only_a_question_column(tmp_path, tmp_db):
    path = tmp_path / "mine.csv"
    path.write_text("question\nIs it right to lie to protect a friend?\nShould rules be obeyed?\n")
    got = questions.select_questions(tmp_db, str(path))
    assert [q.question for q in got][0] == "Is it right to lie to protect a friend?"
    assert all(q.question_id.startswith("q-") and q.source == "file:mine.csv" for q in got)
    assert questions.select_questions(tmp_db, str(path)) == got  # ids are stable


def test_question_file_with_ids_values_and_frameworks(tmp_path):
    path = tmp_path / "tagged.csv"
    path.write_text(
        "\ufeffQuestion_ID,Question,Value,Framework\nx1,Is family first?,bec,Schwartz\n"
    )
    [q] = questions.select_questions(None, str(path))
    assert (q.question_id, q.value_code, q.framework) == ("x1", "bec", "Schwartz")


@pytest.mark.parametrize(
    "content, message",
    [
        ("text\nhello\n", "missing column 'question'"),
        ("question\n\n", "no questions"),
        ("question,question_id\nA?,1\nB?,1\n", "appears twice"),
        ("question_id,question\n1,\n", "row 2 has an empty question"),
    ],
)
def test_bad_question_files_name_the_file_and_the_problem(tmp_path, content, message):
    path = tmp_path / "bad.csv"
    path.write_text(content)
    with pytest.raises(UserError, match=message) as err:
        questions.select_questions(None, str(path))
    assert "bad.csv" in str(err.value) or message == "appears twice"


def test_a_file_id_that_names_another_stored_question_is_refused(tmp_path, tmp_db):
    questions.load_bank(tmp_db)
    bank_id = questions.read_bank()[0].question_id
    path = tmp_path / "clash.csv"
    path.write_text(f"question_id,question\n{bank_id},Something else entirely?\n")
    with pytest.raises(UserError, match="already names a different question"):
        questions.select_questions(tmp_db, str(path))


def test_bad_specs():
    with pytest.raises(UserError, match="the bank has"):
        questions.select_questions(None, 10**6)
    with pytest.raises(UserError, match="not found"):
        questions.select_questions(None, "nope.csv")


def test_cli_load_and_list(tmp_db, capsys):
    assert cli.main(["questions", "load", "--db", str(tmp_db)]) == 0
    assert "loaded" in capsys.readouterr().out
    assert cli.main(["questions", "list", "--questions", "5", "--db", str(tmp_db)]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 5 and all(line.count("\t") == 3 for line in lines)
    assert cli.main(["questions", "list", "--framework", "schwartz", "--value", "sdt"]) == 0
    assert all("\tsdt\t" in line for line in capsys.readouterr().out.strip().splitlines())
