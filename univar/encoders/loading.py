"""Which encoder a name means, and loading it: the offline MiniLM, a trained directory, any
sentence-transformers path or hub name. `LazyEncoder` knows its id without importing torch.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from univar.encoders.base import (
    DEFAULT_ENCODER,
    TRAINED_MARKER,
    Encoder,
    _dir_fingerprint,
    default_minilm_path,
    is_default,
    local_path,
)
from univar.encoders.cards import listed_encoders, shipped_dirs
from univar.encoders.sentence import SentenceTransformerEncoder
from univar.encoders.trained import TrainedEncoder, trained_id
from univar.errors import UserError

if TYPE_CHECKING:
    from univar.policy import Policy

# A model hub name: `name` or `owner/name` of letters, digits, `-`, `_` and `.` (never `..`)
HUB_NAME = re.compile(r"[A-Za-z0-9][\w.-]*(/[A-Za-z0-9][\w.-]*)?", re.ASCII)


def shipped_encoder() -> Path | None:
    """The trained UniVaR encoder shipped in assets/, if any (the app's default when present)."""
    shipped = shipped_dirs()
    return shipped[0] if shipped else None


def encoder_choices() -> list[str]:
    """Names the UI offers (`listed_encoders` has their cards); any other path or hub name is
    accepted too."""
    return [e.name for e in listed_encoders()]


def resolve_name(name: str | None) -> str:
    if name:
        return name
    shipped = shipped_encoder()
    return str(shipped) if shipped else DEFAULT_ENCODER


def load_trained(path, trust_remote_code: bool = False) -> TrainedEncoder:
    """A directory written by univar.training; a head's base comes from `load_encoder`."""
    return TrainedEncoder(path, trust_remote_code=trust_remote_code, load_base=load_encoder)


def check_allowed(name: str | None, policy: Policy, trust_remote_code: bool = False) -> str:
    """The name to load for an encoder a browser user asked for, if this server allows it.

    Local mode: any name. Shared mode: a listed encoder (`encoder_choices`), a folder inside
    the data folder (a relative name is looked for there first), or a hub name that is no
    existing path here; an encoder's own code runs only where the operator allows it. Every
    refused name gets one message, so it never tells whether something lies at a path.
    """
    name = resolve_name(name)
    if trust_remote_code and not policy.allows_remote_code():
        raise UserError(
            "this server does not run an encoder's own code (trust_remote_code): "
            "its operator has not allowed it"
        )
    listed = name in encoder_choices() or name == resolve_name(None) or is_default(name)
    if listed or not policy.shared:
        return name
    refused = UserError(
        f"encoder {name!r} is not allowed on this shared server: pick a listed encoder, a "
        "model folder inside its data folder, or a model hub name"
    )
    if HUB_NAME.fullmatch(name) and ".." not in name:
        # an existing folder of that name would load instead of the hub's model
        for candidate in (policy.data_dir / name, local_path(name)):
            if candidate.exists():
                try:
                    return str(policy.resolve_inside(candidate.absolute(), "encoder folder"))
                except UserError:
                    raise refused from None
        return name
    try:
        return str(policy.resolve_inside(name, "encoder folder"))
    except UserError:
        raise refused from None


@functools.lru_cache(maxsize=4)
def load_encoder(name: str | None = None, trust_remote_code: bool = False) -> Encoder:
    """'all-MiniLM-L6-v2' (offline copy), a trained univar directory, any ST path or hub name.

    Remote model code runs only when the caller opts in with trust_remote_code=True.
    """
    name = resolve_name(name)
    if is_default(name):
        return SentenceTransformerEncoder(str(default_minilm_path()), label=DEFAULT_ENCODER)
    path = local_path(name)
    if (path / TRAINED_MARKER).exists():
        return load_trained(path)
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
    if is_default(name):
        return f"{DEFAULT_ENCODER}@{_dir_fingerprint(str(default_minilm_path().resolve()))}"
    path = local_path(name)
    if (path / TRAINED_MARKER).exists():
        return trained_id(path)  # light: reads the marker and hashes the weights
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
