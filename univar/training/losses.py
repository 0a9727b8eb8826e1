"""Contrastive losses over a batch of views laid out as pairs: rows 2i and 2i+1 are one pair.

Both losses take unit-norm embeddings and integer identity labels. Views of the same identity
never act as each other's negatives: with few identities (a user may have 5, the paper had 55)
a batch holds several pairs of one identity, and pushing those apart would teach the opposite
of what we want.
"""

from __future__ import annotations

LOSSES = ("multipos", "infonce")


def _masked_logits(emb, labels, temperature: float):
    import torch

    logits = emb @ emb.T / temperature
    same = labels[:, None] == labels[None, :]
    eye = torch.eye(len(labels), dtype=torch.bool, device=emb.device)
    return logits, same, eye


def multi_positive(emb, labels, temperature: float):
    """Supervised-contrastive InfoNCE: every other view of the anchor's identity is a positive.

    loss_i = -mean_{p in P(i)} log( exp(s_ip) / sum_{j != i} exp(s_ij) ).
    """
    import torch

    logits, same, eye = _masked_logits(emb, labels, temperature)
    logits = logits.float().masked_fill(eye, float("-inf"))
    log_prob = logits - torch.logsumexp(logits, dim=1, keepdim=True)
    pos = same & ~eye
    per_anchor = -(log_prob.masked_fill(~pos, 0.0).sum(1)) / pos.sum(1).clamp(min=1)
    return per_anchor[pos.any(1)].mean()


def info_nce(emb, labels, temperature: float, symmetric: bool = True):
    """The paper's InfoNCE: a view's positive is its pair partner; negatives are the views of
    other identities (same-identity views are masked out). One-directional unless symmetric."""
    import torch

    a, b = emb[0::2], emb[1::2]
    la = labels[0::2]
    logits = (a @ b.T / temperature).float()
    same = la[:, None] == la[None, :]
    diag = torch.eye(len(la), dtype=torch.bool, device=emb.device)
    logits = logits.masked_fill(same & ~diag, float("-inf"))
    target = torch.arange(len(la), device=emb.device)
    loss = torch.nn.functional.cross_entropy(logits, target)
    if symmetric:
        loss = (loss + torch.nn.functional.cross_entropy(logits.T, target)) / 2
    return loss


def contrastive_loss(
    emb, labels, temperature: float, kind: str = "multipos", symmetric: bool = True
):
    if kind == "multipos":
        return multi_positive(emb, labels, temperature)
    if kind == "infonce":
        return info_nce(emb, labels, temperature, symmetric)
    raise ValueError(f"unknown loss {kind!r}")
