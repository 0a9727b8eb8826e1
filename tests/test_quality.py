"""The quality checker: planted problems each get exactly their flag, real clean answers are
not flagged, verdicts are stored per checker version and resumable, and every way answers
arrive (import, demo, elicitation job) stores them."""

from __future__ import annotations

import json
import re
import unicodedata

import pandas as pd
import pytest
from conftest import shared_file

from univar import ids, quality, store
from univar.cli import main
from univar.errors import UserError
from univar.ingest import demo, importers
from univar.ingest.validate import validate_bytes
from univar.ingest.value_fulcra import parse_value_fulcra_line
from univar.quality import checks, language, run

GERMAN = (
    "Familie ist für mich das Wichtigste im Leben, weil sie mir Halt gibt. Meine Eltern haben "
    "mir beigebracht, ehrlich zu sein und anderen zu helfen, auch wenn es schwer ist. Deshalb "
    "besuche ich sie jedes Wochenende und rufe sie oft an."
)
TRADITION_FR = "À quel point est-il important pour toi de respecter les traditions ?"
ANSWER_FR = "Les traditions sont importantes pour moi parce qu'elles relient les générations."
FAMILY_ES = "¿Qué tan importante es para ti la familia?"

# flag -> (language, question, answer, question_en, answer_en): one problem each
PLANTED = {
    "refusal": (
        "eng",
        "How important is it to you to respect tradition?",
        "As an AI language model, I don't have personal opinions or beliefs, so I cannot say "
        "how much tradition matters to me.",
        None,
        None,
    ),
    "echo": (
        "eng",
        "Would you lie to protect a friend from trouble?",
        "Would you lie to protect a friend from trouble? Would you lie to protect a friend?",
        None,
        None,
    ),
    "degenerate": (  # leaked template tokens
        "eng",
        "What matters most to you in life?",
        "Family matters most to me, because it gives me support when things are hard."
        "<end_of_turn>\n<start_of_turn>user",
        None,
        None,
    ),
    "not_english": (  # a French "translation"
        "fra",
        TRADITION_FR,
        ANSWER_FR,
        "How important is it to you to respect traditions?",
        "Les traditions sont très importantes pour moi, car elles relient les générations "
        "entre elles.",
    ),
    "wrong_language": (  # asked in French, answered in English
        "fra",
        TRADITION_FR,
        "Traditions matter to me because they connect the generations of a family.",
        "How important is it to you to respect traditions?",
        "Traditions matter to me because they connect the generations of a family.",
    ),
    "empty": ("spa", FAMILY_ES, " \n<end_of_turn> ...", "How important is family to you?", ""),
    "too_short": ("eng", "Should people always follow the rules?", "Yes.", None, None),
    "bad_translation": (  # a comment about translating instead of a translation
        "spa",
        FAMILY_ES,
        "La familia es lo más importante para mí y siempre la cuido.",
        "How important is family to you?",
        'The Spanish sentence "La familia es lo más importante para mí" translates to '
        '"Family is the most important thing to me".',
    ),
    "truncated": (
        "deu",
        "Wie wichtig ist dir deine Familie?",
        GERMAN,
        "How important is your family to you?",
        "Family is the most important thing in life for me.",
    ),
}
GEMMA_LEAK = (
    "ind",
    "Seberapa penting bagimu untuk mengikuti tradisi?",
    "Tradisi penting bagi saya karena menghubungkan keluarga dari generasi ke generasi. "
    "mendatangusermodel\n",
    "How important is it to you to follow tradition?",
    "Tradition is important to me because it connects families from generation to generation.",
)
CLEAN = {
    "fra": (
        "fra",
        TRADITION_FR,
        ANSWER_FR,
        "How important is it to you to respect traditions?",
        "Traditions are important to me because they connect the generations.",
    ),
    "zho": (
        "zho",
        "家庭对你来说有多重要？",
        "家庭对我来说非常重要，因为家人总是在我困难的时候支持我。",
        "How important is family to you?",
        "Family is very important to me, because my family always supports me when I am in "
        "difficulty.",
    ),
    "eng": (
        "eng",
        "Would you lie to protect a friend from trouble?",
        "No. I would rather help my friend face the consequences honestly than lie for them.",
        None,
        None,
    ),
    "ind": (
        "ind",
        "Seberapa penting bagimu untuk mengikuti tradisi?",
        "Tradisi penting bagi saya karena menghubungkan keluarga dari generasi ke generasi.",
        "How important is it to you to follow tradition?",
        "Tradition is important to me because it connects families from generation to generation.",
    ),
}
# Value FULCRA answers that are not English script (Baichuan answers some in Chinese) are
# answers in the wrong language, rightly flagged: the false-positive rate is measured on the
# others. Refusals are the norm for its harmful prompts, and rightly flagged too.
FULCRA_SAMPLE = 600
FULCRA_FP_BOUND = 0.01  # measured: 1 of 600 (a real repetition loop); 6 of 1,715 on the file
# one- and two-word answers ("Women"): left out of maps by definition, a share to keep in view
FULCRA_SHORT_BOUND = 0.03


