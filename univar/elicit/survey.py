"""Survey mode: ask an LLM each portrait item on PVQ-RR's 6-point scale and score 19 values.

Ratings are parsed from free text (a digit in any script, a scale label in several languages, or
a number word when that is the whole answer); an answer that names no single rating is stored
with rating NULL. Scores use the standard centring: a value's mean rating minus the
respondent's mean over all answered items (MRAT), computed in SQL over `survey_responses`.
Requests go through the elicitation engine's cache (purpose 'survey'), so a rerun is free.
"""

from __future__ import annotations

import asyncio
import dataclasses
import re
import unicodedata
from dataclasses import dataclass

from univar import ids, store
from univar.catalog import instruments, registry
from univar.elicit import survey, translation
from univar.elicit.settings import GenerationConfig
from univar.errors import UserError
from univar.llm import keys as keyring
from univar.llm.client import Request, RetryPolicy, run_blocking
from univar.llm.endpoints import check_allowed, check_reachable
from univar.llm.request_cache import CachedAsker
from univar.paths import Db
from univar.store import runs

SCALE = (
    "Not like me at all",
    "Not like me",
    "A little like me",
    "Moderately like me",
    "Like me",
    "Very much like me",
)
# The project's own renderings of the scale, so answers in these languages parse without a
# translator; other languages use the labels translated for the survey.
LABELS: dict[str, tuple[str, ...]] = {
    "eng": SCALE,
    "eng2": (
        "Not like you at all",
        "Not like you",
        "A little like you",
        "Moderately like you",
        "Like you",
        "Very much like you",
    ),
    "fra": (
        "Pas du tout comme moi",
        "Pas comme moi",
        "Un peu comme moi",
        "Moyennement comme moi",
        "Comme moi",
        "Tout à fait comme moi",
    ),
    "deu": (
        "Überhaupt nicht wie ich",
        "Nicht wie ich",
        "Ein wenig wie ich",
        "Einigermaßen wie ich",
        "Wie ich",
        "Sehr wie ich",
    ),
    "spa": (
        "Nada parecido a mí",
        "No se parece a mí",
        "Se parece un poco a mí",
        "Se parece moderadamente a mí",
        "Se parece a mí",
        "Se parece mucho a mí",
    ),
    "zho": ("完全不像我", "不像我", "有点像我", "比较像我", "像我", "非常像我"),
    "rus": (
        "Совсем не похож на меня",
        "Не похож на меня",
        "Немного похож на меня",
        "Отчасти похож на меня",
        "Похож на меня",
        "Очень похож на меня",
    ),
}
WORDS = {  # number words count only as the whole answer: "one" is common in sentences
    1: ("one", "un", "une", "eins", "uno", "一", "один"),
    2: ("two", "deux", "zwei", "dos", "二", "два"),
    3: ("three", "trois", "drei", "tres", "三", "три"),
    4: ("four", "quatre", "vier", "cuatro", "四", "четыре"),
    5: ("five", "cinq", "fünf", "cinco", "五", "пять"),
    6: ("six", "sechs", "seis", "六", "шесть"),
}
# Worded for weak models too: SmolLM2-135M rated 13 of 20 items this way, 7 with a listed scale.
PROMPT = "Rate how much this describes you, from 1 (not like me at all) to 6 (very much like me)."
CUE = "Rating (1-6):"
SURVEY_INSTRUMENTS = (instruments.PORTRAITS, instruments.PVQ_RR)

_RANGE = re.compile(r"\b1\s*(?:-|–|—|to|à|a|bis|до|~|到|至)\s*6\b|(?:/|out of|sur|von|из)\s*6\b")
_EXPLICIT = re.compile(
    r"(?:rating|answer|score|choice|note|réponse|antwort|bewertung|respuesta|ответ|оценка|"
    r"评分|答案|回答|i(?:['’]d| would)? (?:say|choose|pick|rate(?: myself)?))"
    r"\s*(?:is|would be|est|ist|es)?\s*[:：=]?\s*(?:a |an )?\**\s*([1-6])(?![\d])"
)
_LIST = re.compile(r"(?m)^\s*[1-6]\s*[=.):-]")
_NUMBER = re.compile(r"(?<![\d.,])(\d+)(?![\d]|[.,]\d)")


