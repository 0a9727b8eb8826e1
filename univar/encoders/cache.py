"""The embedding cache in DuckDB: vectors per (encoder id, text hash), computed once.

Re-embedding costs a lookup; missing texts are encoded in chunks written as they finish, so a
crash loses at most one chunk.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from univar import store
from univar.encoders.base import Encoder, qa_text, text_hash
from univar.encoders.loading import load_encoder
from univar.paths import Db
from univar.progress import Progress

WRITE_CHUNK = 1024  # texts per encode+store round: a crash loses at most one chunk


def cached_vectors(db: Db, encoder_id: str, hashes: Sequence[str]) -> dict[str, np.ndarray]:
    """Vectors already in the store for these text hashes."""
    if not hashes:
        return {}
    import pandas as pd

    wanted = pd.DataFrame({"text_hash": list(dict.fromkeys(hashes))})
    with store.connect(db) as con:
        con.register("wanted", wanted)
        table = con.sql(
            "SELECT e.text_hash, e.vector FROM embeddings e JOIN wanted w USING (text_hash) "
            "WHERE e.encoder_id = ?",
            params=[encoder_id],
        ).to_arrow_table()
    if table.num_rows == 0:
        return {}
    keys = table.column("text_hash").to_pylist()
    flat = table.column("vector").combine_chunks()
    mat = np.asarray(flat.flatten(), dtype=np.float32).reshape(len(keys), -1)
    return dict(zip(keys, mat, strict=True))


def _save(db: Db, encoder_id: str, hashes: list[str], vecs: np.ndarray) -> None:
    import pyarrow as pa

    vecs = np.ascontiguousarray(vecs, dtype=np.float32)
    n, dim = vecs.shape
    # A list array over the flat buffer: no per-row Python objects, no copy.
    offsets = pa.array(np.arange(0, n * dim + 1, dim, dtype=np.int32))
    table = pa.table(
        {
            "encoder_id": pa.array([encoder_id] * n),
            "text_hash": pa.array(hashes),
            "vector": pa.ListArray.from_arrays(offsets, pa.array(vecs.reshape(-1))),
        }
    )
    with store.transaction(db) as con:  # its write lock: two sessions may embed one text
        con.register("new_vectors", table)
        con.execute("INSERT OR IGNORE INTO embeddings SELECT * FROM new_vectors")


def embed_texts(
    texts: Sequence[str],
    encoder: Encoder,
    db: Db = None,
    *,
    batch_size: int = 64,
    progress: Progress | None = None,
    write_chunk: int | None = None,
) -> np.ndarray:
    """Vectors for `texts` in order; computes only what the cache lacks and stores it at once.

    Missing texts are encoded longest first, in chunks that are whole batches: the batches are
    then the ones a single `encode` call would form (it sorts by length too), so chunking adds
    no padding. Each chunk is written by a background thread while the next one encodes.
    `progress` counts the texts the cache lacked, without a message, once per chunk: a smaller
    `write_chunk` reports more often (training's first pass, on a slow CPU).
    """
    from concurrent.futures import ThreadPoolExecutor

    hashes = [text_hash(t) for t in texts]
    found = cached_vectors(db, encoder.id, hashes)
    todo = [(h, t) for h, t in dict(zip(hashes, texts, strict=True)).items() if h not in found]
    todo.sort(key=lambda item: -len(item[1]))
    total = len(todo)
    chunk = max(batch_size, (write_chunk or WRITE_CHUNK) // batch_size * batch_size)
    if progress:
        progress(0, total)
    pending = None
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="univar-embed-save") as writer:
        try:
            for start in range(0, total, chunk):
                part = todo[start : start + chunk]
                keys = [h for h, _ in part]
                vecs = encoder.encode([t for _, t in part], batch_size=batch_size)
                if pending is not None:
                    pending.result()  # surfaces a write error before more work is done
                pending = writer.submit(_save, db, encoder.id, keys, vecs)
                found.update(zip(keys, vecs, strict=True))
                if progress:
                    progress(min(start + chunk, total), total)
        finally:
            if pending is not None:  # finished chunks are kept, even after an interrupt
                pending.result()
    if not hashes:
        return np.zeros((0, encoder.dim), dtype=np.float32)
    return np.stack([found[h] for h in hashes])


_QA_COLUMNS = (
    "qa_id, dataset, model, language, identity, question_id, question, answer, "
    "question_en, answer_en, value, framework"
)


def qa_frame(db: Db = None, datasets: Sequence[str] | None = None):
    """QA rows (of some datasets, or all) with the text they are embedded as."""
    if datasets:
        sql = f"SELECT {_QA_COLUMNS} FROM qa WHERE dataset IN (SELECT unnest(?)) ORDER BY qa_id"
        df = store.query_df(sql, [list(datasets)], path=db)
    else:
        df = store.query_df(f"SELECT {_QA_COLUMNS} FROM qa ORDER BY qa_id", path=db)
    return with_text(df)


def with_text(df):
    """`df` (columns question, answer, question_en, answer_en) with the text each row is
    embedded as, in a column `text`: English where there is a translation."""
    # Untranslated rows (an upload without English) are embedded as written, not as blanks.
    questions = df["question_en"].fillna(df["question"])
    answers = df["answer_en"].fillna(df["answer"])
    df["text"] = [qa_text(q, a) for q, a in zip(questions, answers, strict=True)]
    return df


def embed_qa(
    db: Db = None,
    encoder: Encoder | None = None,
    *,
    datasets: Sequence[str] | None = None,
    batch_size: int = 64,
    progress: Progress | None = None,
):
    """Embed every QA pair (optionally of some datasets); returns (frame, vectors)."""
    encoder = encoder or load_encoder()
    df = qa_frame(db, datasets)
    vecs = embed_texts(list(df["text"]), encoder, db, batch_size=batch_size, progress=progress)
    return df, vecs
