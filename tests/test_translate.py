"""Translation both ways: the prompt, the cache keys, and the chain through a real loopback
server whose 'translation' of TEXT into French is '[French] TEXT'."""

from __future__ import annotations

import pytest
from fault_server import FaultServer

from univar import store
from univar.catalog import questions
from univar.elicit import engine, translation
from univar.elicit.settings import ElicitConfig
from univar.errors import UserError


@pytest.fixture(scope="module")
def servers():
    with FaultServer() as answers, FaultServer() as translator:
        yield answers, translator


@pytest.fixture
def fs(servers):
    for s in servers:
        s.mode, s.fail_every, s.delay_s = "ok", 0, 0.0
        s.script.clear()
        s.reset_counters()
    return servers


@pytest.fixture(scope="module")
def bank():
    return questions.select_questions(None, 4)


def test_prompt_is_plain_and_greedy():
    req = translation.request("Is honesty important?", "eng", "fra", "openai/m", None)
    assert req.purpose == "translate" and req.messages == (
        (
            "user",
            "Translate this English text into French. Write only the French translation, "
            "nothing else.\n\nEnglish: Is honesty important?\n\nFrench:",
        ),
    )
    params = dict(req.params)
    assert params["temperature"] == 0.0 and params["max_tokens"] >= 64
    back = translation.request("Est-ce important ?", "fra", "eng", "openai/m", None)
    assert "French text into English" in back.messages[0][1]
    strict = translation.request("Est-ce important ?", "fra", "eng", "openai/m", None, strict=True)
    assert strict.key != back.key and "Do not copy it" in strict.messages[0][1]


def test_clean_drops_the_label_a_model_repeats():
    assert translation.clean('English: "It matters."', "eng") == "It matters."
    assert translation.clean("Englishness matters.", "eng") == "Englishness matters."


def test_cache_key_changes_with_text_direction_and_translator():
    base = translation.request("Hello", "eng", "fra", "openai/m", None)
    assert base.key == translation.request("Hello", "eng", "fra", "openai/m", None).key
    others = [
        translation.request("Hello!", "eng", "fra", "openai/m", None),
        translation.request("Hello", "eng", "deu", "openai/m", None),
        translation.request("Hello", "eng", "fra", "openai/n", None),
        translation.request("Hello", "eng", "fra", "openai/m", "http://127.0.0.1:1/v1"),
    ]
    assert len({base.key, *(o.key for o in others)}) == 5


def test_translator_defaults_to_the_elicited_model():
    assert translation.translator_of("openai/a", "http://x/v1", None, None) == (
        "openai/a",
        "http://x/v1",
    )
    assert translation.translator_of("openai/a", "http://x/v1", "openai/t", "http://y/v1") == (
        "openai/t",
        "http://y/v1",
    )
    assert translation.label("openai/t", None) == "openai/t"


def test_clean_drops_wrapping_quotes_only():
    assert translation.clean('  "Bonjour"\n') == "Bonjour"
    assert translation.clean("« Salut »") == "Salut"
    assert translation.clean('Il a dit "oui"') == 'Il a dit "oui"'


def _config(answers, bank, **kw):
    return ElicitConfig(
        model="openai/fake",
        api_base=answers.api_base,
        languages=("eng", "fra", "zho"),
        question_ids=tuple(q.question_id for q in bank),
        retry_base_s=0.01,
        **kw,
    )


def test_round_trip_fills_english_columns_and_records_the_translator(tmp_db, fs, bank):
    answers, _ = fs
    engine.run(_config(answers, bank), tmp_db, questions=bank)
    with store.connect(tmp_db) as con:
        got = con.execute(
            "SELECT language, question, answer, question_en, answer_en, translator "
            "FROM qa WHERE question_id = ? ORDER BY language",
            [bank[0].question_id],
        ).fetchall()
    (eng, fra, zho) = got
    q = bank[0].question
    assert eng == ("eng", q, eng[2], q, eng[2], None)  # English is never translated
    # the question's English is the bank's own text, not a round trip
    assert fra[1] == f"[French] {q}" and fra[3] == q
    assert fra[2] == f"My answer to '[French] {q}' is: it depends on the situation."
    assert fra[4] == f"[English] {fra[2]}"
    assert zho[1] == f"[Chinese (Simplified)] {q}"
    assert fra[5] == zho[5] == f"openai/fake@{answers.api_base}"