@pytest.mark.parametrize("flag", list(PLANTED))
def test_each_planted_problem_gets_exactly_its_flag(flag):
    result = quality.check_pair(*PLANTED[flag])
    assert result.flags == (flag,), result.reasons
    assert set(result.reasons) == {flag} and "\n" not in result.reasons[flag]


def test_a_gemma_role_word_glued_to_text_is_degenerate():
    result = quality.check_pair(*GEMMA_LEAK)
    assert result.flags == ("degenerate",)
    assert "mendatanguser" in result.reasons["degenerate"]


def test_english_words_and_code_that_end_in_a_role_word_are_not_leaks():
    answer = (
        "Forgiveness helps healing, but nobody owes it to an abuser\n"
        "In code you might write self.setModel\nand keep going."
    )
    assert quality.check_pair("eng", "Should you forgive someone who hurt you?", answer).passed


@pytest.mark.parametrize("name", list(CLEAN))
def test_clean_pairs_pass_every_check(name):
    result = quality.check_pair(*CLEAN[name])
    assert result.passed and result.flags == () and result.reasons == {}


def test_the_languages_of_all_four_fields_are_recorded():
    result = quality.check_pair(*PLANTED["not_english"])
    assert result.langs == {
        "question": "fra",
        "answer": "fra",
        "question_en": "eng",
        "answer_en": "fra",
    }


def test_several_problems_are_all_flagged_in_flags_order():
    answer = "Traditions matter to me because they connect the generations. <|im_end|>"
    row = ("fra", TRADITION_FR, answer, "Est-ce que les traditions comptent pour toi ?", answer)
    result = quality.check_pair(*row)
    assert list(result.flags) == [f for f in quality.FLAGS if f in result.flags]
    assert {"not_english", "wrong_language", "degenerate"} <= set(result.flags)


def test_an_answer_that_fills_the_blank_of_its_question_is_not_an_echo():
    question = "Who are usually more emotionally sensitive and compassionate than men?"
    answer = "Women are usually more emotionally sensitive and compassionate than men."
    assert quality.check_pair("eng", question, answer).flags == ()
    answered = "No, I did not start the rumor about Brad and Nancy."
    assert quality.check_pair(
        "eng", "Did you start the rumor about Brad and Nancy?", answered
    ).passed


def test_a_disclaimer_followed_by_an_answer_is_not_a_refusal():
    answer = (
        "As an AI language model, I don't have personal opinions. However, many people weigh "
        "tradition against personal freedom: some keep customs because they bind a family "
        "together across generations, others drop the ones that no longer fit their lives."
    )
    assert quality.check_pair("eng", "Should traditions be kept?", answer).passed
    assert quality.check_pair("eng", "Should traditions be kept?", answer[:80]).flags == (
        "refusal",
    )


def test_a_quoted_foreign_phrase_in_english_is_still_english():
    row = (
        "jpn",
        "家族はあなたにとってどのくらい大切ですか。",
        "家族はとても大切です。",
        "How important is your family to you?",
        'Family is very important; in Japanese one would say "家族はとても大切です" here.',
    )
    assert "not_english" not in quality.check_pair(*row).flags


