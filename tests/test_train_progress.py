"""Training says what it is doing at every stage that can take a while: reading the QA pairs,
loading the base encoder, embedding them (head mode's first pass, a bar on stderr), the steps,
saving. The page gets the same stages, with a message, through the progress listener."""

from __future__ import annotations

import json
import time

import pytest
from test_train import write_fulcra

from univar.cli import main
from univar.ingest import value_fulcra
from univar.training import loop, settings, train

N_QAS = 72  # write_fulcra's 24 questions x 3 models


@pytest.fixture
def small_db(tmp_db, tmp_path):
    src = tmp_path / "small.jsonl"
    write_fulcra(src)
    value_fulcra.load_value_fulcra(src, tmp_db, dataset="small")
    return tmp_db


def _argv(db, out) -> list[str]:
    return [
        "train",
        "--db",
        str(db),
        "--mode",
        "head",
        "--steps",
        "5",
        "--batch-size",
        "8",
        "--lambda",
        "2",
        "--out",
        str(out),
    ]


def test_cli_train_head_shows_each_stage_and_an_embedding_bar(small_db, tmp_path, capsys):
    assert main(_argv(small_db, tmp_path / "a")) == 0
    out, err = capsys.readouterr()
    assert json.loads(out.strip().splitlines()[-1])["status"] == "done"
    stages = [
        "reading the QA pairs",
        "loading the base encoder",
        f"embedding {N_QAS} QA pairs with",
        "saving the encoder to",
    ]
    where = [err.find(s) for s in stages]
    assert -1 not in where and where == sorted(where), err  # each said, in order
    assert f"{N_QAS}/{N_QAS}" in err  # the embedding bar reached its end
    assert "5/5" in err  # the steps' bar

    assert main(_argv(small_db, tmp_path / "b")) == 0  # the vectors are cached now
    err = capsys.readouterr().err
    assert f"all {N_QAS} QA pairs are in the embedding cache" in err
    assert "embedding:" not in err  # no bar for nothing to do


def test_listener_gets_every_stage_with_a_message(small_db, tmp_path, monkeypatch):
    monkeypatch.setattr(loop, "EMBED_CHUNK", 64)  # one batch a chunk: reports at 0, 64 and 72
    calls: list[dict] = []
    cfg = settings.TrainConfig(mode="head", steps=4, batch_size=8, lam=2)
    train.train(cfg, tmp_path / "h", small_db, progress=calls.append)
    order = list(dict.fromkeys(c["stage"] for c in calls))
    assert order == ["loading", "loading encoder", "embedding", "training", "saving"]
    assert all(c.get("message") for c in calls)
    embedding = [(c["step"], c["total"]) for c in calls if c["stage"] == "embedding"]
    assert embedding[0] == (0, N_QAS) and embedding[-1] == (N_QAS, N_QAS)
    assert len(embedding) >= 3  # progress within the pass, not only its start and end
    assert [c["step"] for c in calls if c["stage"] == "training"] == [1, 2, 3, 4]


def test_train_job_curve_has_one_point_per_step(small_db, tmp_path):
    cfg = settings.TrainConfig(mode="head", steps=3, batch_size=8, lam=2)
    job = train.TrainJob(cfg, tmp_path / "j", small_db)
    deadline = time.monotonic() + 600
    while job.running and time.monotonic() < deadline:
        time.sleep(0.2)
    snap = job.snapshot()
    assert snap["error"] is None and snap["result"]["training"]["status"] == "done"
    assert snap["stage"] == "saving" and "saving the encoder" in snap["message"]
    assert [p["step"] for p in snap["curve"]] == [1, 2, 3]  # saving added no point
