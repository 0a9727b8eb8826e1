"""The embedding cache: computed once per (encoder, text), stored as it goes, found without
loading a model; and the `embed`, `project` and `demo` CLI verbs."""

from __future__ import annotations

import numpy as np
import pytest
from helpers_demo import build_demo_db, copy_db, demo_template

from univar import encoders, store
from univar.cli import main
from univar.encoders import cache


class Fake:
    """Deterministic vectors (the text's length and a checksum) that records every batch."""

    id = "fake@1"
    dim = 4

    def __init__(self, fail_on_call: int | None = None):
        self.batches: list[list[str]] = []
        self.fail_on_call = fail_on_call

    def encode(self, texts, batch_size=64):
        self.batches.append(list(texts))
        if self.fail_on_call == len(self.batches):
            raise KeyboardInterrupt
        return np.array(
            [[len(t), sum(map(ord, t)) % 97, 1.0, -1.0] for t in texts], dtype=np.float32
        )


def stored(db) -> int:
    with store.connect(db) as con:
        return con.execute("SELECT count(*) FROM embeddings").fetchall()[0][0]


@pytest.fixture(scope="module")
def minilm():
    return encoders.load_encoder(encoders.DEFAULT_ENCODER)


def test_real_encoder_vectors_are_cached_and_identical(tmp_db, minilm):
    texts = ["Q: Is honesty important? A: Yes, always.", "Q: Should I obey? A: It depends."]
    first = encoders.embed_texts(texts, minilm, tmp_db)
    assert first.shape == (2, 384) and first.dtype == np.float32
    direct = minilm.encode(texts)
    assert np.allclose(first, direct, atol=1e-5)
    again = encoders.embed_texts(texts[::-1], minilm, tmp_db)
    assert np.array_equal(again, first[::-1])
    assert stored(tmp_db) == 2


def test_only_missing_texts_are_encoded_in_order_with_duplicates(tmp_db):
    fake = Fake()
    encoders.embed_texts(["a", "bb"], fake, tmp_db)
    vecs = encoders.embed_texts(["ccc", "a", "ccc", "dddd"], fake, tmp_db)
    assert fake.batches[1] == ["dddd", "ccc"]  # new texts only, once each, longest first
    assert [v[0] for v in vecs] == [3, 1, 3, 4]
    assert encoders.embed_texts([], fake, tmp_db).shape == (0, 4)


def test_chunks_are_whole_batches_of_the_longest_texts_first(tmp_db, monkeypatch):
    monkeypatch.setattr(cache, "WRITE_CHUNK", 5)
    fake, seen = Fake(), []
    texts = [f"t{'x' * (i % 7)}{i}" for i in range(11)]
    vecs = encoders.embed_texts(
        texts, fake, tmp_db, batch_size=2, progress=lambda d, t, m="": seen.append(d)
    )
    assert [len(b) for b in fake.batches] == [4, 4, 3]  # 5 rounded down to whole batches of 2
    lengths = [len(t) for b in fake.batches for t in b]
    assert lengths == sorted(lengths, reverse=True)
    assert seen == [0, 4, 8, 11] and stored(tmp_db) == 11
    assert [v[0] for v in vecs] == [len(t) for t in texts]


def test_an_interrupt_keeps_the_chunks_already_encoded(tmp_db, monkeypatch):
    monkeypatch.setattr(cache, "WRITE_CHUNK", 2)
    with pytest.raises(KeyboardInterrupt):
        encoders.embed_texts(["a", "b", "c", "d", "e"], Fake(fail_on_call=2), tmp_db, batch_size=2)
    assert stored(tmp_db) == 2
    fake = Fake()
    encoders.embed_texts(["a", "b", "c", "d", "e"], fake, tmp_db, batch_size=2)
    assert sum(map(len, fake.batches)) == 3  # the rerun finishes the rest


def test_lazy_encoder_knows_its_id_without_loading(minilm):
    lazy = encoders.LazyEncoder()  # the shipped trained encoder where present, else MiniLM
    assert lazy.id == encoders.load_encoder().id and not lazy.loaded
    assert encoders.encoder_id("sentence-transformers/all-MiniLM-L6-v2") == minilm.id
    assert encoders.encoder_id("CAiRE/UniVaR-lambda-5") == "CAiRE/UniVaR-lambda-5"
    assert lazy.dim == 384 and lazy.loaded


