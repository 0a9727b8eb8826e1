"""The settings of one elicitation job: the model, languages, questions and how to ask.

Frozen and validated on creation; `key()` goes into cache keys. Imports only `univar.config`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from univar.config import check, stable_hash


@dataclass(frozen=True)
class GenerationConfig:
    """Everything that changes an LLM's answer, besides the messages themselves."""

    temperature: float = 0.7
    top_p: float = 0.95
    max_tokens: int = 128
    prompt_template: str = "{question}"
    system_prompt: str | None = None

    def __post_init__(self):
        check(
            0.0 <= self.temperature <= 2.0, f"temperature must be in [0, 2], got {self.temperature}"
        )
        check(0.0 < self.top_p <= 1.0, f"top_p must be in (0, 1], got {self.top_p}")
        check(
            1 <= self.max_tokens <= 32768,
            f"max_tokens must be in [1, 32768], got {self.max_tokens}",
        )
        check("{question}" in self.prompt_template, "prompt_template must contain {question}")

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
    # asked for an answer's English when the translator's two tries do not read as English
    fallback_translator: str | None = None
    fallback_translator_api_base: str | None = None
    dataset: str = "elicited"
    generation: GenerationConfig = field(default_factory=GenerationConfig)

    def __post_init__(self):
        check(bool(self.model and self.model.strip()), "model must not be empty")
        check(len(self.languages) > 0, "at least one language is needed")
        check(len(self.question_ids) > 0, "at least one question is needed")
        check(1 <= self.samples <= 100, f"samples must be in [1, 100], got {self.samples}")
        check(
            1 <= self.concurrency <= 256, f"concurrency must be in [1, 256], got {self.concurrency}"
        )
        check(self.timeout_s > 0, f"timeout must be positive, got {self.timeout_s}")
        check(
            0 <= self.max_retries <= 20, f"max_retries must be in [0, 20], got {self.max_retries}"
        )
        check(
            0 <= self.retry_base_s <= self.retry_max_s <= 3600,
            "retry waits must satisfy 0 <= retry_base_s <= retry_max_s <= 3600",
        )
        check(bool(self.dataset and self.dataset.strip()), "dataset name must not be empty")

    def key(self) -> str:
        return stable_hash(self)
