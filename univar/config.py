"""What every settings dataclass shares: its validation error and its stable hash.

Each stage defines its own frozen settings object (`elicit.settings`, `training.settings`,
`analysis.projection.ProjectionConfig`); one object per run, its hash in every cache key. CLI
flags and page widgets read their defaults from those dataclasses. Plain dataclasses keep
`import univar` fast (no pydantic at start-up). Imports only `univar.errors`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json

from univar.errors import UserError


class ConfigError(UserError):
    """A setting is out of range or malformed; the message names the setting."""


def stable_hash(obj, length: int = 16) -> str:
    """Hash of a JSON-able object that does not depend on dict order."""
    if dataclasses.is_dataclass(obj):
        obj = dataclasses.asdict(obj)
    text = json.dumps(obj, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:length]


def check(cond: bool, message: str) -> None:
    """Raise ConfigError(message) unless `cond`: the one line a settings check needs."""
    if not cond:
        raise ConfigError(message)


def field_default(cls, name: str):
    """The default of dataclass field `name` of `cls`: what CLI flags and widgets start at."""
    for f in dataclasses.fields(cls):
        if f.name == name:
            if f.default is not dataclasses.MISSING:
                return f.default
            if f.default_factory is not dataclasses.MISSING:
                return f.default_factory()
            raise KeyError(f"{cls.__name__}.{name} has no default")
    raise KeyError(f"{cls.__name__} has no field {name!r}")
