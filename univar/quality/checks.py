"""The rules: what is wrong with one QA pair, each flag with a one-line reason. Pure: no I/O.

A QA pair has `language` (ISO 639-3, the language it was asked in), `question` and `answer` as
asked and answered, and `question_en` / `answer_en`, their English (for English rows, the
question and answer themselves). The flags, in `FLAGS` order:

- empty: the answer has no content (blank, punctuation or special tokens only);
- truncated: answer_en stops far short of the answer it translates;
- not_english: question_en or answer_en is not English (untranslated, partly, another language);
- bad_translation: question_en or answer_en talks about translating, echoes the translation
  prompt, or is far longer than its original (a reply instead of a rendering);
- wrong_language: the answer is not in the language asked (Indonesian and Malay count as one);
- refusal: the model declines to answer or to hold a view;
- echo: the answer mostly repeats the question without adding content of its own;
- degenerate: repetition loops, chat-template or special tokens leaking, role words glued to
  text (Gemma's `mendatangusermodel`), or fragments of scripts foreign to the answer.
- too_short: the English answer has fewer than three words ("Yes.", "True"): too little to
  tell its language or much of a view.

Every rule is tuned for precision: a pair flagged wrongly is left out of maps, which biases
them too, so a rule fires only on what it can see plainly. A text too short to judge passes.
"""

from __future__ import annotations

import functools
import re
import zlib
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field

from univar.catalog import registry
from univar.quality.language import detect

# Bump with every change to the rules below: stored verdicts of other versions are then re-run.
CHECKER_VERSION = "2"

FLAGS: tuple[str, ...] = (
    "empty",
    "truncated",
    "not_english",
    "bad_translation",
    "wrong_language",
    "refusal",
    "echo",
    "degenerate",
    "too_short",
)
FIELDS = ("question", "answer", "question_en", "answer_en")
SAME_LANGUAGE = {"zsm": "ind"}  # Malay and Indonesian are one language for these checks

_NAMES = {
    "eng": "English",
    "zho": "Chinese",
    "kor": "Korean",
    "jpn": "Japanese",
    "deu": "German",
    "fin": "Finnish",
    "swe": "Swedish",
    "fra": "French",
    "ita": "Italian",
    "por": "Portuguese",
    "spa": "Spanish",
    "tha": "Thai",
    "vie": "Vietnamese",
    "zsm": "Malay",
    "tgl": "Tagalog",
    "hat": "Haitian Creole",
    "quy": "Quechua",
    "rus": "Russian",
    "ron": "Romanian",
    "bul": "Bulgarian",
    "ind": "Indonesian",
    "arb": "Arabic",
    "hin": "Hindi",
    "swh": "Swahili",
    "pes": "Persian",
    "nld": "Dutch",
    "dan": "Danish",
    "nor": "Norwegian",
    "cat": "Catalan",
    "glg": "Galician",
    "est": "Estonian",
    "ukr": "Ukrainian",
    "mkd": "Macedonian",
    "srp": "Serbian",
    "bel": "Belarusian",
    "pol": "Polish",
    "ces": "Czech",
    "tur": "Turkish",
    "urd": "Urdu",
    "mar": "Marathi",
    "nep": "Nepali",
}


@dataclass(frozen=True)
class CheckResult:
    """What the checker found in one QA pair."""

    flags: tuple[str, ...] = ()  # in FLAGS order; empty: the pair passes
    reasons: Mapping[str, str] = field(default_factory=dict)  # flag -> one-line reason
    langs: Mapping[str, str | None] = field(default_factory=dict)  # field -> ISO 639-3 | None

    @property
    def passed(self) -> bool:
        return not self.flags


# --- text helpers --------------------------------------------------------------------------

