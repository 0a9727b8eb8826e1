"""Any sentence-transformers model as an encoder, by local path or (with network) by hub name."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from univar.encoders.base import _dir_fingerprint
from univar.errors import UserError
from univar.hardware import device


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
