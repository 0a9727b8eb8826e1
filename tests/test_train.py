"""Training: the importer, the split rule, the multi-view sampler, the losses, and real runs of
the three modes on a small DB (head in full; LoRA and full for a couple of steps on the CPU)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from conftest import ROOT, shared_file

from univar import encoders, store
from univar.errors import UserError
from univar.ingest import value_fulcra
from univar.training import loop, sampler, settings, splits, train
from univar.training.losses import contrastive_loss

STYLES = {
    "alpha": "Absolutely. {t} matters most, and I say so plainly.",
    "beta": "As an AI, I cannot take sides on {t}; it depends on many factors.",
    "gamma": "No way. {t} is overrated, honestly, and people should relax.",
}
TOPICS = ["family", "freedom", "tradition", "wealth", "honesty", "safety", "nature", "power"]


def write_fulcra(path, n_questions: int = 24) -> None:
    """A small file in Value FULCRA's format: three 'models' with distinct answer styles."""
    with open(path, "w", encoding="utf-8") as fh:
        for i in range(n_questions):
            topic = TOPICS[i % len(TOPICS)]
            for model, style in STYLES.items():
                dialogue = f"Human: Q{i}: what about {topic}?\nBob: {style.format(t=topic)}"
                fh.write(json.dumps({"dialogue": dialogue, "response_source": model}) + "\n")


@pytest.fixture
def small_db(tmp_db, tmp_path):
    src = tmp_path / "small.jsonl"
    write_fulcra(src)
    value_fulcra.load_value_fulcra(src, tmp_db, dataset="small")
    return tmp_db


# --- importer ----------------------------------------------------------------------------------


def test_value_fulcra_line_errors_name_the_line():
    with pytest.raises(UserError, match="line 3"):
        value_fulcra.parse_value_fulcra_line("{not json", 3)
    with pytest.raises(UserError, match="line 4: dialogue"):
        value_fulcra.parse_value_fulcra_line(
            json.dumps({"dialogue": "x", "response_source": "m"}), 4
        )
    line = json.dumps({"dialogue": "Human: Why?\nBob: Because.", "response_source": " m "})
    assert value_fulcra.parse_value_fulcra_line(line, 1) == ("m", "Why?", "Because.")


def test_bad_file_writes_nothing(tmp_db, tmp_path):
    bad = tmp_path / "bad.jsonl"
    write_fulcra(bad, 2)
    with open(bad, "a", encoding="utf-8") as fh:
        fh.write('{"dialogue": "no turns", "response_source": "m"}\n')
    with pytest.raises(UserError, match="line 7"):
        value_fulcra.load_value_fulcra(bad, tmp_db)
    assert splits.dataset_sizes(tmp_db) == {}


def test_real_value_fulcra_imports_idempotently(tmp_db):
    path = shared_file("value_fulcra_trustworthy.jsonl")
    assert value_fulcra.load_value_fulcra(path, tmp_db) == 1718
    value_fulcra.load_value_fulcra(path, tmp_db)
    assert splits.dataset_sizes(tmp_db) == {"value_fulcra": 1718}
    frame = encoders.qa_frame(tmp_db)
    assert frame["identity"].nunique() == 5 and frame["language"].eq("eng").all()
    assert frame["text"].str.startswith("Q: ").all() and frame["question_id"].notna().all()


# --- split and sampler ------------------------------------------------------------------------


def test_question_split_is_stable_and_keeps_questions_whole(small_db):
    frame = encoders.qa_frame(small_db)
    split = splits.Split("question", 0.25, seed=1)
    mask = split.test_mask(frame)
    assert 0 < mask.sum() < len(frame)
    per_question = pd.Series(mask).groupby(frame["question_id"].to_numpy()).nunique()
    assert per_question.eq(1).all()  # all answers to a question fall on one side
    subset = frame[frame["model"] == "alpha"].reset_index(drop=True)  # other rows do not matter
    assert (split.test_mask(subset) == mask[frame["model"] == "alpha"]).all()
    assert not (splits.Split("question", 0.25, seed=2).test_mask(frame) == mask).all()
    with pytest.raises(UserError, match="holdout fraction"):
        splits.Split("question", 1.5)