_SPECIAL = re.compile(
    r"<\|[a-z_]{2,30}\|>|<(?:start|end)_of_turn>|</?(?:eos|bos|pad|unk|s)>|\[/?INST\]|<</?SYS>>",
    re.IGNORECASE,
)
# Gemma's turn markup with its special tokens dropped: a role word glued to the last word of a
# line ("mendatangusermodel", "davranışmodel"); the lowercase role after a letter, at a line end
_GLUED_ROLE = re.compile(r"(\S*?[^\W\d_])((?:user|model)+)(?=\s*?(?:\n|$))")
_GLUED_OK = {  # English words that end in a role word (a line may end in "an abuser")
    "remodel",
    "supermodel",
    "submodel",
    "premodel",
    "multimodel",
    "multiuser",
    "superuser",
    "enduser",
    "nonuser",
    "poweruser",
    "datamodel",
    "metamodel",
    "abuser",
    "accuser",
    "amuser",
    "bemuser",
    "excuser",
    "misuser",
    "peruser",
    "refuser",
    "reuser",
}
_GEMMA_FRAGMENT = re.compile(r"mendatang(?:user|model|odel)")
# words Gemma-3 leaks at its turn boundary in answers of every language (Indonesian "coming",
# Turkish "behaviour"): a sign of the template, not of the answer's language
_GEMMA_WORDS = {"mendatang": {"ind", "zsm"}, "davranış": set()}
_GEMMA_WORD = re.compile(r"(?<![^\W\d_])(mendatang|davranış)(?![^\W\d_])", re.IGNORECASE)
_LETTER = re.compile(r"[^\W\d_]")
_NON_LETTERS = re.compile(r"[\W\d_]+")
_CONTENT = re.compile(r"[^\W_]")  # a letter or a digit

_SCRIPTS = {
    "Latin": "A-Za-z\u00c0-\u024f\u1e00-\u1eff",
    "Cyrillic": "\u0400-\u04ff",
    "Greek": "\u0370-\u03ff",
    "Arabic": "\u0600-\u06ff\u0750-\u077f\ufb50-\ufdff\ufe70-\ufeff",
    "Devanagari": "\u0900-\u097f",
    "Thai": "\u0e00-\u0e7f",
    "Hangul": "\uac00-\ud7af\u1100-\u11ff\u3130-\u318f",
    "Kana": "\u3040-\u30ff",
    "Han": "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff",
    "Hebrew": "\u0590-\u05ff",
}
_SCRIPT_RE = {name: re.compile(f"[{chars}]+") for name, chars in _SCRIPTS.items()}
_NATIVE = {  # scripts a language is written in (Latin is allowed everywhere: names, code)
    "zho": {"Han"},
    "jpn": {"Han", "Kana"},
    "kor": {"Hangul", "Han"},
    "tha": {"Thai"},
    "rus": {"Cyrillic"},
    "bul": {"Cyrillic"},
    "arb": {"Arabic"},
    "pes": {"Arabic"},
    "hin": {"Devanagari"},
}
# Above this many bytes, a repetition loop compresses to under this share of its size (seen:
# real loops 0.03-0.13, the most repetitive real list answer 0.23)
_LONG_ANSWER = 600
_LOOP_COMPRESSION = 0.18
_SHORT_FRAGMENT = 12  # letters: a foreign line or a glued run longer than this may be a quote
# scripts that are written together: a word mixing them is one language's word
_FAMILY = {"Kana": {"Kana", "Han"}, "Han": {"Han", "Kana", "Hangul"}, "Hangul": {"Hangul", "Han"}}
# letters of English per character of these scripts: a faithful translation of 100 Chinese
# characters runs to about 250-350 English letters
_LETTERS_PER_CHAR = {"Han": 2.5, "Kana": 1.5, "Hangul": 2.0, "Thai": 0.8}

_SEGMENT = re.compile(r"(?<=[.!?。！？])\s+|\n+|(?<=[。！？])")
_QUOTED = re.compile(r"\"[^\"\n]{1,200}\"|“[^”\n]{1,200}”|«[^»\n]{1,200}»|「[^」\n]{1,200}」")


def _same(lang: str | None) -> str | None:
    return SAME_LANGUAGE.get(lang, lang)


def name(lang: str | None) -> str:
    """A language's English name for a reason line ('French'), else its code."""
    return _NAMES.get(lang or "", lang or "unknown")


