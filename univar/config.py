"""Validated run settings. One frozen object per run; its hash goes into every cache key.

Plain dataclasses keep `import univar` fast (no pydantic import at start-up).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from univar.errors import UserError

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = PROJECT_ROOT / "data"
CACHE_DIR = PROJECT_ROOT / ".cache"
DEFAULT_DB = DATA_DIR / "univar.duckdb"


class ConfigError(UserError):
    """A setting is out of range or malformed; the message names the setting."""


def db_path(explicit: str | os.PathLike | None = None) -> Path:
    """--db wins, then UNIVAR_DB, then data/univar.duckdb."""
    if explicit:
        return Path(explicit)
    env = os.environ.get("UNIVAR_DB")
    return Path(env) if env else DEFAULT_DB


def stable_hash(obj, length: int = 16) -> str:
    """Hash of a JSON-able object that does not depend on dict order."""
    if dataclasses.is_dataclass(obj):
        obj = dataclasses.asdict(obj)
    text = json.dumps(obj, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:length]


def _check(cond: bool, message: str) -> None:
    if not cond:
        raise ConfigError(message)


@dataclass(frozen=True)
class GenerationConfig:
    """Everything that changes an LLM's answer, besides the messages themselves."""

    temperature: float = 0.7
    top_p: float = 0.95
    max_tokens: int = 128
    prompt_template: str = "{question}"
    system_prompt: str | None = None

    def __post_init__(self):
        _check(
            0.0 <= self.temperature <= 2.0, f"temperature must be in [0, 2], got {self.temperature}"
        )
        _check(0.0 < self.top_p <= 1.0, f"top_p must be in (0, 1], got {self.top_p}")
        _check(
            1 <= self.max_tokens <= 32768,
            f"max_tokens must be in [1, 32768], got {self.max_tokens}",
        )
        _check("{question}" in self.prompt_template, "prompt_template must contain {question}")

    def key(self) -> str:
        return stable_hash(self)


@dataclass(frozen=True)
class ElicitConfig:
    """One elicitation job: which model, which languages, which questions, how."""

    model: str
    languages: tuple[str, ...]
    question_ids: tuple[str, ...]
    api_base: str | None = None
    samples: int = 1
    concurrency: int = 8
    timeout_s: float = 120.0
    max_retries: int = 4
    retry_base_s: float = 1.0  # first backoff; doubles per retry, with jitter
    retry_max_s: float = 60.0  # longest single wait, Retry-After included
    translator: str | None = None  # None: the elicited model translates for itself
    translator_api_base: str | None = None
    dataset: str = "elicited"
    generation: GenerationConfig = field(default_factory=GenerationConfig)

    def __post_init__(self):
        _check(bool(self.model and self.model.strip()), "model must not be empty")
        _check(len(self.languages) > 0, "at least one language is needed")
        _check(len(self.question_ids) > 0, "at least one question is needed")
        _check(1 <= self.samples <= 100, f"samples must be in [1, 100], got {self.samples}")
        _check(
            1 <= self.concurrency <= 256, f"concurrency must be in [1, 256], got {self.concurrency}"
        )
        _check(self.timeout_s > 0, f"timeout must be positive, got {self.timeout_s}")
        _check(
            0 <= self.max_retries <= 20, f"max_retries must be in [0, 20], got {self.max_retries}"
        )
        _check(
            0 <= self.retry_base_s <= self.retry_max_s <= 3600,
            "retry waits must satisfy 0 <= retry_base_s <= retry_max_s <= 3600",
        )
        _check(bool(self.dataset and self.dataset.strip()), "dataset name must not be empty")

    def key(self) -> str:
        return stable_hash(self)


@dataclass(frozen=True)
class ProjectionConfig:
    """How embeddings become a 2-D map. Every field changes the picture, so all are hashed."""

    method: str = "umap"  # umap | pca
    n_neighbors: int = 15
    min_dist: float = 0.1
    metric: str = "cosine"
    seed: int = 42

    def __post_init__(self):
        _check(self.method in ("umap", "pca"), f"method must be umap or pca, got {self.method!r}")
        _check(
            2 <= self.n_neighbors <= 200, f"n_neighbors must be in [2, 200], got {self.n_neighbors}"
        )
        _check(0.0 <= self.min_dist <= 1.0, f"min_dist must be in [0, 1], got {self.min_dist}")
        _check(
            self.metric in ("cosine", "euclidean", "manhattan", "correlation"),
            f"metric must be cosine, euclidean, manhattan or correlation, got {self.metric!r}",
        )

    def key(self) -> str:
        return stable_hash(self)
