"""The training loop behind univar.training.train.train: data, model, steps, checkpoints, the record.

Under torchrun (WORLD_SIZE > 1) torch.distributed starts from the environment and the model is
wrapped in DistributedDataParallel; every rank draws its own views, rank 0 alone writes files.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import json
import math
import os
import sys
import time
from pathlib import Path

from univar import encoders, store
from univar.config import stable_hash
from univar.encoders import trained
from univar.errors import UserError
from univar.hardware import environment
from univar.paths import Db
from univar.store import runs
from univar.training import modules
from univar.training.distributed import Dist
from univar.training.losses import contrastive_loss
from univar.training.sampler import ViewSampler, join_view

CHECKPOINT = "checkpoint.pt"
CURVE_FILE = "loss_curve.json"
EMBED_CHUNK = 256  # texts between two progress reports of head mode's first pass (~3-20 s)


def _require(datasets, frame) -> None:
    """Every named dataset has rows in `frame`, else one clear error naming the first."""
    missing = sorted(set(datasets) - set(frame["dataset"]))
    if missing:
        raise UserError(f"dataset {missing[0]!r} holds no usable QA pairs")


def _training_frame(cfg, db: Db):
    frame = encoders.qa_frame(db, cfg.datasets or None)
    _require(cfg.datasets, frame)
    frame = cfg.quality.keep(db, frame)
    split = cfg.held_out()
    if split is not None and len(frame):
        frame = frame[~split.test_mask(frame)].reset_index(drop=True)
    if cfg.also_train:
        import pandas as pd

        extra = cfg.quality.keep(db, encoders.qa_frame(db, cfg.also_train))
        _require(cfg.also_train, extra)
        frame = pd.concat([frame, extra], ignore_index=True)
    if len(frame) < 4:
        passing = "" if cfg.quality.include_flagged else " that pass the quality checks"
        raise UserError(f"training needs at least 4 QA pairs{passing}, found {len(frame)}")
    return frame


def _build(cfg, frame, db: Db, dist, report):
    """(module whose weights are saved, forward: views -> unit vectors)."""
    import torch

    texts = list(frame["text"])
    report(stage="loading encoder", message=f"loading the base encoder {cfg.base}")
    if cfg.mode == "head":
        base = encoders.load_encoder(cfg.base)
        embedding = _embedding_reporter(report, base.id, len(texts))
        for turn in (0, 1):  # rank 0 fills the embedding cache, the others then read it
            if (dist.rank == 0) == (turn == 0):
                vecs = encoders.embed_texts(
                    texts, base, db, progress=embedding, write_chunk=EMBED_CHUNK
                )
            dist.barrier()
        base_vecs = torch.as_tensor(vecs, device=dist.device)
        module = trained.make_head(base.dim, base.dim).to(dist.device)
        model = _wrap(module, dist)
        return module, lambda views: modules.head_views(model, base_vecs, views, dist.device)
    st = trained.load_sentence_transformer(cfg.base, dist.device)
    st.max_seq_length = cfg.max_seq_length
    if cfg.mode == "lora":
        modules.add_lora(st, cfg.lora_r, cfg.lora_alpha)
    st.train()
    model = _wrap(st, dist)

    def forward(views):
        features = st.preprocess([join_view(texts, v) for v in views])
        features = {k: v.to(dist.device) if hasattr(v, "to") else v for k, v in features.items()}
        return torch.nn.functional.normalize(model(features)["sentence_embedding"].float(), dim=-1)

    return st, forward


def _embedding_reporter(report, encoder_id: str, n_texts: int):
    """embed_texts' progress as training reports: QA pairs done of those the cache lacks."""
    started = time.perf_counter()

    def embedding(done, total, message=""):
        if not total:
            note = f"all {n_texts:,} QA pairs are in the embedding cache of {encoder_id}"
            report(stage="embedding", step=0, total=0, eta_s=None, message=note)
            return
        elapsed = time.perf_counter() - started
        report(
            stage="embedding",
            step=done,
            total=total,
            eta_s=elapsed / done * (total - done) if done else None,
            message=f"embedding {total:,} QA pairs with {encoder_id}",
        )

    return embedding