def test_a_separate_translator_gets_only_translations(tmp_db, fs, bank):
    answers, translator = fs
    cfg = _config(
        answers,
        bank,
        translator="openai/translator",
        translator_api_base=translator.api_base,
        samples=2,
    )
    summary = engine.run(cfg, tmp_db, questions=bank)
    assert summary.failed == 0
    # 4 questions x 2 languages: out once whatever the samples; answers are alike across
    # samples here, so each is translated back once (the questions' English is the bank's)
    assert translator.requests == 4 * 2 * 2
    assert answers.requests == 4 * 3 * 2
    assert all("Translate this" in b["messages"][0]["content"] for b in translator.bodies)
    assert not any("Translate" in b["messages"][0]["content"] for b in answers.bodies)
    with store.connect(tmp_db) as con:
        labels = con.execute(
            "SELECT DISTINCT translator FROM qa_pairs WHERE language <> 'eng'"
        ).fetchall()
    assert labels == [(f"openai/translator@{translator.api_base}",)]


def test_failed_translation_is_an_error_row_that_a_rerun_repairs(tmp_db, fs, bank):
    answers, _ = fs
    cfg = _config(answers, bank[:1], max_retries=0)
    answers.script = ["500"]  # the first request: English -> French of the question
    cfg = ElicitConfig(**{**cfg.__dict__, "languages": ("fra",)})
    first = engine.run(cfg, tmp_db, questions=bank)
    assert first.failed == 1
    with store.connect(tmp_db) as con:
        [(status, error)] = con.execute("SELECT status, error FROM qa_pairs").fetchall()
    assert status == "error" and error.startswith("translating the question English->French")
    again = engine.run(cfg, tmp_db, questions=bank)
    assert again.ok == 1 and again.failed == 0
    with store.connect(tmp_db) as con:
        assert con.execute("SELECT count(*) FROM qa").fetchone()[0] == 1


# --- translate_texts: uploads and other batches ---


def test_translate_texts_keeps_order_and_empties_and_asks_once(tmp_db, fs):
    _, translator = fs
    texts = ["Bonjour", "", "Merci", "Bonjour"]
    kw = dict(model="openai/t", api_base=translator.api_base, db=tmp_db)
    seen = []
    out = translation.translate_texts(
        texts, "fra", "eng", progress=lambda d, t: seen.append((d, t)), **kw
    )
    assert out == ["[English] Bonjour", "", "[English] Merci", "[English] Bonjour"]
    assert translator.requests == 2 and seen[-1] == (2, 2)  # one request per distinct text
    assert translation.translate_texts(texts, "fra", "eng", **kw) == out
    assert translator.requests == 2  # the rerun comes from the cache
    assert translation.translate_texts(["Hi"], "eng", "eng", **kw) == ["Hi"]


def test_translate_texts_failure_names_the_text_and_keeps_the_rest(tmp_db, fs):
    _, translator = fs
    translator.mode = "500"
    translator.script = ["ok"]  # the first request succeeds, every other one fails
    kw = dict(model="openai/t", api_base=translator.api_base, db=tmp_db)
    with pytest.raises(UserError, match=r"could not translate 'Deux'"):
        translation.translate_texts(["Un", "Deux"], "fra", "eng", concurrency=1, **kw)
    stored = store.query_df("SELECT status, count(*) AS n FROM requests GROUP BY 1", path=tmp_db)
    assert dict(zip(stored["status"], stored["n"], strict=True)) == {"ok": 1, "error": 1}
    translator.mode, sent = "ok", translator.requests
    assert translation.translate_texts(["Un", "Deux"], "fra", "eng", **kw)[1] == "[English] Deux"
    assert translator.requests == sent + 1  # only the failed one is asked again


def test_translate_texts_unreachable_server_is_one_message(tmp_db):
    with pytest.raises(UserError, match="cannot reach"):
        translation.translate_texts(
            ["Un"], "fra", "eng", model="openai/t", api_base="http://127.0.0.1:9/v1", db=tmp_db
        )