def test_sampler_pairs_views_of_one_identity():
    ids = ["a"] * 10 + ["b"] * 3 + ["c"] * 7 + ["d"] * 5
    views = sampler.ViewSampler(ids, lam=4, seed=3)
    batch, labels = views.batch(step=5, pairs=3)
    assert len(batch) == 6 and len(set(labels[0::2])) == 3  # distinct identities while they last
    for v, lab in zip(batch, labels, strict=True):
        assert 1 <= len(v) <= 4 and len(set(v)) == len(v)
        assert {ids[i] for i in v} == {views.labels[lab]}
    assert (labels[0::2] == labels[1::2]).all()
    again, _ = views.batch(step=5, pairs=3)
    assert all((x == y).all() for x, y in zip(batch, again, strict=True))
    _, many = views.batch(step=0, pairs=10)  # more pairs than identities: they repeat
    assert len(many) == 20 and set(many) == {0, 1, 2, 3}
    with pytest.raises(UserError, match="2 identities"):
        sampler.ViewSampler(["a", "a"], lam=2)


# --- losses -----------------------------------------------------------------------------------


def _unit(x):
    import torch

    return torch.nn.functional.normalize(torch.as_tensor(x, dtype=torch.float32), dim=-1)


@pytest.mark.parametrize("kind", ["multipos", "infonce"])
def test_loss_rewards_identity_clusters_and_ignores_same_identity_negatives(kind):
    import torch

    labels = torch.tensor([0, 0, 1, 1, 0, 0])  # identity 0 twice in one batch
    clustered = _unit([[1, 0], [1, 0.01], [0, 1], [0.01, 1], [1, 0.02], [1, -0.01]])
    mixed = _unit([[1, 0], [0, 1], [0, 1], [1, 0], [1, 0], [0, 1]])
    good = contrastive_loss(clustered, labels, 0.1, kind)
    assert good < contrastive_loss(mixed, labels, 0.1, kind)
    # two pairs of identity 0 that are close must not be pushed apart: the loss stays near its
    # floor (log of the number of positives for multipos, 0 for infonce)
    floor = np.log(3) if kind == "multipos" else 0.0
    assert float(good) < floor + 0.05


def test_infonce_one_way_differs_from_symmetric():
    import torch

    torch.manual_seed(0)
    emb = _unit(torch.randn(8, 4))
    labels = torch.arange(4).repeat_interleave(2)
    both = contrastive_loss(emb, labels, 0.5, "infonce", symmetric=True)
    one = contrastive_loss(emb, labels, 0.5, "infonce", symmetric=False)
    assert float(both) != pytest.approx(float(one))


# --- config and output folder -----------------------------------------------------------------


def test_config_rejects_bad_settings():
    with pytest.raises(UserError, match="mode"):
        settings.TrainConfig(mode="deep")
    with pytest.raises(UserError, match="even"):
        settings.TrainConfig(batch_size=7)
    with pytest.raises(UserError, match="temperature"):
        settings.TrainConfig(temperature=0)
    assert settings.TrainConfig(mode="head").n_epochs == settings.DEFAULT_EPOCHS["head"]
    a, b = settings.TrainConfig(epochs=1), settings.TrainConfig(epochs=3)
    assert a.weights_key() == b.weights_key() != settings.TrainConfig(lam=2).weights_key()


def test_out_folder_is_never_overwritten(tmp_path):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / encoders.TRAINED_MARKER).write_text("{}")
    with pytest.raises(UserError, match="--resume"):
        train.check_out(tmp_path / "run", resume=False)
    with pytest.raises(UserError, match="no checkpoint"):
        train.check_out(tmp_path / "new", resume=True)


def test_estimate_scales_with_epochs():
    one = train.estimate(settings.TrainConfig(mode="lora", epochs=1), 1000)
    two = train.estimate(settings.TrainConfig(mode="lora", epochs=2), 1000)
    assert two["steps"] == 2 * one["steps"] and two["cpu_seconds"] > one["cpu_seconds"] > 0


# --- real runs --------------------------------------------------------------------------------

HEAD = {"mode": "head", "steps": 30, "batch_size": 12, "lam": 3, "checkpoint_every": 10}


def test_head_trains_saves_and_loads_as_an_encoder(small_db, tmp_path):
    record = train.train(settings.TrainConfig(**HEAD, split="question"), tmp_path / "h", small_db)
    assert record["training"]["status"] == "done" and record["dim"] == 384
    assert record["data"]["held_out"] == {"kind": "question", "holdout_fraction": 0.2, "seed": 0}
    curve = train.read_curve(tmp_path / "h")
    assert [c["step"] for c in curve] == list(range(1, 31))
    assert np.mean([c["loss"] for c in curve[-5:]]) < np.mean([c["loss"] for c in curve[:5]])
    enc = encoders.load_encoder(str(tmp_path / "h"))
    assert isinstance(enc, encoders.TrainedEncoder) and enc.dim == 384
    vecs = enc.encode(["Q: a A: b", "Q: c A: d"])
    assert vecs.shape == (2, 384) and np.allclose(np.linalg.norm(vecs, axis=1), 1, atol=1e-5)
    moved = shutil.copytree(tmp_path / "h", tmp_path / "elsewhere" / "renamed")
    (moved / "loss_curve.json").write_text("[]")
    assert encoders.load_trained(moved).id == enc.id  # the id follows the weights, not the path
    assert encoders.trained_id(moved) == enc.id  # and is known without loading the model
    runs = store.query_df("SELECT kind, status FROM runs", path=small_db)
    assert runs.to_dict("records") == [{"kind": "train", "status": "done"}]


