"""Encoders: the Encoder interface, sentence-transformers and trained encoders, the embedding cache.

This package's public names are re-exported here (`from univar import encoders`); its modules
import each other directly, never through this file. May import: store, paths, hardware, errors,
config, progress, policy (for its type only). Nothing here imports torch or sentence-transformers at module level.
"""

from univar.encoders.base import (
    DEFAULT_ENCODER,
    SHIPPED_ENCODER_DIR,
    TRAINED_MARKER,
    Encoder,
    default_minilm_path,
    qa_text,
    text_hash,
)
from univar.encoders.cache import cached_vectors, embed_qa, embed_texts, qa_frame, with_text
from univar.encoders.cards import ListedEncoder, listed_encoders, listed_name
from univar.encoders.loading import (
    LazyEncoder,
    check_allowed,
    encoder_choices,
    encoder_id,
    load_encoder,
    load_trained,
    resolve_name,
    shipped_encoder,
)
from univar.encoders.sentence import SentenceTransformerEncoder
from univar.encoders.trained import TrainedEncoder, trained_id

__all__ = [
    "DEFAULT_ENCODER",
    "SHIPPED_ENCODER_DIR",
    "TRAINED_MARKER",
    "Encoder",
    "LazyEncoder",
    "ListedEncoder",
    "SentenceTransformerEncoder",
    "TrainedEncoder",
    "cached_vectors",
    "check_allowed",
    "default_minilm_path",
    "embed_qa",
    "embed_texts",
    "encoder_choices",
    "encoder_id",
    "listed_encoders",
    "listed_name",
    "load_encoder",
    "load_trained",
    "qa_frame",
    "qa_text",
    "resolve_name",
    "shipped_encoder",
    "text_hash",
    "trained_id",
    "with_text",
]
