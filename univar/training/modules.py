"""The three trainable encoders (full, lora, head), how they are saved, and how they load back.

A trained directory holds `univar_encoder.json` (encoders.TRAINED_MARKER) and the weights: `model/`
(full: a sentence-transformers model), `adapter/` (lora: a peft adapter over the base) or
`head.safetensors` (head: a linear map applied to the base encoder's vectors). Weights are
safetensors, never pickles. The encoder id hashes the weights and the base, not the path and not
the metrics, so re-evaluating a model or moving its directory keeps its embedding cache.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from univar.encoders.trained import HEAD_FILE

# LoRA on every linear layer of a BERT block: attention (query, key, value, output dense) and
# the feed-forward pair, not the pooler (unused by mean pooling). Rank 16: MiniLM's adapter ~2.6 MB.
LORA_TARGETS = r"^(?!.*pooler).*\.(query|key|value|dense)$"


def add_lora(st, r: int, alpha: int, dropout: float = 0.1):
    """Wrap the transformer inside a SentenceTransformer with a fresh LoRA adapter, in place."""
    from peft import LoraConfig, get_peft_model

    config = LoraConfig(r=r, lora_alpha=alpha, lora_dropout=dropout, target_modules=LORA_TARGETS)
    st[0].model = get_peft_model(st[0].model, config)
    return st


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


# --- loading ----------------------------------------------------------------------------------
