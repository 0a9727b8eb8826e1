"""Encoders written by univar.training: how they are found, identified and loaded back.

A trained directory holds `univar_encoder.json` (TRAINED_MARKER) and the weights: `model/`
(full: a sentence-transformers model), `adapter/` (lora: a peft adapter over the base) or
`head.safetensors` (head: a linear map applied to the base encoder's vectors). Weights are
safetensors, never pickles. The encoder id hashes the weights and the base, not the path and not
the metrics, so re-evaluating a model or moving its directory keeps its embedding cache.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from univar import hardware
from univar.encoders.base import TRAINED_MARKER, default_minilm_path, is_default, local_path
from univar.errors import UserError

MODES = ("full", "lora", "head")
HEAD_FILE = "head.safetensors"


def base_path(base: str) -> str:
    """A loadable sentence-transformers location for a base encoder name."""
    if is_default(base):
        return str(default_minilm_path())
    path = local_path(base)
    return str(path) if path.exists() else base


def load_sentence_transformer(base: str, device: str, trust_remote_code: bool = False):
    from sentence_transformers import SentenceTransformer

    try:
        return SentenceTransformer(
            base_path(base), device=device, trust_remote_code=trust_remote_code
        )
    except Exception as exc:
        raise UserError(f"cannot load base encoder {base!r}: {exc}") from exc


def make_head(dim_in: int, dim_out: int):
    """Initialised as the identity (where shapes allow): training starts from the base's map."""
    import torch

    head = torch.nn.Linear(dim_in, dim_out)
    with torch.no_grad():
        head.weight.zero_()
        head.weight[:, : min(dim_in, dim_out)].fill_diagonal_(1.0)
        head.bias.zero_()
    return head


def weight_files(path: Path, kind: str) -> list[Path]:
    if kind == "head":
        return [path / HEAD_FILE]
    sub = path / ("adapter" if kind == "lora" else "model")
    return sorted(f for f in sub.rglob("*") if f.is_file() and f.suffix != ".md")


def trained_id(path, meta: dict | None = None) -> str:
    """The encoder id of a trained directory, without loading torch: a cache lookup is enough."""
    path = Path(path)
    meta = meta or json.loads((path / TRAINED_MARKER).read_text(encoding="utf-8"))
    return f"univar-{meta['kind']}:{meta.get('name') or path.name}@{fingerprint(path, meta)}"


def fingerprint(path: Path, meta: dict) -> str:
    h = hashlib.sha256(json.dumps([meta["kind"], meta["base"]]).encode())
    for f in weight_files(path, meta["kind"]):
        h.update(str(f.relative_to(path)).encode())
        h.update(f.read_bytes())
    return h.hexdigest()[:12]


class TrainedEncoder:
    """An encoder written by univar.training: same interface as SentenceTransformerEncoder."""

    def __init__(self, path, trust_remote_code: bool = False, *, load_base: Callable[..., object]):
        """`load_base(name, trust_remote_code=...)` gives a head's base encoder (the app's
        cached loader, so the base is shared with every other use of it)."""
        path = Path(path)
        try:
            meta = json.loads((path / TRAINED_MARKER).read_text(encoding="utf-8"))
            kind, base = meta["kind"], meta["base"]
        except (OSError, ValueError, KeyError) as exc:
            raise UserError(f"{path} is not a trained univar encoder: {exc}") from exc
        if kind not in MODES:
            raise UserError(f"{path}: unknown encoder kind {kind!r}")
        files = weight_files(path, kind)
        if not files or not all(f.exists() for f in files):
            raise UserError(f"{path} lacks the weights of its {kind} encoder")
        self.path, self.meta, self.kind = path, meta, kind
        self.id = trained_id(path, meta)
        dev = hardware.device()
        if kind == "head":
            self._base = load_base(base, trust_remote_code=trust_remote_code)
            self._head = self._load_head(path, dev)
            self.dim = int(self._head.out_features)
            return
        if kind == "lora":
            from peft import PeftModel

            st = load_sentence_transformer(base, dev, trust_remote_code)
            peft_model = PeftModel.from_pretrained(st[0].model, str(path / "adapter"))
            st[0].model = peft_model.merge_and_unload()  # plain weights: encodes at base speed
        else:
            st = load_sentence_transformer(str(path / "model"), dev, trust_remote_code)
        st.max_seq_length = int(meta.get("max_seq_length") or st.max_seq_length)
        st.eval()
        self._st = st
        self.dim = int(st.get_embedding_dimension())

    @staticmethod
    def _load_head(path: Path, dev: str):
        from safetensors.torch import load_file

        state = load_file(str(path / HEAD_FILE))
        dim_out, dim_in = state["weight"].shape
        head = make_head(dim_in, dim_out)
        head.load_state_dict(state)
        return head.to(dev).eval()

    @property
    def base(self):
        """Head kind: the encoder whose (cacheable) vectors the head maps."""
        return self._base if self.kind == "head" else None

    def apply_head(self, base_vecs: np.ndarray) -> np.ndarray:
        import torch

        with torch.no_grad():
            x = torch.as_tensor(np.asarray(base_vecs), device=self._head.weight.device)
            out = torch.nn.functional.normalize(self._head(x), dim=-1)
        return out.cpu().numpy().astype(np.float32)

    def encode(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        if self.kind == "head":
            return self.apply_head(self._base.encode(texts, batch_size=batch_size))
        vecs = self._st.encode(
            list(texts), batch_size=batch_size, convert_to_numpy=True, show_progress_bar=False
        )
        return np.asarray(vecs, dtype=np.float32)