def _excerpt(text: str, limit: int = 40) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


@functools.lru_cache(maxsize=32768)
def _scripts(text: str) -> Counter:
    """Letters per script."""
    out = Counter()
    for script, pattern in _SCRIPT_RE.items():
        n = sum(map(len, pattern.findall(text)))
        if n:
            out[script] = n
    return out


def _segments(text: str) -> list[str]:
    return [s for s in _SEGMENT.split(text) if s and s.strip()]


def _count_letters(text: str) -> int:
    return len(_NON_LETTERS.sub("", text))


@functools.lru_cache(maxsize=32768)
def language_shares(text: str, min_letters: int = 12) -> tuple[Counter, int]:
    """(letters per detected language over the text's sentences and lines, letters judged).
    A sentence too short to judge counts for nobody."""
    shares, judged = Counter(), 0
    for segment in _segments(text):
        n = _count_letters(segment)
        if n < min_letters:
            continue
        lang = detect(segment)[0]
        if lang is None:
            continue
        shares[lang] += n
        judged += n
    return shares, judged


def language_of(text: str) -> str | None:
    """The language most of a text is in: by its sentences where they can be judged, else
    the text as a whole (what qa_quality stores per field)."""
    shares, judged = language_shares(text)
    if judged >= 20:
        return shares.most_common(1)[0][0]
    return detect(text)[0]


def _weight(text: str) -> float:
    """A text's length in English letters it would take (see _LETTERS_PER_CHAR)."""
    scripts = _scripts(text)
    total = _count_letters(text)
    wide = sum(scripts[s] for s in _LETTERS_PER_CHAR)
    return total - wide + sum(scripts[s] * k for s, k in _LETTERS_PER_CHAR.items())


# one token per character of the scripts written without spaces, else one per word
_TOKEN = re.compile(
    r"[\u0e00-\u0e7f\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]|"
    r"[^\W\d_\u0e00-\u0e7f\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+"
)


@functools.lru_cache(maxsize=32768)
def _tokens(text: str) -> tuple[str, ...]:
    """Words, lowercased; characters for scripts written without spaces."""
    return tuple(_TOKEN.findall(text.lower()))


def _bigrams(tokens: tuple[str, ...]) -> list[tuple[str, str]]:
    return list(zip(tokens, tokens[1:], strict=False))


# --- the rules -----------------------------------------------------------------------------


def _empty(answer: str) -> str | None:
    if _CONTENT.search(_SPECIAL.sub(" ", answer)):
        return None
    if not answer.strip():
        return "the answer is blank"
    return f"the answer holds no words: {_excerpt(answer)!r}"


def _degenerate(answer: str, language: str) -> str | None:
    special = _SPECIAL.search(answer)
    if special:
        return f"special token {special.group(0)!r} leaked into the answer"
    gemma = _GEMMA_FRAGMENT.search(answer)
    if gemma:
        return f"chat-template role word glued to text: {gemma.group(0)!r}"
    for m in _GEMMA_WORD.finditer(answer):
        if _same(language) not in _GEMMA_WORDS[m.group(1).lower()]:
            return f"a word Gemma leaks at its turn boundary: {m.group(1)!r}"
    for m in _GLUED_ROLE.finditer(answer):
        word = (m.group(1) + m.group(2)).lower()
        stem = m.group(1).lower()
        if word in _GLUED_OK or len(stem) < 2:
            continue
        # a camelCase or snake_case identifier in code is not a leak
        if m.group(1)[-1:].isupper() or "_" in m.group(1):
            continue
        return f"chat-template role word glued to text: {_excerpt(word)!r}"
    loop = _repetition(answer)
    if loop:
        return loop
    return _foreign_scripts(answer, language)