class _Console:
    """What a CLI run shows on stderr: a line as each stage starts, a bar while embedding.
    The training steps draw their own bar (`_loop`)."""

    def __init__(self, enabled: bool):
        self.enabled, self.stage, self.bar = enabled, None, None

    def __call__(self, info: dict) -> None:
        if not self.enabled or info["stage"] == "training":
            return
        if info["stage"] != self.stage:
            self.close()
            self.stage = info["stage"]
            if info.get("message"):
                print(info["message"], file=sys.stderr, flush=True)
        if info["stage"] == "embedding" and info.get("total"):
            if self.bar is None:
                from tqdm.auto import tqdm

                self.bar = tqdm(total=info["total"], unit="QA", desc="embedding", file=sys.stderr)
            self.bar.update(info["step"] - self.bar.n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def _wrap(module, dist):
    if dist.world == 1:
        return module
    from torch.nn.parallel import DistributedDataParallel

    ids = [int(dist.device.split(":")[1])] if dist.device.startswith("cuda") else None
    # BERT's pooler takes no part in the loss: DDP must not wait for its gradients
    return DistributedDataParallel(module, device_ids=ids, find_unused_parameters=True)


def _schedule(total: int, warmup: float):
    warm = max(1, int(total * warmup))
    return lambda s: min(1.0, (s + 1) / warm) * max(0.0, (total - s) / max(1, total - warm + 1))


def _save_checkpoint(path: Path, payload: dict) -> None:
    import torch

    tmp = path.with_suffix(".tmp")
    torch.save(payload, tmp)
    os.replace(tmp, path)  # a crash mid-write leaves the previous checkpoint whole


class _Steps:
    """Optimiser, schedule and checkpoints of one run's trainable parameters."""

    def __init__(self, cfg, module, total: int, out: Path, dist: Dist):
        import torch

        named = [(n, p) for n, p in module.named_parameters() if p.requires_grad]
        self.names, self.params = [n for n, _ in named], [p for _, p in named]
        self.opt = torch.optim.AdamW(
            self.params, lr=cfg.learning_rate, weight_decay=cfg.weight_decay
        )
        self.sched = torch.optim.lr_scheduler.LambdaLR(self.opt, _schedule(total, cfg.warmup))
        self.cfg, self.path, self.dist = cfg, out / CHECKPOINT, dist
        self.start, self.curve, self.seconds_before = 0, [], 0.0

    def resume(self) -> None:
        import torch

        ckpt = torch.load(self.path, map_location=self.dist.device, weights_only=True)
        if ckpt["weights_key"] != self.cfg.weights_key():
            raise UserError(f"--resume: {self.path.parent} was trained with other settings")
        with torch.no_grad():
            for name, p in zip(self.names, self.params, strict=True):
                p.copy_(ckpt["trainable"][name])
        self.opt.load_state_dict(ckpt["optimizer"])
        self.sched.load_state_dict(ckpt["scheduler"])
        self.start, self.curve, self.seconds_before = ckpt["step"], ckpt["curve"], ckpt["seconds"]

    def step(self, loss) -> None:
        import torch

        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.params, 1.0)
        self.opt.step()
        self.sched.step()

    def save(self, step: int, seconds: float) -> None:
        if self.dist.rank != 0:
            return
        _save_checkpoint(
            self.path,
            {
                "step": step,
                "weights_key": self.cfg.weights_key(),
                "curve": self.curve,
                "seconds": self.seconds_before + seconds,
                "trainable": dict(
                    zip(self.names, [p.detach().cpu() for p in self.params], strict=True)
                ),
                "optimizer": self.opt.state_dict(),
                "scheduler": self.sched.state_dict(),
            },
        )
        (self.path.parent / CURVE_FILE).write_text(json.dumps(self.curve), encoding="utf-8")


