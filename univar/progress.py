"""What a progress callback is, for every long job in univar: one definition all stages share.

`Progress` says how far along a job is: `progress(done, total, message)`. Embedding reports
texts done of texts to embed, a projection a fraction of 1.0 with what it is doing now; a bar
shows `done / total` and `message` as its text. `total` may be 0 when there is nothing to do.
Every callback accepts `message`, even where its producer never sends one, so that any Progress
can be handed to any producer.

`Listener[T]` is for callers that need more than a fraction: it gets the job's own record after
each step, e.g. `Listener[dict]` for a training step.

Imports nothing of univar, so any module may use it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, TypeVar

_Event = TypeVar("_Event")


class Progress(Protocol):
    """How far along a job is: `done` of `total`, and what it is doing now."""

    def __call__(self, done: float, total: float, message: str = "") -> None: ...


Listener = Callable[[_Event], None]
