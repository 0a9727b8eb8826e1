"""Every id in the store, built and parsed here: qa_id, question ids and `model$language`.

An identity joins a model string and an ISO 639-3 code with `$`; model strings never hold `$`
(validation refuses them), so the last `$` splits it. A qa_id hashes (dataset, model, language,
question_id, sample): elicitation, imports and the demo agree on it, so a rerun finds its rows.
Imports only `univar.config`.
"""

from __future__ import annotations

import hashlib

from univar.config import stable_hash

SEP = "$"


def identity(model: str, language: str) -> str:
    return f"{model}{SEP}{language}"


def parse_identity(text: str) -> tuple[str, str]:
    """(model, language) of `model$language`; a text without `$` is a model with no language."""
    model, sep, language = text.rpartition(SEP)
    return (model, language) if sep else (text, "")


def identity_model(text: str) -> str:
    return parse_identity(text)[0]


def identity_language(text: str) -> str:
    return parse_identity(text)[1]


def identity_sql(model: str = "model", language: str = "language") -> str:
    """The SQL expression of an identity over two columns (names are ours, never user input)."""
    return f"{model} || '{SEP}' || {language}"


def qa_id(dataset: str, model: str, language: str, question_id: str, sample: int) -> str:
    return stable_hash([dataset, model, language, question_id, sample], 32)


def digest(*parts: str) -> str:
    """Full sha256 hex of text parts joined by a unit separator (no join is ambiguous)."""
    return hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()


def text_question_id(text: str) -> str:
    """The id of a question that came without one: `q-` and a hash of its English text."""
    return "q-" + hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]


def value_fulcra_question_id(question: str) -> str:
    return "vf-" + digest(question)[:16]


def value_fulcra_qa_id(dataset: str, model: str, question_id: str, sample: int) -> str:
    """Value FULCRA rows (English only) keep the ids they were first imported with."""
    return digest(dataset, model, "eng", question_id, str(sample))[:32]


def item_id(number: int) -> str:
    """An instrument item's id: its number, two digits."""
    return f"{number:02d}"


def instrument_question_id(instrument: str, item: str) -> str:
    return f"{instrument}.{item}"
