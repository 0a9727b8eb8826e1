"""Train a UniVaR value encoder: multi-view contrastive learning on the QA pairs in the store.

Modes: `full` fine-tunes the whole sentence encoder, `lora` trains a peft adapter on it (a small
file to ship), `head` trains a linear map on cached embeddings (minutes on a CPU). CUDA with
bf16 autocast when present; several GPUs through torchrun (DistributedDataParallel). Each step's
batch and dropout are seeded from (seed, step, rank), so a resumed run repeats the steps an
uninterrupted one would have taken. Checkpoints hold only tensors and plain values and load with
`weights_only=True`.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from univar import encoders, paths
from univar.errors import UserError
from univar.paths import Db
from univar.progress import Listener
from univar.training import distributed
from univar.training.loop import CHECKPOINT, CURVE_FILE
from univar.training.sampler import steps_per_epoch
from univar.training.settings import TrainConfig

if TYPE_CHECKING:
    from univar.policy import Policy

# Seconds per view on the project's 2 shared CPU cores (load average 3-15), max_seq_length 128:
# bench/bench_train.py and the shipped encoder's run. An idle machine is several times faster.
CPU_SECONDS_PER_VIEW = {"full": 0.35, "lora": 0.4, "head": 0.0005}
CPU_EMBED_QAS_PER_S = 15.0  # MiniLM on real answers, uncached (head mode's first pass)


def estimate(cfg: TrainConfig, n_qas: int) -> dict:
    """Steps and CPU seconds a run will take, from throughput measured on this machine."""
    per_epoch = steps_per_epoch(n_qas, cfg.batch_size // 2, cfg.lam)
    steps = cfg.steps or max(1, math.ceil(cfg.n_epochs * per_epoch))
    seconds = steps * cfg.batch_size * CPU_SECONDS_PER_VIEW[cfg.mode]
    if cfg.mode == "head":
        seconds += n_qas / CPU_EMBED_QAS_PER_S  # an upper bound: cached vectors cost nothing
    return {"steps": steps, "steps_per_epoch": per_epoch, "cpu_seconds": seconds}


def runs_root(policy: Policy | None = None) -> Path:
    """Where trained encoders go: out/encoders/, or the data folder's encoders/ on a shared
    server (its users may write nowhere else)."""
    if policy is not None and policy.shared:
        return policy.data_dir / "encoders"
    return paths.PROJECT_ROOT / "out" / "encoders"


def default_out(cfg: TrainConfig, root=None) -> Path:
    """A fresh directory under `root` (out/encoders/) named by mode, lambda and time."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    return Path(root or runs_root()) / f"{cfg.mode}-lambda{cfg.lam}-{stamp}"


def trained_runs(root=None, shipped: bool = True) -> list[Path]:
    """Finished trained encoders under out/encoders/ (newest first), then the shipped one."""
    root = Path(root) if root else runs_root()
    found = [p.parent for p in root.glob(f"*/{encoders.TRAINED_MARKER}")] if root.is_dir() else []
    found.sort(key=lambda p: p.stat().st_mtime, reverse=True)
    ship = encoders.shipped_encoder() if shipped else None
    return found + ([ship] if ship else [])


def read_record(path) -> dict:
    """A trained encoder's univar_encoder.json: how, on what and where it was trained."""
    return json.loads((Path(path) / encoders.TRAINED_MARKER).read_text(encoding="utf-8"))


def read_curve(out) -> list[dict]:
    path = Path(out) / CURVE_FILE
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else []


def check_out(out, resume: bool, policy: Policy | None = None) -> Path:
    """Refuse to overwrite a finished or interrupted run unless resuming it, and (with a shared
    server's policy) a folder outside its data folder; returns the folder to write."""
    out = policy.resolve_inside(out, "output folder") if policy is not None else Path(out)
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out} is a file, not a directory")
    has_run = (out / CHECKPOINT).exists() or (out / encoders.TRAINED_MARKER).exists()
    if resume and not (out / CHECKPOINT).exists():
        raise UserError(f"--resume: {out} holds no checkpoint to resume from")
    if has_run and not resume:
        raise UserError(f"{out} already holds a training run: pass --resume or pick a new --out")
    return out


def train(
    cfg: TrainConfig,
    out,
    db: Db = None,
    *,
    resume: bool = False,
    progress: Listener[dict] | None = None,
    should_stop: Callable[[], bool] | None = None,
    show_bar: bool = False,
) -> dict:
    """Train into `out` and return its univar_encoder.json record (status 'stopped' if asked)."""
    from univar.training import loop

    out = check_out(out, resume)
    with distributed.distributed() as dist:
        return loop.run(
            cfg,
            out,
            db,
            dist,
            resume=resume,
            progress=progress,
            should_stop=should_stop,
            show_bar=show_bar,
        )


class TrainJob:
    """A training run in a background thread, for the page: poll `snapshot()`, `stop()` it."""

    def __init__(
        self,
        cfg: TrainConfig,
        out,
        db: Db = None,
        resume: bool = False,
        policy: Policy | None = None,
    ):
        import threading

        self.cfg, self.db, self.resume = cfg, db, resume
        self.out = check_out(out, resume, policy)
        self._lock = threading.Lock()
        self._state: dict = {"stage": "starting", "step": 0, "total": 0, "curve": []}
        self._stop = threading.Event()
        self.result: dict | None = None
        self.error: str | None = None
        self._thread = threading.Thread(target=self._run, name="univar-train", daemon=True)
        self.started = time.time()
        self._thread.start()

    def _progress(self, info: dict) -> None:
        with self._lock:
            curve = self._state["curve"]
            # later stages repeat the last loss: only a step adds a point
            if info.get("stage") == "training" and info.get("loss") is not None:
                curve.append({"step": info["step"], "loss": info["loss"]})
            self._state = {**info, "curve": curve}

    def _run(self) -> None:
        try:
            self.result = train(
                self.cfg,
                self.out,
                self.db,
                resume=self.resume,
                progress=self._progress,
                should_stop=self._stop.is_set,
            )
        except Exception as exc:  # the page shows it; the thread must not die silently
            self.error = (
                f"{type(exc).__name__}: {exc}" if not isinstance(exc, UserError) else str(exc)
            )

    def stop(self) -> None:
        self._stop.set()

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def snapshot(self) -> dict:
        with self._lock:
            return {
                **self._state,
                "curve": list(self._state["curve"]),
                "running": self.running,
                "error": self.error,
                "result": self.result,
            }
