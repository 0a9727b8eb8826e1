"""Training data: the Value FULCRA importer, the held-out split rule and the multi-view sampler.

A *view* is 1..lambda QA texts of one identity (`model$language`) joined by newlines; a step
draws two views for each identity it picks. The split rule is a hash of (seed, key), so a QA
or question is held out the same way whichever datasets are loaded beside it: a trained
encoder and the evaluation agree on its held-out questions without sharing any state.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from univar import store
from univar.errors import UserError

SPLITS = ("random", "question")
VALUE_FULCRA_SOURCE = "microsoft/ValueCompass Value_FULCRA/data/trustworthy_data.jsonl (MIT)"


def _hash(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()


# --- import ----------------------------------------------------------------------------------


def parse_value_fulcra_line(line: str, lineno: int) -> tuple[str, str, str]:
    """(model, question, answer) of one JSONL line, or a UserError naming the line."""
    try:
        row = json.loads(line)
        dialogue, model = row["dialogue"], row["response_source"]
    except (ValueError, KeyError, TypeError) as exc:
        raise UserError(f"line {lineno}: not a Value FULCRA record ({exc})") from exc
    if not (isinstance(dialogue, str) and dialogue.startswith("Human: ") and "\nBob:" in dialogue):
        raise UserError(f"line {lineno}: dialogue is not 'Human: ...\\nBob: ...'")
    question, answer = dialogue[len("Human: ") :].split("\nBob:", 1)
    if not (isinstance(model, str) and model.strip()):
        raise UserError(f"line {lineno}: response_source is empty")
    return model.strip(), question.strip(), answer.strip()


def load_value_fulcra(path, db=None, dataset: str = "value_fulcra") -> int:
    """Import Value FULCRA dialogues as English QA pairs; returns rows imported (idempotent)."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path} does not exist")
    rows = []
    with open(path, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if line.strip():
                rows.append(parse_value_fulcra_line(line, lineno))
    if not rows:
        raise UserError(f"{path} holds no records")
    questions, pairs, seen = {}, [], set()
    for model, question, answer in rows:
        qid = "vf-" + _hash(question)[:16]
        questions[qid] = question
        sample = 0
        while (model, qid, sample) in seen:  # one model answering one question twice
            sample += 1
        seen.add((model, qid, sample))
        qa_id = _hash(dataset, model, "eng", qid, str(sample))[:32]
        pairs.append((qa_id, dataset, model, "eng", qid, sample, question, answer))
    import pandas as pd

    provenance = json.dumps({"source": VALUE_FULCRA_SOURCE, "file": path.name})
    new_questions = pd.DataFrame(
        {"question_id": list(questions), "question": list(questions.values()), "source": dataset}
    )
    columns = ["qa_id", "dataset", "model", "language", "question_id", "sample", "question"]
    new_pairs = pd.DataFrame(pairs, columns=[*columns, "answer"])
    # one set-based statement per table: row-by-row executemany is ~100x slower in DuckDB
    with store.transaction(db) as con:
        con.execute(
            "INSERT OR REPLACE INTO datasets (dataset, kind, description, provenance) "
            "VALUES (?, 'import', ?, ?)",
            [dataset, "Value FULCRA: real answers of 5 LLMs to value-laden prompts", provenance],
        )
        con.register("new_questions", new_questions)
        con.execute(
            "INSERT OR IGNORE INTO questions (question_id, question, source) "
            "SELECT question_id, question, source FROM new_questions"
        )
        con.register("new_pairs", new_pairs)
        con.execute(
            "INSERT OR REPLACE INTO qa_pairs (qa_id, dataset, model, language, question_id, "
            "sample, question, answer) SELECT * FROM new_pairs"
        )
    return len(pairs)


def dataset_sizes(db=None) -> dict[str, int]:
    """Usable QA pairs per dataset."""
    with store.connect(db) as con:
        rows = con.execute(
            "SELECT dataset, count(*) FROM qa GROUP BY dataset ORDER BY dataset"
        ).fetchall()
    return {name: int(n) for name, n in rows}


# --- the split -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Split:
    """Which QAs are held out: per QA ('random') or per question ('question'), by hash."""

    kind: str = "question"
    holdout_fraction: float = 0.2
    seed: int = 0

    def __post_init__(self):
        if self.kind not in SPLITS:
            raise UserError(f"split must be random or question, got {self.kind!r}")
        if not 0.0 < self.holdout_fraction < 1.0:
            raise UserError(f"holdout fraction must be in (0, 1), got {self.holdout_fraction}")

    def test_mask(self, frame) -> np.ndarray:
        """True for the held-out rows of a QA frame (columns qa_id, question_id, question_en)."""
        if self.kind == "question":
            # rows without a question_id still group by their English question text
            keys = [
                str(qid) if isinstance(qid, str) and qid else "text:" + str(q)
                for qid, q in zip(frame["question_id"], frame["question_en"], strict=True)
            ]
        else:
            keys = [str(k) for k in frame["qa_id"]]
        cut = self.holdout_fraction * 2**32
        return np.array([int(_hash(str(self.seed), k)[:8], 16) < cut for k in keys], dtype=bool)


# --- the multi-view sampler -------------------------------------------------------------------


class ViewSampler:
    """Draws batches of views: `pairs` identities per step, two views of 1..lambda QAs each.

    Identities are picked without replacement while there are enough of them, so a step holds
    one view pair per identity (the paper's setting); with fewer identities than pairs they
    repeat, and the loss masks same-identity views out of the negatives.
    """

    def __init__(self, identities: Sequence[str], lam: int, seed: int = 0):
        if lam < 1:
            raise UserError(f"lambda must be at least 1, got {lam}")
        labels, codes = np.unique(np.asarray(identities, dtype=object), return_inverse=True)
        if len(labels) < 2:
            raise UserError(f"training needs QAs of at least 2 identities, got {len(labels)}")
        self.labels = list(labels)
        self.members = [np.flatnonzero(codes == i) for i in range(len(labels))]
        self.lam = lam
        self.seed = seed

    def batch(self, step: int, pairs: int, rank: int = 0) -> tuple[list[np.ndarray], np.ndarray]:
        """Views (arrays of row indices) and their identity codes; a pure function of the step."""
        rng = np.random.default_rng([self.seed, step, rank])
        n = len(self.members)
        ids = np.concatenate([rng.permutation(n) for _ in range(-(-pairs // n))])[:pairs]
        views, labels = [], []
        for ident in ids:
            rows = self.members[ident]
            for _ in range(2):
                size = min(int(rng.integers(1, self.lam + 1)), len(rows))
                views.append(rng.choice(rows, size=size, replace=False))
                labels.append(ident)
        return views, np.asarray(labels)

    def steps_per_epoch(self, n_rows: int, pairs: int) -> int:
        return steps_per_epoch(n_rows, pairs, self.lam)


def steps_per_epoch(n_rows: int, pairs: int, lam: int) -> int:
    """Steps that draw about every QA once: rows / (views per step x mean view size)."""
    return max(1, round(n_rows / (2 * pairs * (1 + lam) / 2)))


def join_view(texts: Sequence[str], rows: np.ndarray) -> str:
    return "\n".join(texts[i] for i in rows)
