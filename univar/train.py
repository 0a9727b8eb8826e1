"""Train a UniVaR value encoder: multi-view contrastive learning on the QA pairs in the store.

Modes: `full` fine-tunes the whole sentence encoder, `lora` trains a peft adapter on it (a small
file to ship), `head` trains a linear map on cached embeddings (minutes on a CPU). CUDA with
bf16 autocast when present; several GPUs through torchrun (DistributedDataParallel). Each step's
batch and dropout are seeded from (seed, step, rank), so a resumed run repeats the steps an
uninterrupted one would have taken. Checkpoints hold only tensors and plain values and load with
`weights_only=True`.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from univar import embed
from univar.config import stable_hash
from univar.errors import UserError
from univar.losses import LOSSES
from univar.train_loop import CHECKPOINT, CURVE_FILE
from univar.train_models import (  # noqa: F401 (public API)
    MODES,
    TrainedEncoder,
    load_trained,
    trained_id,
)
from univar.views import (  # noqa: F401 (public API)
    Split,
    dataset_sizes,
    load_value_fulcra,
    steps_per_epoch,
)

DEFAULT_LR = {"full": 3e-5, "lora": 5e-4, "head": 1e-3}
# A head sees cheap steps and needs many; a transformer learns in about one pass (the paper: 3).
DEFAULT_EPOCHS = {"full": 1.0, "lora": 1.0, "head": 50.0}

Progress = Callable[[dict], None]


@dataclass(frozen=True)
class TrainConfig:
    """Everything that changes the trained weights. `epochs`/`steps` may grow on --resume."""

    mode: str = "lora"
    lam: int = 5  # most QAs in one view (the paper's lambda)
    epochs: float | None = None  # one epoch draws about every training QA once; None: by mode
    steps: int | None = None  # overrides epochs
    batch_size: int = 32  # views per step: two per identity picked
    lr: float | None = None  # None: DEFAULT_LR of the mode
    temperature: float = 0.05
    loss: str = "multipos"  # multipos | infonce
    symmetric: bool = True  # infonce only: both directions
    weight_decay: float = 0.01
    warmup: float = 0.1  # fraction of steps
    base: str = embed.DEFAULT_ENCODER
    max_seq_length: int = 128
    datasets: tuple[str, ...] = ()
    split: str | None = None  # hold out a split's test part: None | random | question
    holdout_fraction: float = 0.2
    seed: int = 0
    lora_r: int = 16
    lora_alpha: int = 32
    checkpoint_every: int = 0  # steps; 0: at the end of each epoch

    def __post_init__(self):
        checks = [
            (self.mode in MODES, f"mode must be full, lora or head, got {self.mode!r}"),
            (1 <= self.lam <= 256, f"lambda must be in [1, 256], got {self.lam}"),
            (0 < self.n_epochs <= 1000, f"epochs must be in (0, 1000], got {self.epochs}"),
            (self.steps is None or self.steps >= 1, f"steps must be >= 1, got {self.steps}"),
            (
                4 <= self.batch_size <= 4096,
                f"batch size must be in [4, 4096], got {self.batch_size}",
            ),
            (self.batch_size % 2 == 0, f"batch size must be even, got {self.batch_size}"),
            (self.lr is None or 0 < self.lr < 1, f"lr must be in (0, 1), got {self.lr}"),
            (0 < self.temperature <= 10, f"temperature must be in (0, 10], got {self.temperature}"),
            (self.loss in LOSSES, f"loss must be multipos or infonce, got {self.loss!r}"),
            (0 <= self.warmup < 1, f"warmup must be in [0, 1), got {self.warmup}"),
            (16 <= self.max_seq_length <= 8192, "max sequence length must be in [16, 8192]"),
            (self.split in (None, "random", "question"), f"unknown split {self.split!r}"),
            (self.checkpoint_every >= 0, "checkpoint_every must be >= 0"),
        ]
        for ok, message in checks:
            if not ok:
                raise UserError(message)
        if self.split:
            self.held_out()  # validates the fraction

    @property
    def n_epochs(self) -> float:
        return self.epochs if self.epochs is not None else DEFAULT_EPOCHS.get(self.mode, 1.0)

    @property
    def learning_rate(self) -> float:
        return self.lr if self.lr is not None else DEFAULT_LR[self.mode]

    def held_out(self) -> Split | None:
        return Split(self.split, self.holdout_fraction, self.seed) if self.split else None

    def weights_key(self) -> str:
        """Hash of what must match to resume: all but the length of the run."""
        return stable_hash({**dataclasses.asdict(self), "epochs": None, "steps": None})


def cuda_info() -> dict:
    """What the page shows before a run: is there a GPU, which one."""
    import torch

    if not torch.cuda.is_available():
        return {"cuda": False, "devices": 0, "name": None}
    return {
        "cuda": True,
        "devices": torch.cuda.device_count(),
        "name": torch.cuda.get_device_name(0),
    }


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


def default_out(cfg: TrainConfig) -> Path:
    """A fresh directory under out/encoders/ named by mode, lambda and time."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    return embed.PROJECT_ROOT / "out" / "encoders" / f"{cfg.mode}-lambda{cfg.lam}-{stamp}"