def _fold(text: str) -> str:
    """Case, width, accents and the digits of any script folded away."""
    text = unicodedata.normalize("NFKC", text).casefold()
    text = "".join(str(unicodedata.decimal(c)) if c.isdecimal() else c for c in text)
    text = unicodedata.normalize("NFKD", text)
    return "".join(c for c in text if not unicodedata.combining(c))


def _label_hits(text: str, labels: list[tuple[str, int]]) -> list[tuple[int, int]]:
    """(position, rating) of each label; a label inside a longer one found first is not counted
    ('like me' inside 'very much like me')."""
    taken: list[tuple[int, int]] = []
    hits = []
    for label, rating in sorted(labels, key=lambda lr: -len(lr[0])):
        for m in re.finditer(re.escape(label), text):
            if not any(a < m.end() and m.start() < b for a, b in taken):
                taken.append(m.span())
                hits.append((m.start(), rating))
    return hits


def parse_rating(answer: str | None, labels: dict[int, list[str]] | None = None) -> int | None:
    """The rating 1..6 an answer gives, or None when it gives none or several."""
    if not answer or not answer.strip():
        return None
    text = _fold(answer)
    bare = re.sub(r"[\s*_.!。\"'`()\[\]:-]+", "", text)
    for rating, words in WORDS.items():
        if bare in words:
            return rating
    text = _RANGE.sub(" ", text)
    m = _EXPLICIT.search(text)
    if m:
        return int(m.group(1))
    known = [(_fold(lab), i + 1) for scale in LABELS.values() for i, lab in enumerate(scale)]
    for rating, more in (labels or {}).items():
        known += [(_fold(lab), rating) for lab in more if lab and lab.strip()]
    hits = _label_hits(text, known)
    hits += [(m.start(), int(m.group(1))) for m in _NUMBER.finditer(text)]
    hits = sorted((pos, r) for pos, r in hits if 1 <= r <= 6)
    distinct = {r for _, r in hits}
    if not hits or len(distinct) > 2 or len(_LIST.findall(text)) > 1:
        return None  # nothing, or the scale read back
    if bare[:1].isdigit() and 1 <= int(bare[0]) <= 6 and not bare[1:2].isdigit():
        return int(bare[0])  # the answer leads with its number: what follows is explanation
    return hits[0][1] if len(distinct) == 1 else None


# --- scoring ---------------------------------------------------------------------------------

_SCORE_SQL = """
WITH item AS (  -- samples of one item are averaged first: each item weighs the same
    SELECT item_id, avg(rating) AS rating FROM survey_responses
    WHERE instrument = $instrument AND model = $model AND language = $language
      AND rating IS NOT NULL
    GROUP BY item_id),
mrat AS (SELECT avg(rating) AS m FROM item),
keyed AS (
    SELECT k.value_code,
           CASE WHEN k.keyed < 0 THEN 7 - item.rating ELSE item.rating END AS rating
    FROM instrument_items k LEFT JOIN item USING (item_id)
    WHERE k.instrument = $instrument AND k.keyed <> 0)
SELECT $instrument AS instrument, $model AS model, $language AS language, value_code,
       avg(rating) AS raw_mean, avg(rating) - (SELECT m FROM mrat) AS centred,
       count(rating)::INTEGER AS n_items, $run_id AS run_id
FROM keyed GROUP BY value_code ORDER BY value_code
"""


def score(db: Db, instrument: str, model: str, language: str, run_id: str | None = None):
    """(Re)compute and store one respondent's value scores; returns them as a data frame."""
    params = {"instrument": instrument, "model": model, "language": language, "run_id": run_id}
    with store.transaction(db) as con:
        con.execute(
            "DELETE FROM survey_scores WHERE instrument = ? AND model = ? AND language = ?",
            [instrument, model, language],
        )
        con.execute(f"INSERT INTO survey_scores {_SCORE_SQL}", params)
        return con.execute(
            "SELECT value_code, raw_mean, centred, n_items FROM survey_scores"
            " WHERE instrument = ? AND model = ? AND language = ? ORDER BY value_code",
            [instrument, model, language],
        ).df()


