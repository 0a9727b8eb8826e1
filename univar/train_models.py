"""The three trainable encoders (full, lora, head), how they are saved, and how they load back.

A trained directory holds `univar_encoder.json` (embed.TRAINED_MARKER) and the weights: `model/`
(full: a sentence-transformers model), `adapter/` (lora: a peft adapter over the base) or
`head.safetensors` (head: a linear map applied to the base encoder's vectors). Weights are
safetensors, never pickles. The encoder id hashes the weights and the base, not the path and not
the metrics, so re-evaluating a model or moving its directory keeps its embedding cache.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from univar import embed
from univar.errors import UserError

MODES = ("full", "lora", "head")
HEAD_FILE = "head.safetensors"
# LoRA on every linear layer of a BERT block: attention (query, key, value, output dense) and
# the feed-forward pair, not the pooler (unused by mean pooling). Rank 16: MiniLM's adapter ~2.6 MB.
LORA_TARGETS = r"^(?!.*pooler).*\.(query|key|value|dense)$"


def base_path(base: str) -> str:
    """A loadable sentence-transformers location for a base encoder name."""
    if base in (embed.DEFAULT_ENCODER, f"sentence-transformers/{embed.DEFAULT_ENCODER}"):
        return str(embed.default_minilm_path())
    path = Path(base)
    if not path.exists() and (embed.PROJECT_ROOT / base).exists():
        path = embed.PROJECT_ROOT / base
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


def add_lora(st, r: int, alpha: int, dropout: float = 0.1):
    """Wrap the transformer inside a SentenceTransformer with a fresh LoRA adapter, in place."""
    from peft import LoraConfig, get_peft_model

    config = LoraConfig(r=r, lora_alpha=alpha, lora_dropout=dropout, target_modules=LORA_TARGETS)
    st[0].model = get_peft_model(st[0].model, config)
    return st


def encode_views(st, texts: Sequence[str], device: str):
    """Unit vectors for view texts, with gradients (the training forward pass)."""
    import torch

    features = st.preprocess(list(texts))
    features = {k: v.to(device) if hasattr(v, "to") else v for k, v in features.items()}
    out = st(features)["sentence_embedding"]
    return torch.nn.functional.normalize(out.float(), dim=-1)


def head_views(head, base_vecs, views: Sequence[np.ndarray], device: str):
    """A view's vector in head mode: the mean of its QAs' base vectors, through the head.

    Averaging cached per-QA vectors stands in for encoding the joined text, which keeps head
    mode free of transformer passes.
    """
    import torch

    x = torch.stack([base_vecs[torch.as_tensor(v, device=device)].mean(0) for v in views])
    return torch.nn.functional.normalize(head(x), dim=-1)


# --- saving -----------------------------------------------------------------------------------


def save_weights(mode: str, module, out: Path) -> None:
    """Final weights into `out` (module: the SentenceTransformer, or the head)."""
    if mode == "head":
        from safetensors.torch import save_file

        save_file({k: v.detach().cpu() for k, v in module.state_dict().items()}, out / HEAD_FILE)
    elif mode == "lora":
        module[0].model.save_pretrained(str(out / "adapter"))
    else:
        module.save(str(out / "model"), create_model_card=False)


def weight_files(path: Path, kind: str) -> list[Path]:
    if kind == "head":
        return [path / HEAD_FILE]
    sub = path / ("adapter" if kind == "lora" else "model")
    return sorted(f for f in sub.rglob("*") if f.is_file() and f.suffix != ".md")


def trained_id(path, meta: dict | None = None) -> str:
    """The encoder id of a trained directory, without loading torch: a cache lookup is enough."""
    path = Path(path)
    meta = meta or json.loads((path / embed.TRAINED_MARKER).read_text(encoding="utf-8"))
    return f"univar-{meta['kind']}:{meta.get('name') or path.name}@{fingerprint(path, meta)}"


def fingerprint(path: Path, meta: dict) -> str:
    h = hashlib.sha256(json.dumps([meta["kind"], meta["base"]]).encode())
    for f in weight_files(path, meta["kind"]):
        h.update(str(f.relative_to(path)).encode())
        h.update(f.read_bytes())
    return h.hexdigest()[:12]


# --- loading ----------------------------------------------------------------------------------


class TrainedEncoder:
    """An encoder written by univar.train: same interface as embed.SentenceTransformerEncoder."""

    def __init__(self, path, trust_remote_code: bool = False):
        path = Path(path)
        try:
            meta = json.loads((path / embed.TRAINED_MARKER).read_text(encoding="utf-8"))
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
        dev = embed.device()
        if kind == "head":
            self._base = embed.load_encoder(base, trust_remote_code=trust_remote_code)
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


def load_trained(path, trust_remote_code: bool = False) -> TrainedEncoder:
    return TrainedEncoder(path, trust_remote_code=trust_remote_code)