def trained_runs(root=None, shipped: bool = True) -> list[Path]:
    """Finished trained encoders under out/encoders/ (newest first), then the shipped one."""
    root = Path(root) if root else embed.PROJECT_ROOT / "out" / "encoders"
    found = [p.parent for p in root.glob(f"*/{embed.TRAINED_MARKER}")] if root.is_dir() else []
    found.sort(key=lambda p: p.stat().st_mtime, reverse=True)
    ship = embed.shipped_encoder() if shipped else None
    return found + ([ship] if ship else [])


def read_record(path) -> dict:
    """A trained encoder's univar_encoder.json: how, on what and where it was trained."""
    return json.loads((Path(path) / embed.TRAINED_MARKER).read_text(encoding="utf-8"))


def read_curve(out) -> list[dict]:
    path = Path(out) / CURVE_FILE
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else []


def check_out(out, resume: bool) -> Path:
    """Refuse to overwrite a finished or interrupted run unless resuming it."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out} is a file, not a directory")
    has_run = (out / CHECKPOINT).exists() or (out / embed.TRAINED_MARKER).exists()
    if resume and not (out / CHECKPOINT).exists():
        raise UserError(f"--resume: {out} holds no checkpoint to resume from")
    if has_run and not resume:
        raise UserError(f"{out} already holds a training run: pass --resume or pick a new --out")
    return out


def train(
    cfg: TrainConfig,
    out,
    db=None,
    *,
    resume: bool = False,
    progress: Progress | None = None,
    should_stop: Callable[[], bool] | None = None,
    show_bar: bool = False,
) -> dict:
    """Train into `out` and return its univar_encoder.json record (status 'stopped' if asked)."""
    from univar import train_loop

    out = check_out(out, resume)
    with train_loop.distributed() as dist:
        return train_loop.run(
            cfg, out, db, dist, resume=resume, progress=progress, should_stop=should_stop,
            show_bar=show_bar,
        )  # fmt: skip


class TrainJob:
    """A training run in a background thread, for the page: poll `snapshot()`, `stop()` it."""

    def __init__(self, cfg: TrainConfig, out, db=None, resume: bool = False):
        import threading

        self.cfg, self.out, self.db, self.resume = cfg, Path(out), db, resume
        check_out(self.out, resume)
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
            if info.get("loss") is not None:
                curve.append({"step": info["step"], "loss": info["loss"]})
            self._state = {**info, "curve": curve}

    def _run(self) -> None:
        try:
            self.result = train(
                self.cfg, self.out, self.db, resume=self.resume, progress=self._progress,
                should_stop=self._stop.is_set,
            )  # fmt: skip
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
            return {**self._state, "curve": list(self._state["curve"]), "running": self.running,
                    "error": self.error, "result": self.result}  # fmt: skip


def environment() -> dict:
    """The machine a run used, for the encoder's record."""
    import platform

    import torch

    info = cuda_info()
    return {
        "device": info["name"] or "cpu",
        "gpus": info["devices"],
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "platform": platform.platform(),
        "world_size": int(os.environ.get("WORLD_SIZE", "1")),
    }