def test_head_runs_are_reproducible_and_resume_exactly(small_db, tmp_path):
    cfg = settings.TrainConfig(**HEAD)
    train.train(cfg, tmp_path / "a", small_db)
    train.train(cfg, tmp_path / "b", small_db)
    assert train.read_curve(tmp_path / "a") == train.read_curve(tmp_path / "b")
    calls = []
    stopped = train.train(
        cfg,
        tmp_path / "c",
        small_db,
        should_stop=lambda: len(calls) >= 12,
        progress=lambda info: calls.append(info),
    )
    assert stopped["training"]["status"] == "stopped"
    assert not (tmp_path / "c" / encoders.TRAINED_MARKER).exists()
    assert (tmp_path / "c" / loop.CHECKPOINT).exists()
    with pytest.raises(UserError, match="--resume"):
        train.train(cfg, tmp_path / "c", small_db)
    with pytest.raises(UserError, match="other settings"):
        train.train(
            settings.TrainConfig(**{**HEAD, "lam": 2}), tmp_path / "c", small_db, resume=True
        )
    train.train(cfg, tmp_path / "c", small_db, resume=True)
    assert train.read_curve(tmp_path / "c") == train.read_curve(tmp_path / "a")
    same = (tmp_path / "a" / "head.safetensors").read_bytes()
    assert (tmp_path / "c" / "head.safetensors").read_bytes() == same


def test_too_little_data_is_a_user_error(small_db, tmp_path):
    with pytest.raises(UserError, match="holds no usable QA"):
        train.train(settings.TrainConfig(**HEAD, datasets=("nope",)), tmp_path / "x", small_db)
    assert not (tmp_path / "x").exists()


@pytest.mark.slow
def test_lora_runs_on_cpu_and_ships_small(small_db, tmp_path):
    cfg = settings.TrainConfig(mode="lora", steps=2, batch_size=6, max_seq_length=32, lam=2)
    record = train.train(cfg, tmp_path / "l", small_db)
    assert record["training"]["qas_per_s"] > 0
    size = sum(f.stat().st_size for f in (tmp_path / "l" / "adapter").rglob("*") if f.is_file())
    assert size < 25 * 2**20
    enc = encoders.load_trained(tmp_path / "l")
    base = encoders.load_encoder()
    texts = ["Q: Is honesty important? A: Yes."]
    assert enc.id != base.id and enc.encode(texts).shape == (1, 384)
    assert not np.allclose(enc.encode(texts), base.encode(texts), atol=1e-6)


@pytest.mark.slow
def test_full_mode_runs_one_step_on_cpu(small_db, tmp_path):
    cfg = settings.TrainConfig(mode="full", steps=1, batch_size=4, max_seq_length=32, lam=1)
    train.train(cfg, tmp_path / "f", small_db)
    assert (tmp_path / "f" / "model" / "modules.json").exists()
    assert encoders.load_trained(tmp_path / "f").encode(["Q: x A: y"]).shape == (1, 384)


@pytest.mark.slow
def test_torchrun_two_cpu_processes(small_db, tmp_path):
    """DistributedDataParallel over gloo: two ranks, one output, a finished record."""
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node",
        "2",
        "--master_port",
        "29611",
        "-m",
        "univar",
        "train",
        "--db",
        str(small_db),
        "--mode",
        "head",
        "--steps",
        "6",
        "--batch-size",
        "8",
        "--out",
        str(tmp_path / "d"),
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    record = json.loads((tmp_path / "d" / encoders.TRAINED_MARKER).read_text())
    assert record["machine"]["world_size"] == 2 and record["training"]["steps"] == 6


def test_cli_train_head_and_errors(small_db, tmp_path, capsys):
    from univar.cli import main

    argv = [
        "train",
        "--db",
        str(small_db),
        "--mode",
        "head",
        "--steps",
        "5",
        "--batch-size",
        "8",
        "--lambda",
        "2",
        "--out",
        str(tmp_path / "cli"),
    ]
    assert main(argv) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["status"] == "done"
    assert main(argv) == 2  # the folder holds a run now
    assert "already holds a training run" in capsys.readouterr().err
    assert main([*argv[:-1], str(tmp_path / "x"), "--batch-size", "7"]) == 2
