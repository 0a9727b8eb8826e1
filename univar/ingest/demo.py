"""The demo dataset shipped in data/demo/: exported from a database, loaded into an empty one.

Files: qa.parquet (the QA pairs), embeddings.parquet (their vectors under the default encoder,
and those of the answers that pass the quality checks under the value scorer's base encoder),
projection.parquet (the default UMAP map, loaded as the layout of its encoder and settings:
`analysis.projection`), survey.parquet (the models' answers to a portrait
survey, when they took one; scored again on load) and provenance.json (models, languages, dates
and settings). A fresh clone opens the app on it at once: nothing is embedded or projected there.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Sequence
from pathlib import Path

from univar import __version__, encoders, quality, store
from univar.analysis import expression, projection
from univar.analysis.projection import ProjectionConfig
from univar.catalog import instruments
from univar.config import stable_hash
from univar.errors import UserError
from univar.paths import DATA_DIR, Db
from univar.progress import Progress
from univar.quality.filter import QualityFilter

DEMO_DIR = DATA_DIR / "demo"
DEMO_DATASET = "demo"
QA_FILE, VECTORS_FILE, MAP_FILE, SURVEY_FILE, PROVENANCE_FILE = (
    "qa.parquet",
    "embeddings.parquet",
    "projection.parquet",
    "survey.parquet",
    "provenance.json",
)
_SURVEY_COLUMNS = "instrument, item_id, model, language, sample, raw_answer, rating"
_QA_COLUMNS = (
    "qa_id, model, language, question_id, sample, question, answer, question_en, answer_en, "
    "value, framework, translator"
)


def export_demo(
    db: Db = None,
    out_dir: str | Path = DEMO_DIR,
    datasets: Sequence[str] | None = None,
    *,
    encoder: encoders.Encoder | None = None,
    config: ProjectionConfig | None = None,
    progress: Progress | None = None,
) -> dict:
    """Write the demo files for some datasets (all when None); returns the provenance."""
    import pandas as pd

    encoder = encoder or encoders.LazyEncoder()
    config = config or ProjectionConfig()
    known = set(store.query_df("SELECT dataset FROM datasets", path=db)["dataset"])
    missing = sorted(set(datasets or ()) - known)
    if missing:
        raise UserError(f"unknown dataset(s): {', '.join(missing)}")
    frame, vectors = encoders.embed_qa(db, encoder, datasets=datasets)
    if frame.empty:
        raise UserError("nothing to export: the chosen datasets have no usable QA pairs")
    points = projection.project(db, encoder, list(frame["qa_id"]), config, progress=progress)

    default_filter = QualityFilter()
    kept = default_filter.keep(db, frame)  # what the default map shows
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    with store.connect(db) as con:
        con.register("chosen", frame[["qa_id"]])
        qa = con.execute(
            f"SELECT {_QA_COLUMNS} FROM qa JOIN chosen USING (qa_id) ORDER BY qa_id"
        ).df()
        sources = con.execute(
            "SELECT dataset, kind, description, provenance FROM datasets "
            "WHERE dataset IN (SELECT DISTINCT dataset FROM qa JOIN chosen USING (qa_id))"
        ).df()
        con.register("chosen_models", qa[["model"]].drop_duplicates())
        answers = con.execute(
            f"SELECT {_SURVEY_COLUMNS} FROM survey_responses "
            "WHERE model IN (SELECT model FROM chosen_models) ORDER BY ALL"
        ).df()
    qa.to_parquet(out / QA_FILE, index=False)
    if len(answers):
        answers.to_parquet(out / SURVEY_FILE, index=False)
    else:
        (out / SURVEY_FILE).unlink(missing_ok=True)
    hashes = [encoders.text_hash(t) for t in frame["text"]]
    shipped = [
        pd.DataFrame({"encoder_id": encoder.id, "text_hash": hashes, "vector": list(vectors)})
    ]
    # the value scorer reads vectors of its own base encoder: shipping those of the answers
    # that pass the checks lets a fresh clone show value profiles without loading a model
    base = encoders.LazyEncoder(expression.load_scorer().base_encoder)
    if base.id != encoder.id and len(kept):
        texts = list(kept["text"])
        more = encoders.embed_texts(texts, base, db, progress=progress)
        hashed = [encoders.text_hash(t) for t in texts]
        shipped.append(
            pd.DataFrame({"encoder_id": base.id, "text_hash": hashed, "vector": list(more)})
        )
    pd.concat(shipped, ignore_index=True).drop_duplicates(["encoder_id", "text_hash"]).to_parquet(
        out / VECTORS_FILE, index=False
    )
    points.to_parquet(out / MAP_FILE, index=False)
    provenance = {
        "exported_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "univar_version": __version__,
        "qa_pairs": len(qa),
        "models": sorted(qa["model"].unique()),
        "languages": sorted(qa["language"].unique()),
        "questions": int(qa["question_id"].nunique()),
        "survey_answers": len(answers),
        "encoder": encoder.id,
        "projection": dataclasses.asdict(config),
        # what the default map shows: the QA pairs no check flagged, the rest one toggle away
        "quality": {
            "default_filter": default_filter.describe(),
            "passing": len(kept),
            "flagged": len(qa) - len(kept),
        },
        "sources": [
            {**row, "provenance": json.loads(row["provenance"]) if row["provenance"] else None}
            for row in sources.to_dict("records")
        ],
    }
    (out / PROVENANCE_FILE).write_text(json.dumps(provenance, indent=2, ensure_ascii=False))
    return provenance


def available(demo_dir: str | Path = DEMO_DIR) -> bool:
    return all((Path(demo_dir) / f).exists() for f in (QA_FILE, PROVENANCE_FILE))


def load_demo(db: Db = None, demo_dir: str | Path = DEMO_DIR, *, replace: bool = False) -> int:
    """Load the demo files as dataset 'demo' (kind 'demo'); returns the QA pairs loaded."""
    import pandas as pd

    demo_dir = Path(demo_dir)
    if not available(demo_dir):
        raise UserError(f"no demo dataset in {demo_dir} (expected {QA_FILE} and {PROVENANCE_FILE})")
    provenance = json.loads((demo_dir / PROVENANCE_FILE).read_text(encoding="utf-8"))
    qa = pd.read_parquet(demo_dir / QA_FILE)
    # New ids: the exported ones belong to their source dataset, which may be elicited again.
    id_map = {old: stable_hash([DEMO_DATASET, old], 24) for old in qa["qa_id"]}
    qa = qa.assign(qa_id=qa["qa_id"].map(id_map), dataset=DEMO_DATASET)
    with store.transaction(db) as con:
        if replace:  # verdicts too: a renewed demo may hold other text under the same ids
            con.execute(
                "DELETE FROM qa_quality WHERE qa_id IN "
                "(SELECT qa_id FROM qa_pairs WHERE dataset = ?)",
                [DEMO_DATASET],
            )
            con.execute("DELETE FROM qa_pairs WHERE dataset = ?", [DEMO_DATASET])
        con.execute(
            "INSERT OR REPLACE INTO datasets (dataset, kind, description, provenance) "
            "VALUES (?, 'demo', ?, ?)",
            [DEMO_DATASET, _describe(provenance), json.dumps(provenance)],
        )
        con.register("demo_qa", qa)
        con.execute(
            "INSERT OR IGNORE INTO qa_pairs (qa_id, dataset, model, language, question_id, "
            "sample, question, answer, question_en, answer_en, value_code, framework, translator) "
            "SELECT qa_id, dataset, model, language, question_id, sample, question, answer, "
            "question_en, answer_en, value, framework, translator FROM demo_qa"
        )
        if (demo_dir / VECTORS_FILE).exists():
            con.execute(
                "INSERT OR IGNORE INTO embeddings SELECT encoder_id, text_hash, "
                "CAST(vector AS FLOAT[]) FROM read_parquet(?)",
                [str(demo_dir / VECTORS_FILE)],
            )
    if (demo_dir / MAP_FILE).exists():
        _load_map(db, demo_dir / MAP_FILE, id_map, provenance, replace=replace)
    instruments.ensure(db)  # the portraits its QAs and survey answers refer to
    if (demo_dir / SURVEY_FILE).exists():
        _load_survey(db, demo_dir / SURVEY_FILE)
    quality.check_new(db, datasets=[DEMO_DATASET])  # a failure only logs: `check` catches up
    return len(qa)


def _load_survey(db: Db, path: Path) -> None:
    """The shipped survey answers, scored here: scoring lives in one place, survey.score."""
    from univar.elicit import survey

    with store.transaction(db) as con:
        con.execute(
            f"INSERT OR REPLACE INTO survey_responses ({_SURVEY_COLUMNS}) "
            f"SELECT {_SURVEY_COLUMNS} FROM read_parquet(?)",
            [str(path)],
        )
        who = con.execute(
            "SELECT DISTINCT instrument, model, language FROM read_parquet(?) ORDER BY ALL",
            [str(path)],
        ).fetchall()
    for instrument, model, language in who:
        survey.score(db, instrument, model, language)


def _load_map(db: Db, path: Path, id_map: dict, provenance: dict, *, replace: bool) -> None:
    """The shipped map becomes the layout of its encoder and settings, as it was fitted: no
    UMAP on first start, and the demo looks as it was exported. A database with a layout of
    its own for them keeps it (the demo's QA pairs are then placed on it); `replace` renews
    only a layout that is the shipped one."""
    import pandas as pd

    points = pd.read_parquet(path)
    points = points.assign(qa_id=points["qa_id"].map(id_map)).dropna(subset=["qa_id"])
    encoder_id, config = provenance["encoder"], ProjectionConfig(**provenance["projection"])
    layout = projection.current(db, encoder_id, config)
    if layout is None or (replace and layout.source == "shipped"):
        projection.save_fit(
            db, encoder_id, config, points[["qa_id", "x", "y"]], 0.0, source="shipped"
        )


def _describe(provenance: dict) -> str:
    return (
        f"{provenance.get('qa_pairs', '?')} QA pairs from {', '.join(provenance.get('models', []))} "
        f"in {len(provenance.get('languages', []))} languages"
    )


def seed_if_empty(db: Db = None, demo_dir: str | Path | None = None) -> bool:
    """On a database without QA pairs, load the shipped demo; True when it did."""
    demo_dir = demo_dir or DEMO_DIR
    n = store.query_df("SELECT count(*) AS n FROM qa_pairs", path=db)["n"].iloc[0]
    if n or not available(demo_dir):
        return False
    return load_demo(db, demo_dir) > 0
