"""The settings of one training run: everything that changes the trained weights.

Frozen and validated on creation; the CLI's flags and the Train page's widgets start from its
defaults. `epochs`/`steps` may grow on resume.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from univar import encoders
from univar.config import stable_hash
from univar.encoders.trained import MODES
from univar.errors import UserError
from univar.quality.filter import QualityFilter
from univar.training.losses import LOSSES
from univar.training.splits import DEFAULT_FOLDS, SPLITS, Split

DEFAULT_LR = {"full": 3e-5, "lora": 5e-4, "head": 1e-3}


# A head sees cheap steps and needs many. LoRA: 4 epochs is the best recipe measured on Value
# FULCRA's question and unseen-model splits (docs/encoder-card.md; 1 epoch: 57.4% vs 69.9% k-NN).
DEFAULT_EPOCHS = {"full": 1.0, "lora": 4.0, "head": 50.0}


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
    base: str = encoders.DEFAULT_ENCODER
    max_seq_length: int = 128
    datasets: tuple[str, ...] = ()
    # datasets whose QA pairs all join the training set: no split holds any of them out, so
    # `evaluate --split` on `datasets` still measures what the encoder never saw
    also_train: tuple[str, ...] = ()
    split: str | None = None  # hold out a split's test part: None | random | question | model
    holdout_fraction: float = 0.2
    seed: int = 0
    folds: int = DEFAULT_FOLDS  # model split: the models are dealt into this many folds
    fold: int = 0  # model split: every QA of this fold's models is held out
    lora_r: int = 16
    lora_alpha: int = 32
    checkpoint_every: int = 0  # steps; 0: at the end of each epoch
    quality: QualityFilter = QualityFilter()  # by default flagged QA pairs are left out

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
            (self.split in (None, *SPLITS), f"unknown split {self.split!r}"),
            (self.checkpoint_every >= 0, "checkpoint_every must be >= 0"),
        ]
        for ok, message in checks:
            if not ok:
                raise UserError(message)
        both = sorted(set(self.also_train) & set(self.datasets))
        if both:
            raise UserError(f"dataset {both[0]!r} is both split and trained on whole")
        if self.also_train and not self.datasets:
            raise UserError("also_train needs the datasets the split applies to")
        defaults = (type(self).fold, type(self).folds)
        if self.split != "model" and (self.fold, self.folds) != defaults:
            raise UserError("fold and folds apply to the model split only")
        if self.split:
            self.held_out()  # validates the fraction, and a model split's fold

    @property
    def n_epochs(self) -> float:
        return self.epochs if self.epochs is not None else DEFAULT_EPOCHS.get(self.mode, 1.0)

    @property
    def learning_rate(self) -> float:
        return self.lr if self.lr is not None else DEFAULT_LR[self.mode]

    def held_out(self) -> Split | None:
        if self.split == "model":
            return Split(self.split, self.holdout_fraction, self.seed, self.folds, self.fold)
        return Split(self.split, self.holdout_fraction, self.seed) if self.split else None

    def weights_key(self) -> str:
        """Hash of what must match to resume: all but the length of the run."""
        key = {**dataclasses.asdict(self), "epochs": None, "steps": None}
        if not self.also_train:  # runs from before it existed must still resume
            del key["also_train"]
        if self.split != "model":
            # runs from before model splits existed must still resume
            del key["folds"], key["fold"]
        return stable_hash(key)
