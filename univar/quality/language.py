"""Which language a text is in, offline: py3langid, whose model ships inside its wheel (an npz
file, nothing unpickled, nothing downloaded), answering in ISO 639-3 like the rest of univar."""

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
}
_LETTER = re.compile(r"\w", re.UNICODE)


@functools.cache
def _identifier():
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    return LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)


def iso3(code: str) -> str:
    """An identifier's ISO 639-1 code as univar's ISO 639-3 (unknown codes pass through)."""
    return _ISO3.get(code, code)


def detect(text: str | None) -> tuple[str | None, float]:
    """(ISO 639-3 code, probability) of the most likely language; (None, 0.0) for a text with
    no letters to judge."""
    if not text or not _LETTER.search(text):
        return None, 0.0
    code, prob = _identifier().classify(text)
    return iso3(code), float(prob)


def is_english(text: str | None) -> bool:
    """True when the identifier reads `text` as English."""
    return detect(text)[0] == "eng"