def record(db: Db, instrument: str, model: str, language: str, answers, run_id=None) -> int:
    """Store answers [(item_id, sample, raw_answer, request_key)], parsing each one; returns
    how many got a rating. `answers` may carry a 5th element: extra labels for parsing."""
    rows = []
    for item_id, sample, raw, key, *extra in answers:
        rating = parse_rating(raw, extra[0] if extra else None)
        rows.append([instrument, item_id, model, language, sample, raw, rating, key, run_id])
    columns = ["instrument", "item_id", "model", "language", "sample", "raw_answer", "rating"]
    with store.transaction(db) as con:
        instruments.insert_rows(
            con, "survey_responses", [*columns, "request_key", "run_id"], rows, "INSERT OR REPLACE"
        )
    return sum(r[6] is not None for r in rows)


def survey_items(db: Db, instrument: str):
    """The items a survey asks: one row per item with text, in item order."""
    if instrument not in SURVEY_INSTRUMENTS:
        raise UserError(
            f"instrument {instrument!r} has no 6-point portraits; use "
            + " or ".join(SURVEY_INSTRUMENTS)
        )
    df = instruments.items(db, instrument)
    if df["text"].isna().any():
        raise UserError(
            f"{instrument} item text is not imported: run `python -m univar import --format "
            f"{instrument} FILE` first, or survey with {instruments.PORTRAITS}"
        )
    return df.drop_duplicates("item_id").reset_index(drop=True)


def prompt(item: str, instruction: str = PROMPT, cue: str = CUE) -> str:
    return f'{instruction}\n"{item}"\n{cue}'


# --- asking ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class SurveyConfig:
    """One survey job. Like ElicitConfig: everything that changes a reply, and nothing secret."""

    model: str
    languages: tuple[str, ...] = ("eng",)
    instrument: str = instruments.PORTRAITS
    api_base: str | None = None
    samples: int = 1
    temperature: float = 0.7
    top_p: float = 0.95
    max_tokens: int = 32
    concurrency: int = 4
    timeout_s: float = 120.0
    max_retries: int = 4
    translator: str | None = None  # None: the surveyed model translates for itself
    translator_api_base: str | None = None

    def __post_init__(self):
        registry.check_model_string(self.model)
        if self.translator:
            registry.check_model_string(self.translator)
        object.__setattr__(self, "languages", registry.parse_languages(self.languages))
        # GenerationConfig checks the sampling ranges with its usual messages
        GenerationConfig(self.temperature, self.top_p, self.max_tokens)
        if not (1 <= self.samples <= 20 and 1 <= self.concurrency <= 64):
            raise UserError("samples must be in [1, 20] and concurrency in [1, 64]")


class _Asker(CachedAsker):
    """The engine's pieces (cache, one concurrency cap, retries, one writer) and the survey's
    own translation of items and scale."""

    def __init__(self, cfg: SurveyConfig, db: Db, run_id: str, api_key: str | None, policy):
        self.cfg = cfg
        self.translator = translation.translator_of(
            cfg.model, cfg.api_base, cfg.translator, cfg.translator_api_base
        )
        api_keys = {
            m: keyring.request_key(m, base, typed=api_key, policy=policy)
            for m, base in ((self.translator[0], self.translator[1]), (cfg.model, cfg.api_base))
        }
        super().__init__(
            db,
            (cfg.model, self.translator[0]),
            run_id,
            api_keys=api_keys,
            keys=keyring.known_keys() + ([api_key] if api_key else []),
            policy=RetryPolicy(cfg.timeout_s, cfg.max_retries),
            concurrency=cfg.concurrency,
        )

    answered = None  # answered(language, reply or None) after each item, for live progress

    def told(self, language: str, reply) -> None:
        if self.answered is not None:
            self.answered(language, reply)

    async def tr(self, text: str, language: str) -> str | None:
        if language == "eng":
            return text
        reply = await self.ask(translation.request(text, "eng", language, *self.translator))
        return translation.clean(reply.text) if reply.status == "ok" else None

    async def language(self, items, language: str) -> list[tuple]:
        """[(item_id, sample, raw_answer, request_key, labels)] of one language."""
        c = self.cfg
        head = await asyncio.gather(*(self.tr(t, language) for t in (PROMPT, CUE, *SCALE)))
        texts = await asyncio.gather(*(self.tr(t, language) for t in items["text"]))
        labels = {i + 1: [lab] for i, lab in enumerate(head[2:]) if lab}
        params = (("temperature", c.temperature), ("top_p", c.top_p), ("max_tokens", c.max_tokens))

        async def one(item_id, text, sample):
            if text is None or None in head:
                self.told(language, None)
                return (item_id, sample, None, None, labels)  # translation failed: retried later
            msg = prompt(text, head[0], head[1])
            req = Request("survey", c.model, c.api_base, (("user", msg),), params, sample)
            reply = await self.ask(req)
            self.told(language, reply)
            return (item_id, sample, reply.text if reply.status == "ok" else None, req.key, labels)

        jobs = [
            one(i, t, s)
            for i, t in zip(items["item_id"], texts, strict=True)
            for s in range(c.samples)
        ]
        return list(await asyncio.gather(*jobs))