def _repetition(answer: str) -> str | None:
    lines = [" ".join(s.split()).lower() for s in _segments(answer)]
    lines = [s for s in lines if _count_letters(s) >= 3]
    if len(lines) >= 3:
        line, n = Counter(lines).most_common(1)[0]
        if n >= 3 and n * 2 >= len(lines):
            return f"the same line {n} times: {_excerpt(line)!r}"
    tokens = _tokens(answer)
    if len(tokens) < 16:
        return None
    grams = list(zip(tokens, tokens[1:], tokens[2:], strict=False))
    gram, n = Counter(grams).most_common(1)[0]
    if n < 4 or len(set(grams)) / len(grams) >= 0.5:
        return None
    # a long list in parallel phrasing repeats phrases too; a loop is far more redundant
    raw = answer.encode("utf-8")
    if len(raw) >= _LONG_ANSWER and len(zlib.compress(raw, 6)) / len(raw) > _LOOP_COMPRESSION:
        return None
    return f"a phrase repeated {n} times: {_excerpt(' '.join(gram))!r}"


def _foreign_scripts(answer: str, language: str) -> str | None:
    """Fragments of scripts the answer's language does not use, glued to other letters, on a
    line of their own, or from several scripts at once: a quoted word of another language
    inside a sentence is fine, a soup is not."""
    allowed = {"Latin"} | _NATIVE.get(language, set())
    scripts = _scripts(answer)
    foreign = [s for s in scripts if s not in allowed]
    if not foreign:
        return None
    # Japanese writes kana with Han characters, Korean may write Han with Hangul: one each
    groups = {s for s in foreign if s != "Han"}
    if "Han" in foreign and not groups & {"Kana", "Hangul"}:
        groups.add("Han")
    if len(groups) >= 2:
        return f"fragments of {', '.join(sorted(foreign))} in a {name(language)} answer"
    total = _count_letters(answer)
    for script in foreign:
        pattern = _SCRIPT_RE[script]
        family = _FAMILY.get(script, {script})
        if sum(scripts.get(f, 0) for f in family) * 2 > total:
            continue  # most of the answer: another language (wrong_language), not fragments
        for line in answer.splitlines():
            if not pattern.search(line):
                continue
            for word in line.split():
                runs = pattern.findall(word)
                rest = word
                for other in family:
                    rest = _SCRIPT_RE[other].sub("", rest)
                if runs and _LETTER.search(rest) and max(map(len, runs)) <= _SHORT_FRAGMENT // 2:
                    return f"{script} glued to other letters: {_excerpt(word)!r}"
            own = sum(_scripts(line).get(f, 0) for f in family)
            if own == _count_letters(line) and own <= _SHORT_FRAGMENT:
                return f"a line of {script} in a {name(language)} answer: {_excerpt(line)!r}"
    return None


def _wrong_language(answer: str, language: str) -> tuple[str | None, str | None]:
    """(reason, the language read) when the answer is mostly not in `language`."""
    expected = _same(language)
    raw, judged = language_shares(answer)
    shares = Counter()
    for lang, n in raw.items():
        shares[_same(lang)] += n
    if judged < 20:
        return None, None
    top, n = shares.most_common(1)[0]
    own = shares.get(expected, 0)
    if own * 2 >= judged or top == expected:
        return None, None
    if n / judged < 0.6:  # no clear other language: garbled text, not a wrong one
        return None, None
    # Latin-script guesses between neighbours of a garbled answer are weak evidence; English,
    # or another script than the asked language's, is plain to see
    own_scripts = _NATIVE.get(language, {"Latin"})
    read_scripts = _NATIVE.get(top, {"Latin"})
    if top != "eng" and own_scripts & read_scripts and n < 60:
        return None, None
    return f"asked in {name(language)}, answered in {name(top)} ({n / judged:.0%} of it)", top


def _english_text(text: str) -> str:
    """The text without its quoted passages (a foreign phrase quoted in English is English),
    unless nothing else is left."""
    rest = _QUOTED.sub(" ", text)
    return rest if _count_letters(rest) >= 20 else text