def test_untranslated_rows_are_embedded_as_written(tmp_db):
    with store.transaction(tmp_db) as con:
        con.execute(
            "INSERT INTO qa_pairs (qa_id, dataset, model, language, question, answer) "
            "VALUES ('x', 'up', 'm', 'fra', 'Faut-il obéir ?', 'Parfois.')"
        )
    frame = encoders.qa_frame(tmp_db)
    assert frame["text"].tolist() == ["Q: Faut-il obéir ? A: Parfois."]


def test_cached_demo_vectors_serve_embed_qa_without_a_model(tmp_path_factory, tmp_path):
    db = copy_db(demo_template(tmp_path_factory, 12), tmp_path)
    lazy = encoders.LazyEncoder()
    frame, vecs = encoders.embed_qa(db, lazy)
    assert len(frame) == 60 and vecs.shape == (60, 384) and not lazy.loaded


# --- CLI -----------------------------------------------------------------------------------------


def test_cli_embed_project_and_demo_round_trip(tmp_path_factory, tmp_path, capsys):
    db = copy_db(demo_template(tmp_path_factory, 12), tmp_path)
    assert main(["embed", "--db", str(db)]) == 0
    assert "60 QA pairs embedded" in capsys.readouterr().out
    out_csv = tmp_path / "map.csv"
    args = ["project", "--db", str(db), "--method", "pca", "--model", "gemini"]
    assert main([*args, "--out", str(out_csv)]) == 0
    assert "computed PCA map: 12 QA pairs · 1 models" in capsys.readouterr().out
    assert main(args) == 0 and "cached PCA map" in capsys.readouterr().out
    assert out_csv.read_text().count("\n") == 13
    export = ["demo", "export", "--db", str(db), "--dir", str(tmp_path / "demo")]
    assert main([*export, "--dataset", "nope"]) == 2
    assert "unknown dataset(s): nope" in capsys.readouterr().err


def test_cli_refuses_bad_input_with_one_line(tmp_db, capsys):
    assert main(["project", "--db", str(tmp_db), "--method", "pca"]) == 2
    assert "no QA pairs match" in capsys.readouterr().err
    build_demo_db(tmp_db, per_model=2)
    assert main(["embed", "--db", str(tmp_db), "--batch-size", "0"]) == 2
    assert "--batch-size must be at least 1" in capsys.readouterr().err
    assert main(["demo", "load", "--db", str(tmp_db), "--dir", str(tmp_db.parent / "x")]) == 2
    assert "no demo dataset" in capsys.readouterr().err


def test_cli_demo_export_then_load_ships_vectors_and_map(
    tmp_path_factory, tmp_path, capsys, monkeypatch
):
    from univar.analysis import mapdata, projection
    from univar.analysis.projection import ProjectionConfig

    monkeypatch.setitem(projection.PROJECTORS, "umap", projection.PCAProjector())  # fast stand-in
    source = copy_db(demo_template(tmp_path_factory, 12), tmp_path)
    folder = tmp_path / "demo"
    assert main(["demo", "export", "--db", str(source), "--dir", str(folder)]) == 0
    assert "exported 60 QA pairs (5 models, 1 languages)" in capsys.readouterr().out
    assert {p.name for p in folder.iterdir()} == {
        "qa.parquet",
        "embeddings.parquet",
        "projection.parquet",
        "provenance.json",
    }
    fresh = tmp_path / "fresh.duckdb"
    assert main(["demo", "load", "--db", str(fresh), "--dir", str(folder)]) == 0
    assert "loaded 60 demo QA pairs" in capsys.readouterr().out
    lazy = encoders.LazyEncoder()
    assert mapdata.is_cached(fresh, lazy, mapdata.Selection(), ProjectionConfig())
    assert not lazy.loaded  # vectors and the map came with the demo
    assert main(["demo", "load", "--db", str(fresh), "--dir", str(folder), "--replace"]) == 0
    assert mapdata.database_counts(fresh)["qa_pairs"] == 60
    overlap = set(mapdata.selected_ids(fresh, mapdata.Selection())) & set(
        mapdata.selected_ids(source, mapdata.Selection())
    )
    assert not overlap  # the demo's rows get their own ids
