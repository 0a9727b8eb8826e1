"""Which Schwartz basic values a model's answers express: the value-expression scorer.

The scorer (`assets/scorers/value-fulcra-minilm/`, trained by scripts/train_value_scorer.py,
described in docs/value-scorer.md) is, per basic value, a 3-class multinomial logistic
regression on an answer's base all-MiniLM-L6-v2 vector: the answer opposes the value, does not
express it, or supports it. It learnt from Value FULCRA's human labels of English answers of 5
LLMs; its scores are estimates. Weights are plain float32 arrays read with allow_pickle=False.

`value_expression` scores one model$language's QA pairs (those the quality filter lets
through) on their English text, embedded through the embedding cache: a second call embeds
nothing. Unlike the share of QAs per value (`overlays.value_share`, fixed by the questions
asked), this reads what the answers say.

May import: encoders, catalog, store, quality, ids, paths, errors, progress (the analysis
stage's rule). torch loads only when an answer needs embedding, never at import.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from univar import store
from univar.catalog.instruments import ANGLES
from univar.encoders import (
    DEFAULT_ENCODER,
    Encoder,
    LazyEncoder,
    cached_vectors,
    embed_texts,
    text_hash,
    with_text,
)
from univar.errors import UserError
from univar.paths import ASSETS_DIR, Db
from univar.progress import Progress
from univar.quality.filter import QualityFilter

SCORER_NAME = "value-fulcra-minilm"
SCORER_DIR = ASSETS_DIR / "scorers" / SCORER_NAME
WEIGHTS_FILE = "weights.npz"
CARD_FILE = "scorer.json"
CLASSES = ("opposes", "not_expressed", "supports")

# The basic values in circle order, each with the refined values (instruments.PVQ_RR_KEY) it
# spans there: its angle is theirs on average, so it lands where the app's circle has it.
BASIC_VALUES: dict[str, tuple[str, tuple[str, ...]]] = {
    "self-direction": ("Self-direction", ("sdt", "sda")),
    "stimulation": ("Stimulation", ("sti",)),
    "hedonism": ("Hedonism", ("hed",)),
    "achievement": ("Achievement", ("ach",)),
    "power": ("Power", ("pod", "por")),
    "security": ("Security", ("sep", "ses")),
    "tradition": ("Tradition", ("trd",)),
    "conformity": ("Conformity", ("cor", "coi")),
    "humility": ("Humility", ("hum",)),
    "benevolence": ("Benevolence", ("bed", "bec")),
    "universalism": ("Universalism", ("unc", "unn", "unt")),
}
COLUMNS = ("value", "value_name", "angle", "n", "share_supporting", "share_opposing", "net")


def value_angle(value: str) -> float:
    """Degrees of a basic value on the app's Schwartz circle."""
    return round(float(np.mean([ANGLES[c] for c in BASIC_VALUES[value][1]])), 4)


@dataclass(frozen=True, eq=False)
class Scorer:
    """Weights per value and class: coef (values, classes, dim), intercept (values, classes);
    `card`: scorer.json (name, base encoder, held-out figures, limits)."""

    values: tuple[str, ...]
    coef: np.ndarray
    intercept: np.ndarray
    card: dict

    @property
    def dim(self) -> int:
        return int(self.coef.shape[2])

    @property
    def base_encoder(self) -> str:
        return self.card.get("base_encoder", DEFAULT_ENCODER)

    def probabilities(self, vectors) -> np.ndarray:
        """(answers, values, classes) probabilities in CLASSES order; each (answer, value)
        sums to 1."""
        x = np.asarray(vectors, dtype=np.float32)
        if x.ndim != 2 or x.shape[1] != self.dim:
            raise UserError(
                f"the value scorer reads {self.dim}-d vectors of {self.base_encoder}, "
                f"got an array of shape {x.shape}"
            )
        logits = np.einsum("nd,vcd->nvc", x, self.coef) + self.intercept[None]
        logits -= logits.max(axis=2, keepdims=True)  # exp never overflows
        odds = np.exp(logits)
        return odds / odds.sum(axis=2, keepdims=True)

    def held_out(self) -> tuple[float, float]:
        """(macro-F1, majority-class macro-F1) on the held-out Value FULCRA questions."""
        figures = self.card.get("held_out", {})
        return float(figures.get("macro_f1", "nan")), float(figures.get("majority_macro_f1", "nan"))

    def headline(self) -> str:
        """'macro-F1 0.55 vs 0.31 majority': the figure a chart's title quotes."""
        f1, majority = self.held_out()
        return f"macro-F1 {f1:.2f} vs {majority:.2f} majority"