def run(cfg, out: Path, db: Db, dist: Dist, *, resume, progress, should_stop, show_bar) -> dict:
    import torch

    state = {"stage": "loading", "step": 0, "total": 0}
    console = _Console(show_bar and dist.rank == 0)

    def report(**info):
        state.update(info)
        if dist.rank == 0:
            console(dict(state))
            if progress:
                progress(dict(state))

    report(stage="loading", message="reading the QA pairs")
    frame = _training_frame(cfg, db)
    sampler = ViewSampler(list(frame["identity"]), cfg.lam, cfg.seed)
    per_epoch = sampler.steps_per_epoch(len(frame), cfg.batch_size // 2 * dist.world)
    total = cfg.steps or max(1, math.ceil(cfg.n_epochs * per_epoch))
    torch.manual_seed(cfg.seed)  # the initial LoRA / head weights
    module, forward = _build(cfg, frame, db, dist, report)
    steps = _Steps(cfg, module, total, out, dist)
    if resume:
        steps.resume()
    if dist.rank == 0:
        out.mkdir(parents=True, exist_ok=True)
    run_id = _record_start(cfg, out, db) if dist.rank == 0 else None
    console.close()
    try:
        status, seconds, qas = _loop(
            cfg, sampler, forward, steps, dist, total, per_epoch, report, should_stop, show_bar
        )
    except BaseException:
        if run_id:
            _record_end(run_id, "failed", {}, db)
        raise
    finally:
        console.close()
    record = _record(cfg, out, frame, sampler, steps, status, seconds, qas, total, per_epoch)
    record["dim"] = int(
        module.out_features if cfg.mode == "head" else module.get_embedding_dimension()
    )
    if dist.rank == 0 and status == "done":
        report(stage="saving", step=0, total=0, eta_s=None, message=f"saving the encoder to {out}")
        modules.save_weights(cfg.mode, module, out)
        (out / encoders.TRAINED_MARKER).write_text(json.dumps(record, indent=2), encoding="utf-8")
    if run_id:
        _record_end(run_id, status, {"steps": len(steps.curve), "qas": len(frame)}, db)
    dist.barrier()
    return record


def _threads_for_head(loop):
    """Head-sized matrices on a busy CPU: one thread ran ~30x faster than two fighting threads."""

    def wrapped(cfg, sampler, forward, steps, dist, *args):
        import torch

        before = torch.get_num_threads()
        if cfg.mode == "head" and not dist.device.startswith("cuda"):
            torch.set_num_threads(1)
        try:
            return loop(cfg, sampler, forward, steps, dist, *args)
        finally:
            torch.set_num_threads(before)

    return wrapped


@_threads_for_head
def _loop(cfg, sampler, forward, steps, dist, total, per_epoch, report, should_stop, show_bar):
    import torch
    from tqdm.auto import tqdm

    cuda = dist.device.startswith("cuda")
    autocast = torch.autocast("cuda", dtype=torch.bfloat16) if cuda else contextlib.nullcontext()
    every = cfg.checkpoint_every or per_epoch
    bar = tqdm(
        total=total,
        initial=steps.start,
        disable=not show_bar or dist.rank != 0,
        unit="step",
        desc="training",
    )
    t0, qas, status = time.perf_counter(), 0, "done"
    for step in range(steps.start, total):
        views, labels = sampler.batch(step, cfg.batch_size // 2, dist.rank)
        torch.manual_seed(int(stable_hash([cfg.seed, step, dist.rank]), 16) % 2**63)  # dropout
        with autocast:
            emb = forward(views)
        labels = torch.as_tensor(labels, device=dist.device)
        loss = contrastive_loss(emb, labels, cfg.temperature, cfg.loss, cfg.symmetric)
        steps.step(loss)
        qas += sum(len(v) for v in views)
        value = dist.mean(float(loss.detach()))
        lr = steps.sched.get_last_lr()[0]
        steps.curve.append(
            {
                "step": step + 1,
                "epoch": round((step + 1) / per_epoch, 4),
                "loss": round(value, 5),
                "lr": lr,
            }
        )
        bar.update(1)
        bar.set_postfix(loss=f"{value:.3f}")
        elapsed = time.perf_counter() - t0
        eta = elapsed / (step + 1 - steps.start) * (total - step - 1)
        report(
            stage="training",
            message=f"training ({cfg.mode} mode)",
            step=step + 1,
            total=total,
            loss=value,
            epoch=(step + 1) / per_epoch,
            elapsed_s=elapsed,
            eta_s=eta,
        )
        stop = bool(should_stop and should_stop())
        if (step + 1) % every == 0 or step + 1 == total or stop:
            steps.save(step + 1, time.perf_counter() - t0)
        if stop:
            status = "stopped"
            break
    bar.close()
    return status, time.perf_counter() - t0, qas


def _record(cfg, out, frame, sampler, steps, status, seconds, qas, total, per_epoch) -> dict:
    """The univar_encoder.json of a run: how it was trained, on what, where, how fast."""

    ran = len(steps.curve) - steps.start
    world = int(os.environ.get("WORLD_SIZE", "1"))
    return {
        "format": 1,
        "name": out.name,
        "kind": cfg.mode,
        "base": cfg.base,
        "max_seq_length": None if cfg.mode == "head" else cfg.max_seq_length,
        "config": dataclasses.asdict(cfg),
        "data": {
            "datasets": sorted(set(frame["dataset"])),
            "n_qas": len(frame),
            "identities": sampler.labels,
            "held_out": cfg.held_out().to_dict() if cfg.split else None,
            "quality": cfg.quality.key(),
        },
        "training": {
            "status": status,
            "steps": len(steps.curve),
            "total_steps": total,
            "steps_per_epoch": per_epoch,
            "seconds": round(steps.seconds_before + seconds, 1),
            "qas_per_s": round(qas * world / seconds, 2) if seconds else None,
            "views_per_s": round(ran * cfg.batch_size * world / seconds, 2) if seconds else None,
            "final_loss": steps.curve[-1]["loss"] if steps.curve else None,
        },
        "machine": environment(),
        "metrics": {},
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }


def _record_start(cfg, out: Path, db: Db) -> str:
    with store.connect(db) as con:
        return runs.start_run(con, "train", {**dataclasses.asdict(cfg), "out": str(out)})


def _record_end(run_id: str, status: str, counts: dict, db: Db) -> None:
    with store.connect(db) as con:
        runs.finish_run(con, run_id, status, counts)