def run(
    cfg: SurveyConfig,
    db: Db = None,
    *,
    api_key: str | None = None,
    progress=None,
    answered=None,
    policy=None,
):
    """Ask, parse, store and score every language of `cfg`; returns the scores of all of them.

    progress(language, answered_items, total_items) is called after each language, and
    answered(language, reply) after each item's reply (None: its translation failed). `api_key`:
    a key typed for these endpoints; `policy` (default: the CLI's): the allowed api_bases and
    where the operator's keys may go."""
    bases = [u for u in dict.fromkeys((cfg.api_base, cfg.translator_api_base)) if u]
    for url in bases:
        check_allowed(url, policy)
    items = survey_items(db, cfg.instrument)
    for url in bases:
        check_reachable(url, policy=policy)
    stored = dataclasses.asdict(cfg)
    for name in ("api_base", "translator_api_base"):
        stored[name] = keyring.redact_url(stored[name])
    with store.connect(db) as con:
        run_id = runs.start_run(con, "survey", stored)
    asker, status, counts = _Asker(cfg, db, run_id, api_key, policy), "failed", {}
    asker.answered = answered

    async def all_languages():
        for language in cfg.languages:
            answers = await asker.language(items, language)
            counts[language] = record(db, cfg.instrument, cfg.model, language, answers, run_id)
            score(db, cfg.instrument, cfg.model, language, run_id)
            if progress:
                progress(language, counts[language], len(answers))

    asker.writer.start()
    try:
        run_blocking(all_languages())
        status = "done"
    finally:
        asker.writer.close()
        with store.connect(db) as con:
            runs.finish_run(con, run_id, status, {"rated": counts, "sent": asker.sent})
    return survey.survey_profile(
        db, [ids.identity(cfg.model, lang) for lang in cfg.languages], cfg.instrument
    )


def survey_profile(db: Db = None, identities=None, instrument: str | None = None):
    """identity, instrument, value_code, value_name, angle, raw_mean, centred, n_items of
    stored surveys, in circle order."""
    identity = ids.identity_sql("s.model", "s.language")
    return store.query_df(
        f"""
        SELECT {identity} AS identity, s.instrument, s.value_code,
               coalesce(d.name, s.value_code) AS value_name, d.angle, s.raw_mean, s.centred,
               s.n_items
        FROM survey_scores s
        LEFT JOIN value_defs d ON d.framework = $fw AND d.code = s.value_code
        WHERE ($instrument IS NULL OR s.instrument = $instrument)
          AND ($ids IS NULL OR {identity} IN (SELECT unnest($ids)))
        ORDER BY identity, s.instrument, d.angle NULLS LAST, s.value_code
        """,
        {"fw": instruments.SCHWARTZ, "instrument": instrument, "ids": _list(identities)},
        path=db,
    )


def _list(values) -> list[str] | None:
    if values is None:
        return None
    return [values] if isinstance(values, str) else list(values)