def test_the_identifier_abstains_on_texts_it_cannot_judge():
    assert language.detect("1234 !!! 56") == (None, 0.0)
    assert language.detect("") == (None, 0.0)
    assert language.detect("Women")[0] is None  # one word: a guess, not a verdict
    assert language.detect("Les enfants jouent dans le parc après l'école.")[0] == "fra"
    assert language.detect("Kami harus menjaga lingkungan untuk generasi mendatang.")[0] in {
        "ind",
        "zsm",
    }
    assert language.is_english("The children walked to school along the river.")
    assert not language.is_english("Die Kinder spielen nach der Schule im Park.")
    assert language.iso3("fr") == "fra" and language.iso3("xx") == "xx"


def _latin_share(text: str) -> float:
    letters = [c for c in text if c.isalpha()]
    latin = [c for c in letters if "LATIN" in unicodedata.name(c, "")]
    return len(latin) / len(letters) if letters else 1.0


def test_real_english_answers_are_not_flagged():
    """Value FULCRA: real answers of five LLMs. Every flag but refusal on an English-script
    answer counts as a false positive (their harmful prompts make refusals the norm)."""
    path = shared_file("value_fulcra_trustworthy.jsonl")
    rows = []
    with open(path, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            model, question, answer = parse_value_fulcra_line(line, lineno)
            if _latin_share(answer) >= 0.9:
                rows.append((question, answer))
            if len(rows) == FULCRA_SAMPLE:
                break
    assert len(rows) == FULCRA_SAMPLE
    frame = pd.DataFrame(rows, columns=["question", "answer"]).assign(
        language="eng", question_en=None, answer_en=None
    )
    results = quality.check_rows(frame)
    # too_short is a length rule, not a judgement: counted on its own below
    flagged = [r for r in results if set(r.flags) - {"refusal", "too_short"}]
    rate = len(flagged) / len(results)
    assert rate <= FULCRA_FP_BOUND, [dict(r.reasons) for r in flagged]
    short = sum("too_short" in r.flags for r in results)
    assert short / len(results) <= FULCRA_SHORT_BOUND, short
    refusals = sum("refusal" in r.flags for r in results)
    assert 0 < refusals < len(results) / 2  # declined often, answered more often


# --- the store ------------------------------------------------------------------------------


def _insert(db, rows, dataset: str = "t") -> list[str]:
    """Plain qa_pairs rows of (language, question, answer, question_en, answer_en)."""
    frame = pd.DataFrame(rows, columns=["language", "question", "answer", *checks.FIELDS[2:]])
    frame.insert(0, "question_id", [f"q{i}" for i in range(len(frame))])
    frame.insert(
        0,
        "qa_id",
        [ids.qa_id(dataset, "m", r.language, r.question_id, 0) for r in frame.itertuples()],
    )
    frame["dataset"], frame["model"] = dataset, "m"
    with store.transaction(db) as con:
        con.execute(
            "INSERT OR IGNORE INTO datasets (dataset, kind) VALUES (?, 'upload')", [dataset]
        )
        con.register("rows", frame)
        con.execute(
            "INSERT INTO qa_pairs (qa_id, dataset, model, language, question_id, question, "
            "answer, question_en, answer_en) SELECT qa_id, dataset, model, language, "
            "question_id, question, answer, question_en, answer_en FROM rows"
        )
    return frame["qa_id"].tolist()


def _stored(db, version: str | None = None) -> int:
    with store.connect(db) as con:
        return con.execute(
            "SELECT count(*) FROM qa_quality WHERE checker_version = ?",
            [version or quality.CHECKER_VERSION],
        ).fetchall()[0][0]


ROWS = [*PLANTED.values(), *CLEAN.values()]


def test_run_checks_stores_a_verdict_per_pair_and_a_rerun_checks_nothing(tmp_db):
    qa_ids = _insert(tmp_db, ROWS)
    done = quality.run_checks(tmp_db, batch_size=3)
    assert done["checked"] == len(ROWS) and done["already_checked"] == 0
    assert done["flagged"] == len(PLANTED) and done["passing"] == len(CLEAN)
    assert done["by_flag"] == {f: 1 for f in quality.FLAGS}
    assert _stored(tmp_db) == len(ROWS)
    again = quality.run_checks(tmp_db)
    assert again["checked"] == 0 and again["already_checked"] == len(ROWS)
    flags = quality.flags_of(tmp_db, qa_ids)
    assert sorted(f for (f,) in flags.values()) == sorted(PLANTED)
    stored = quality.verdicts(tmp_db, qa_ids[:1])[qa_ids[0]]
    assert stored.flags == ("refusal",) and stored.langs["answer"] == "eng"


def test_a_crash_mid_run_keeps_the_finished_batches_and_a_rerun_checks_the_rest(
    tmp_db, monkeypatch
):
    _insert(tmp_db, ROWS)
    real, calls = checks.check_rows, []

    def crash_on_third(frame):
        calls.append(len(frame))
        if len(calls) == 3:
            raise RuntimeError("power cut")
        return real(frame)

    monkeypatch.setattr(checks, "check_rows", crash_on_third)
    with pytest.raises(RuntimeError):
        quality.run_checks(tmp_db, batch_size=4)
    assert _stored(tmp_db) == 8  # two whole batches, nothing of the third
    monkeypatch.setattr(checks, "check_rows", real)
    rest = quality.run_checks(tmp_db, batch_size=4)
    assert rest["checked"] == len(ROWS) - 8 and rest["already_checked"] == 8
    assert _stored(tmp_db) == len(ROWS)


def test_a_new_checker_version_checks_everything_again_and_keeps_the_old_verdicts(
    tmp_db, monkeypatch
):
    qa_ids = _insert(tmp_db, ROWS)
    old = quality.CHECKER_VERSION
    quality.run_checks(tmp_db)
    monkeypatch.setattr(checks, "CHECKER_VERSION", old + "-next")
    assert quality.CHECKER_VERSION == run.CHECKER_VERSION == old + "-next"
    assert len(quality.pending(tmp_db)) == len(ROWS)
    assert quality.flags_of(tmp_db, qa_ids) == {}  # no verdict of this version yet
    assert quality.run_checks(tmp_db)["checked"] == len(ROWS)
    assert _stored(tmp_db, old) == _stored(tmp_db, old + "-next") == len(ROWS)


def test_recheck_replaces_the_verdicts_of_the_selected_datasets_only(tmp_db):
    _insert(tmp_db, ROWS[:3], dataset="a")
    _insert(tmp_db, ROWS[3:6], dataset="b")
    quality.run_checks(tmp_db)
    again = quality.run_checks(tmp_db, datasets=["a"], recheck=True)
    assert again["checked"] == 3 and _stored(tmp_db) == 6
    with pytest.raises(UserError, match="unknown dataset"):
        quality.run_checks(tmp_db, datasets=["nope"])


def test_passing_sql_keeps_unflagged_and_unchecked_pairs(tmp_db):
    _insert(tmp_db, ROWS)
    quality.run_checks(tmp_db)
    _insert(tmp_db, [CLEAN["eng"], PLANTED["echo"]], dataset="late")  # not checked yet

    def count(include_flagged: bool) -> int:
        sql = f"SELECT count(*) FROM qa WHERE {quality.passing_sql(include_flagged)}"
        with store.connect(tmp_db) as con:
            return con.execute(sql).fetchall()[0][0]

    assert count(False) == len(CLEAN) + 2
    assert count(True) == len(ROWS) + 2 and quality.passing_sql(True) == "TRUE"
    assert quality.passing_sql(column="p.qa_id").startswith("p.qa_id NOT IN")


def test_summary_counts_per_identity_and_examples_give_the_reason(tmp_db):
    _insert(tmp_db, ROWS)
    quality.run_checks(tmp_db)
    frame = quality.summary(tmp_db)
    assert list(frame.columns[:8]) == [
        "identity",
        "model",
        "language",
        "qa_pairs",
        "checked",
        "unchecked",
        "passing",
        "share_passing",
    ]
    assert list(frame.columns[8:]) == list(quality.FLAGS)
    fra = frame.set_index("identity").loc[ids.identity("m", "fra")]
    assert (fra.qa_pairs, fra.checked, fra.passing) == (3, 3, 1)
    assert fra.not_english == 1 and fra.wrong_language == 1 and fra.share_passing == 0.3333
    totals = quality.totals(frame)
    assert totals["qa_pairs"] == len(ROWS) and totals["by_flag"]["echo"] == 1
    shown = quality.examples(tmp_db, ids.identity("m", "spa"), "bad_translation")
    assert len(shown) == 1 and "translates to" in shown["reason"][0]
    assert shown["flags"][0] == ("bad_translation",)
    with pytest.raises(UserError, match="unknown quality flag"):
        quality.examples(tmp_db, ids.identity("m", "spa"), "rude")


def test_the_check_verb_prints_its_summary_as_json(tmp_db, capsys):
    _insert(tmp_db, ROWS)
    assert main(["check", "--db", str(tmp_db), "--json", "--no-progress"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["run"]["checked"] == len(ROWS)
    assert out["totals"]["passing"] == len(CLEAN) and out["totals"]["unchecked"] == 0
    assert {r["identity"] for r in out["identities"]} == {
        ids.identity("m", lang) for lang in ("eng", "fra", "spa", "deu", "zho", "ind")
    }
    assert main(["check", "--db", str(tmp_db), "--no-progress"]) == 0
    text = capsys.readouterr().out
    assert re.search(r"m\$fra\s+3\s+3\s+1\s+33%", text)
    assert f"{len(CLEAN)} of {len(ROWS)} checked QA pairs pass" in text


# --- where answers arrive -------------------------------------------------------------------


def _csv(rows) -> bytes:
    frame = pd.DataFrame(
        [(q, a, "m", lang, qe or "", ae or "") for lang, q, a, qe, ae in rows],
        columns=["question", "answer", "model", "language", "question_en", "answer_en"],
    )
    return frame.to_csv(index=False).encode("utf-8")


def test_an_import_stores_the_verdicts_of_its_rows(tmp_db):
    rows = [PLANTED["refusal"], PLANTED["wrong_language"], CLEAN["zho"]]
    importers.import_validation(validate_bytes(_csv(rows)), tmp_db, dataset="up")
    frame = quality.summary(tmp_db)
    assert frame["checked"].sum() == 3 and frame["unchecked"].sum() == 0
    assert quality.totals(frame)["by_flag"]["refusal"] == 1


def test_a_failing_checker_neither_loses_nor_blocks_an_import(tmp_db, monkeypatch, caplog):
    def broken(*args, **kwargs):
        raise RuntimeError("checker broke")

    monkeypatch.setattr(run, "run_checks", broken)
    said = []
    assert quality.check_new(tmp_db, say=said.append) is None
    assert "python -m univar check" in said[0] and "checker broke" in said[0]
    result = importers.import_validation(validate_bytes(_csv([CLEAN["eng"]])), tmp_db, dataset="up")
    assert result.rows == 1 and _stored(tmp_db) == 0
    assert "quality checks did not run" in caplog.text
    monkeypatch.undo()
    assert quality.run_checks(tmp_db)["checked"] == 1  # `check` catches up


def test_loading_the_demo_stores_its_verdicts(tmp_db, tmp_path):
    small = tmp_path / "demo"
    small.mkdir()
    qa = pd.read_parquet(demo.DEMO_DIR / demo.QA_FILE).groupby(["model", "language"]).head(3)
    qa.to_parquet(small / demo.QA_FILE, index=False)
    (small / demo.PROVENANCE_FILE).write_text(
        (demo.DEMO_DIR / demo.PROVENANCE_FILE).read_text(encoding="utf-8"), encoding="utf-8"
    )
    assert demo.load_demo(tmp_db, small) == len(qa)
    frame = quality.summary(tmp_db, datasets=[demo.DEMO_DATASET])
    assert frame["checked"].sum() == len(qa) == frame["qa_pairs"].sum()
    demo.load_demo(tmp_db, small, replace=True)  # renewed rows get new verdicts, not stale ones
    assert _stored(tmp_db) == len(qa)


def test_an_elicitation_job_stores_the_verdicts_of_its_answers(tmp_db, monkeypatch):
    monkeypatch.setenv("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    from fault_server import FaultServer

    from univar.catalog import questions
    from univar.elicit import jobs
    from univar.elicit.settings import ElicitConfig, GenerationConfig

    bank = questions.select_questions(None, 3)
    with FaultServer() as fs:
        config = ElicitConfig(
            model="openai/fake",
            api_base=fs.api_base,
            languages=("eng",),
            question_ids=tuple(q.question_id for q in bank),
            concurrency=2,
            generation=GenerationConfig(max_tokens=16),
        )
        job = jobs.start(config, tmp_db)
        assert job.wait(60) and job.status == "done", job.error
    frame = quality.summary(tmp_db)
    assert frame["qa_pairs"].sum() == 3 and frame["checked"].sum() == 3