@functools.lru_cache(maxsize=4)
def load_scorer(path: str | Path | None = None) -> Scorer:
    """The shipped scorer (or one in `path`), checked against what scorer.json says."""
    folder = Path(path) if path else SCORER_DIR
    weights, card_file = folder / WEIGHTS_FILE, folder / CARD_FILE
    if not weights.is_file() or not card_file.is_file():
        raise UserError(
            f"no value scorer in {folder}: run python scripts/train_value_scorer.py to train it"
        )
    card = json.loads(card_file.read_text(encoding="utf-8"))
    with np.load(weights, allow_pickle=False) as npz:
        coef = npz["coef"].astype(np.float32)
        intercept = npz["intercept"].astype(np.float32)
        classes = tuple(str(c) for c in npz["classes"])
        values = tuple(str(v) for v in npz["values"])
    n = len(values)
    if (
        classes != CLASSES
        or coef.ndim != 3
        or coef.shape[:2] != (n, len(CLASSES))
        or intercept.shape != (n, len(CLASSES))
        or list(values) != list(card.get("values", values))
        or not set(values) <= set(BASIC_VALUES)
    ):
        raise UserError(f"{weights} does not hold the value scorer that {card_file} describes")
    for array in (coef, intercept):  # one cached scorer serves every caller
        array.setflags(write=False)
    return Scorer(values, coef, intercept, card)


def score(vectors, scorer: Scorer | None = None) -> np.ndarray:
    """(answers, values, classes) probabilities of the shipped scorer; `scorer.values` and
    CLASSES name the axes."""
    return (scorer or load_scorer()).probabilities(vectors)


def answers(db: Db, identity: str, quality: QualityFilter | None = None):
    """One model$language's QA pairs that `quality` lets through (by default: none a check
    flagged), with the text they are embedded as: English where there is a translation.
    An identity without any QA pair here is a UserError."""
    frame = store.query_df(
        "SELECT qa_id, question, answer, question_en, answer_en FROM qa WHERE identity = ?"
        " ORDER BY qa_id",
        [identity],
        path=db,
    )
    if frame.empty:
        raise UserError(f"no QA pairs of {identity!r} in this database (model$language)")
    # the text qa_frame embeds, so the map's cached vectors of a text are these
    return with_text((quality or QualityFilter()).keep(db, frame))


EncoderLoader = Callable[[str], Encoder]


def to_embed(
    db: Db,
    identity: str,
    *,
    quality: QualityFilter | None = None,
    encoder_loader: EncoderLoader = LazyEncoder,
    scorer: Scorer | None = None,
) -> int:
    """How many of the identity's answers still need a vector of the scorer's base encoder:
    0 means `value_expression` is a lookup (no model loads)."""
    scorer = scorer or load_scorer()
    hashes = [text_hash(t) for t in answers(db, identity, quality)["text"]]
    found = cached_vectors(db, encoder_loader(scorer.base_encoder).id, hashes)
    return len({h for h in hashes if h not in found})


def value_expression(
    db: Db,
    identity: str,
    *,
    quality: QualityFilter | None = None,
    progress: Progress | None = None,
    encoder_loader: EncoderLoader = LazyEncoder,
    scorer: Scorer | None = None,
):
    """Per value the scorer knows, in circle order: value, value_name, angle, n (answers
    scored), share_supporting and share_opposing (answers whose likeliest class it is) and
    net, the mean of P(supports) - P(opposes) (from -1 to 1)."""
    import pandas as pd

    scorer = scorer or load_scorer()
    frame = answers(db, identity, quality)
    if len(frame):
        encoder = encoder_loader(scorer.base_encoder)
        vectors = embed_texts(list(frame["text"]), encoder, db, progress=progress)
        probs = scorer.probabilities(vectors)
    else:
        probs = np.zeros((0, len(scorer.values), len(CLASSES)), dtype=np.float32)
    likeliest = probs.argmax(axis=2)
    supports, opposes = CLASSES.index("supports"), CLASSES.index("opposes")
    rows = []
    for j, value in enumerate(scorer.values):
        n = len(frame)
        rows.append(
            {
                "value": value,
                "value_name": BASIC_VALUES[value][0],
                "angle": value_angle(value),
                "n": n,
                "share_supporting": float((likeliest[:, j] == supports).mean()) if n else None,
                "share_opposing": float((likeliest[:, j] == opposes).mean()) if n else None,
                "net": float((probs[:, j, supports] - probs[:, j, opposes]).mean()) if n else None,
            }
        )
    out = pd.DataFrame(rows, columns=list(COLUMNS))
    return out.sort_values("angle", kind="stable").reset_index(drop=True)