def _not_english(text: str, field_name: str) -> str | None:
    text = _english_text(text)
    shares, judged = language_shares(text)
    if judged < 20:
        lang, prob = detect(text)
        n = _count_letters(text)
        if lang is not None and lang != "eng" and prob >= 0.9 and n >= 12:
            return f"{field_name} reads as {name(lang)}: {_excerpt(text)!r}"
        scripts = _scripts(text)
        wide = sum(v for s, v in scripts.items() if s != "Latin")
        if n >= 4 and wide * 2 > n:
            return f"{field_name} is written in {scripts.most_common(1)[0][0]} script"
        return None
    english = shares.get("eng", 0)
    other = judged - english
    top = next((lang for lang, _ in shares.most_common() if lang != "eng"), None)
    if english * 2 < judged:
        return f"{field_name} reads as {name(top)} ({other / judged:.0%} of its letters)"
    if other >= 40 and other * 4 >= judged:
        return f"{field_name} is partly {name(top)} ({other / judged:.0%} of its letters)"
    return None


# talk about translating, in English: what a translator adds when it comments instead
_META = re.compile(
    r"\btranslat(?:es|ed|ing) (?:to|as|into)\b|\b(?:the|a|this|my|an|english|literal) "
    r"translation\b|\btranslation(?: is)?:|\bin english,? (?:this|it|the|that)\b|"
    r"\bthe original (?:text|sentence|phrase|question)\b|"
    r"\b(?:the|this) (?:[A-Z][a-z]+ )?(?:phrase|sentence|text|word|expression) "
    r"(?:means|translates|is a|can be translated)\b",
    re.IGNORECASE,
)
_PROMPT_ECHO = re.compile(
    r"translate the following text|reply with the translation only|translate this \w+ text "
    r"into|write only the \w+ translation|rewrite the following \w+ text in|do not copy it, "
    r"do not answer it",
    re.IGNORECASE,
)
# "translate" in the languages answers come in: an original that itself talks about
# translating is rendered faithfully by a translation that does too
_TRANSLATE_WORD = re.compile(
    r"translat|tradu|übersetz|uebersetz|terjemah|翻译|翻譯|譯|翻訳|번역|перев|прев|"
    r"traducere|kään|översätt|dịch|แปล|salin|tradiksyon|tafsiri|ترجم|अनुवाद",
    re.IGNORECASE,
)


# The prompt's own "Indonesian:" / "English:" labels left in a reply: the translator continued
# the prompt instead of translating (or translated only the label)
_LABEL = re.compile(
    r"(?m)^\s*[\"“]?(?:in )?(?:"
    + "|".join(sorted({lang.name.split(" (")[0] for lang in registry.LANGUAGES}))
    + r")\s*:|\bin english\s*:|\bis not in english\b",
    re.IGNORECASE,
)
# Fewer English words than this say too little to tell their language (short texts fool every
# identifier) or much of a view: "Yes.", "True", "It's important."
_MIN_WORDS = 3


def _too_short(english: str) -> str | None:
    words = len(re.findall(r"[^\W\d_]+", english))
    if 0 < words < _MIN_WORDS:
        return f"the English answer has {words} word{'s' * (words > 1)}: {_excerpt(english)!r}"
    return None


def _bad_translation(original: str, english: str, field_name: str) -> str | None:
    label = _LABEL.search(english)
    if label and not _LABEL.search(original):
        return f"{field_name} keeps the prompt's language label: {_excerpt(label.group(0))!r}"
    echoed = _PROMPT_ECHO.search(english)
    if echoed and not _PROMPT_ECHO.search(original):
        return f"{field_name} echoes the translation prompt: {_excerpt(echoed.group(0))!r}"
    meta = _META.search(english)
    if meta and not _TRANSLATE_WORD.search(original) and not _META.search(original):
        return f"{field_name} comments on translating: {_excerpt(meta.group(0))!r}"
    source, target = _weight(original), _count_letters(english)
    if source >= 20 and target > 3 * source + 60:
        return (
            f"{field_name} is {target / source:.1f}x as long as its original: a reply, not "
            "a translation"
        )
    return None


def _truncated(answer: str, answer_en: str) -> str | None:
    source = _weight(answer)
    if source < 60:
        return None
    target = _weight(answer_en)
    if target == 0:
        return "answer_en is empty where the answer is not"
    ratio = target / source
    if ratio < 0.3:
        return f"answer_en covers about {ratio:.0%} of the answer's length"
    return None


