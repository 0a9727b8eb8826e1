"""The Value FULCRA reader: real answers of several LLMs to value questions (JSONL), into the store.

Each line is one (model, question, answer); all are English. Rows keep the ids they were first
imported with, so a re-import adds nothing twice.
"""

from __future__ import annotations

import json
from pathlib import Path

from univar import ids, store
from univar.errors import UserError
from univar.paths import Db

VALUE_FULCRA_SOURCE = "microsoft/ValueCompass Value_FULCRA/data/trustworthy_data.jsonl (MIT)"


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


def load_value_fulcra(path, db: Db = None, dataset: str = "value_fulcra") -> int:
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
        qid = ids.value_fulcra_question_id(question)
        questions[qid] = question
        sample = 0
        while (model, qid, sample) in seen:  # one model answering one question twice
            sample += 1
        seen.add((model, qid, sample))
        qa_id = ids.value_fulcra_qa_id(dataset, model, qid, sample)
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
