"""A small demo database built from REAL answers: ../shared/data/value_fulcra_trustworthy.jsonl.

Five real LLMs answered the same kind of value-laden prompts in English. Every row keeps its
real model and language ('eng'); nothing is relabelled to fake more languages. Tests that need
several languages build frames directly instead.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

from conftest import shared_file

from univar import store
from univar.analysis.projection import ProjectionConfig
from univar.config import stable_hash

DEMO_DATASET = "demo"
SOURCE = "value_fulcra_trustworthy.jsonl"


def fulcra_rows(per_model: int | None = 40) -> list[dict]:
    """Up to `per_model` QA rows per real model, in file order (skips when the file is absent)."""
    taken: dict[str, int] = defaultdict(int)
    rows = []
    with open(shared_file(SOURCE), encoding="utf-8") as fh:
        for line in fh:
            item = json.loads(line)
            model = item["response_source"]
            if per_model is not None and taken[model] >= per_model:
                continue
            dialogue = item["dialogue"]
            question = dialogue.split("\nBob:", 1)[0].removeprefix("Human: ").strip()
            answer = dialogue.split("Bob: ", 1)[1].strip() if "Bob: " in dialogue else ""
            if not question or not answer:
                continue
            plus = [v.split(":")[0].strip() for v in item["value_types"] if "-" not in v]
            taken[model] += 1
            question_id = "fulcra-" + stable_hash(question, 12)
            rows.append(
                {
                    "qa_id": stable_hash([DEMO_DATASET, model, "eng", question_id, 0], 24),
                    "dataset": DEMO_DATASET,
                    "model": model,
                    "language": "eng",
                    "question_id": question_id,
                    "question": question,
                    "answer": answer,
                    "value_code": plus[0] if plus else None,
                    "framework": "schwartz" if plus else None,
                }
            )
    return rows


def build_demo_db(
    path: str | Path,
    per_model: int | None = 40,
    *,
    encoder=None,
    projection: ProjectionConfig | None = None,
) -> Path:
    """Write the demo rows into `path`; optionally embed them and cache one projection."""
    import pandas as pd

    path = Path(path)
    frame = pd.DataFrame(fulcra_rows(per_model))
    provenance = {"source": SOURCE, "per_model": per_model, "note": "real answers, test fixture"}
    with store.transaction(path) as con:
        con.execute(
            "INSERT OR REPLACE INTO datasets (dataset, kind, description, provenance) "
            "VALUES (?, 'demo', ?, ?)",
            [DEMO_DATASET, "Value FULCRA answers of five real LLMs", json.dumps(provenance)],
        )
        con.register("demo_rows", frame)
        con.execute(
            "INSERT OR REPLACE INTO qa_pairs (qa_id, dataset, model, language, question_id, "
            "question, answer, value_code, framework) SELECT qa_id, dataset, model, language, "
            "question_id, question, answer, value_code, framework FROM demo_rows"
        )
    if encoder is not None:
        from univar import encoders

        encoders.embed_qa(path, encoder)
        if projection is not None:
            from univar.analysis import projection as proj

            proj.project(path, encoder, list(frame["qa_id"]), projection)
    return path


_TEMPLATES: dict[tuple, Path] = {}


def demo_template(tmp_path_factory, per_model: int = 30, projections=()) -> Path:
    """One embedded demo database per session and settings (the real MiniLM encoder); copy it
    with `copy_db` before writing to it."""
    key = (per_model, tuple(projections))
    if key not in _TEMPLATES:
        from univar.encoders import load_encoder

        path = tmp_path_factory.mktemp("demo") / "demo.duckdb"
        encoder = load_encoder()
        build_demo_db(path, per_model, encoder=encoder)
        if projections:
            from univar.analysis import projection as proj

            ids = [r["qa_id"] for r in fulcra_rows(per_model)]
            for config in projections:
                proj.project(path, encoder, ids, config)
        _TEMPLATES[key] = path
    return _TEMPLATES[key]


def copy_db(template: Path, dest_dir: Path) -> Path:
    import shutil

    dest = Path(dest_dir) / template.name
    shutil.copy(template, dest)
    if Path(f"{template}.wal").exists():
        shutil.copy(f"{template}.wal", f"{dest}.wal")
    return dest