_AI = (
    r"(?:an? )?(?:ai|artificial intelligence|language model|large language model|"
    r"ai language model|ai assistant|assistant|chatbot)"
)
_OPINIONS = (
    r"(?:personal |my own |any )?(?:opinions?|views?|beliefs?|preferences?|feelings?|emotions?|"
    r"thoughts|personal experiences?|stance|position|values)"
)
_DECLINED = (
    r"(?:answer|provide|fulfill|fulfil|comply|assist|help with|engage|create|write|generate|"
    r"give you|share|express|offer|respond|endorse|take sides|take a position|judge|choose)"
)
_REFUSAL = re.compile(
    # "As an AI, I don't have opinions"; "As a language model, I cannot provide ..."
    rf"\bas {_AI}\b[^.!?\n]{{0,60}}?\b(?:i|we) (?:don't|do not) (?:have|hold) {_OPINIONS}|"
    rf"\bas {_AI}\b[^.!?\n]{{0,60}}?\b(?:i|we) (?:have no|lack) {_OPINIONS}|"
    rf"\bas {_AI}\b[^.!?\n]{{0,60}}?\b(?:i|we) (?:cannot|can't|can not|am unable to|"
    rf"am not able to|will not|won't) {_DECLINED}|"
    rf"\bi(?:'m| am) (?:just |only |merely )?{_AI}\b[^.!?\n]{{0,60}}?\b(?:don't|do not|cannot|"
    r"can't|am not able|am unable)|"
    rf"\bi (?:don't|do not) (?:have|hold) {_OPINIONS}\b|"
    rf"\bi (?:cannot|can't|can not|am unable to|am not able to|won't|will not) {_DECLINED}\b|"
    r"\bi(?:'m| am) (?:sorry|afraid),? but i (?:cannot|can't|can not|won't|am unable|"
    r"am not able|must decline)\b|"
    r"\bi must (?:respectfully )?decline\b|\bi(?:'m| am) not (?:able|allowed|comfortable|"
    r"programmed) to (?:answer|provide|share|express|give|discuss|help)\b|"
    r"\bit(?:'s| is) not (?:within my programming|appropriate for me)\b|"
    r"\bit(?:'s| is) not appropriate to (?:make generali[sz]ations|generali[sz]e|stereotype|"
    r"answer|speculate|single out)\b",
    re.IGNORECASE,
)
# "As an AI I have no opinions. However, here is what people weigh: ..." answers after all
_PIVOT = re.compile(
    r"\b(?:however|but|that said|that being said|nevertheless|nonetheless|instead|here are|"
    r"here is|here's|i can (?:provide|offer|share|give|tell))\b",
    re.IGNORECASE,
)
_REFUSAL_WINDOW = 300  # characters: a refusal opens the answer, it is not buried in it
_PIVOT_WINDOW = 150  # the pivot follows the disclaimer closely
_ANSWER_AFTER = 150  # characters of content after the pivot that make it an answer


def _refusal(texts: list[str]) -> str | None:
    for text in texts:
        # a quoted "I can't ..." is somebody else's line, not the model declining
        flat = " ".join(_QUOTED.sub(" ", text).split())
        m = _REFUSAL.search(flat[:_REFUSAL_WINDOW])
        if not m:
            continue
        pivot = _PIVOT.search(flat, m.end(), m.end() + _PIVOT_WINDOW)
        if pivot and len(flat) - pivot.end() >= _ANSWER_AFTER:
            continue  # a disclaimer, then an answer
        return f"declines: {_excerpt(m.group(0), 60)!r}"
    return None


# An answer that opens with yes or no has answered; one that fills the blank of a wh-question
# ("Who is kinder?" - "Women are kinder") has too, however many of its words it shares
_ANSWERED = re.compile(
    r"^\W*(?:yes|no|yeah|nope|not really|oui|non|sí|si|ja|nein|sim|não|ya|tidak|bukan|"
    r"是的|不是|对|不)\b",
    re.IGNORECASE,
)
_WH = {"who", "whom", "whose", "which", "what", "where", "when", "why", "how"}


def _echo(question: str, answer: str) -> str | None:
    q, a = _tokens(question), _tokens(answer)
    if len(a) < 3 or len(q) < 3:
        return None
    q_grams = set(_bigrams(q))
    a_grams = _bigrams(a)
    if not a_grams:
        return None
    covered = sum(g in q_grams for g in a_grams) / len(a_grams)
    if covered < 0.6:
        return None
    q_words = set(q)
    novel = [t for t in a if t not in q_words]
    # mostly the question's own word pairs, and little that is new
    if len(novel) > max(6, 0.25 * len(a)):
        return None
    if _ANSWERED.match(answer) or (novel and _WH & set(q[:3])):
        return None
    return f"the answer repeats the question ({covered:.0%} of its word pairs)"


# --- one pair, many pairs ------------------------------------------------------------------


def _text(value) -> str:
    return value if isinstance(value, str) else ""


def check_pair(
    language: str,
    question: str | None,
    answer: str | None,
    question_en: str | None = None,
    answer_en: str | None = None,
) -> CheckResult:
    """Every rule on one QA pair. For English rows, question_en and answer_en default to the
    question and answer (as the `qa` view gives them)."""
    language = (language or "").strip().lower()
    question, answer = _text(question), _text(answer)
    english_row = language == "eng"
    question_en = _text(question_en) or (question if english_row else "")
    answer_en = _text(answer_en) or (answer if english_row else "")
    texts = {
        "question": question,
        "answer": answer,
        "question_en": question_en,
        "answer_en": answer_en,
    }
    langs = {f: language_of(_SPECIAL.sub(" ", t)) for f, t in texts.items()}
    reasons: dict[str, str] = {}

    empty = _empty(answer)
    if empty:
        reasons["empty"] = empty
    # translations are judged only where there is one: an English row's fields are originals
    translated = {
        f: (texts[f.removesuffix("_en")], texts[f])
        for f in ("question_en", "answer_en")
        if not english_row and texts[f].strip()
    }
    if not empty and "answer_en" in translated and answer_en.strip() != answer.strip():
        why = _truncated(_SPECIAL.sub(" ", answer), answer_en)
        if why:
            reasons["truncated"] = why
    elif not empty and not english_row and not answer_en.strip():
        why = _truncated(_SPECIAL.sub(" ", answer), "")
        if why:
            reasons["truncated"] = why
    for f, (_, english) in translated.items():
        if f == "answer_en" and empty:
            continue
        why = _not_english(english, f)
        if why:
            reasons.setdefault("not_english", why)
    for f, (original, english) in translated.items():
        if f == "answer_en" and empty:
            continue
        why = _bad_translation(original, english, f)
        if why:
            reasons.setdefault("bad_translation", why)
    if not empty:
        clean = _SPECIAL.sub(" ", answer)
        why, _ = _wrong_language(clean, language)
        if why:
            reasons["wrong_language"] = why
        english_answers = [answer] + ([answer_en] if answer_en and answer_en != answer else [])
        why = _refusal(english_answers)
        if why:
            reasons["refusal"] = why
        why = _echo(question, clean)
        if why is None and not english_row and question_en and answer_en:
            why = _echo(question_en, answer_en)
        if why:
            reasons["echo"] = why
        why = _degenerate(answer, language)
        if why:
            reasons["degenerate"] = why
        why = _too_short(answer if english_row else (answer_en or ""))
        if why:
            reasons["too_short"] = why
    flags = tuple(f for f in FLAGS if f in reasons)
    return CheckResult(flags, {f: reasons[f] for f in flags}, langs)


def check_rows(frame) -> list[CheckResult]:
    """check_pair for every row of a frame with columns language, question, answer, question_en
    and answer_en (the `qa` view's), in order."""
    columns = [frame[c].tolist() for c in ("language", *FIELDS)]
    return [check_pair(*row) for row in zip(*columns, strict=True)]
