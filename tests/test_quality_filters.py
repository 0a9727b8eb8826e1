"""The quality filter in every stage that reads QA pairs for a map or a model: the value map and
its one layout per filter, Compare's distances, training and evaluation data, exports and the
CLI verbs (`--include-flagged`). Verdicts are written into qa_quality directly, under the
checker version in use, so these tests hold whatever the checker's rules are."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pandas as pd
import pytest
from helpers_demo import build_demo_db, fulcra_rows

from univar import encoders, quality, store
from univar.analysis import distances, evaluation, mapdata, projection, relayout
from univar.analysis.projection import ProjectionConfig
from univar.config import stable_hash
from univar.errors import UserError
from univar.figures import value_map
from univar.ingest import demo
from univar.output import report
from univar.quality import checks as quality_checks
from univar.quality.filter import QualityFilter
from univar.training import loop, settings, splits

PCA = ProjectionConfig(method="pca")
EVERYTHING = QualityFilter(include_flagged=True)
# (row of the sorted demo ids, its flags): two pairs flagged, one checked and clean
VERDICTS = ((0, ["echo"]), (1, ["not_english", "echo"]), (2, []))


class HashEncoder:
    """Deterministic vectors from a text's hash: no model to load."""

    id = "hash-encoder@quality"
    dim = 16

    def encode(self, texts, batch_size=64):
        seeds = [int(hashlib.sha256(t.encode()).hexdigest()[:8], 16) for t in texts]
        return np.stack([np.random.default_rng(s).normal(size=self.dim) for s in seeds]).astype(
            np.float32
        )


class Counting:
    def __init__(self):
        self.calls, self.sizes = 0, []

    def fit(self, vectors, config):
        self.calls += 1
        self.sizes.append(len(vectors))
        return projection.PCAProjector().fit(vectors, config)

    def fit_transform(self, vectors, config):
        return self.fit(vectors, config)[0]


def flag(db, qa_id: str, *flags: str) -> None:
    """A verdict of the checker in use: these flags (none: the pair passed)."""
    with store.transaction(db) as con:
        con.execute(
            "INSERT OR REPLACE INTO qa_quality (qa_id, checker_version, flags, reasons) "
            "VALUES (?, ?, ?, ?)",
            [qa_id, quality.CHECKER_VERSION, list(flags), json.dumps(dict.fromkeys(flags, "t"))],
        )


def clear_verdicts(db) -> None:
    """No verdict but the test's own: a checker run on import must not decide what is kept."""
    with store.transaction(db) as con:
        con.execute("DELETE FROM qa_quality")


@pytest.fixture
def ids():
    return sorted(r["qa_id"] for r in fulcra_rows(8))


@pytest.fixture
def db(tmp_db, ids):
    build_demo_db(tmp_db, per_model=8)  # 40 real answers of five LLMs
    clear_verdicts(tmp_db)
    for row, flags in VERDICTS:
        flag(tmp_db, ids[row], *flags)
    return tmp_db


@pytest.fixture
def flagged(ids):
    return {ids[row] for row, flags in VERDICTS if flags}


@pytest.fixture
def pca(monkeypatch):
    fake = Counting()
    monkeypatch.setitem(projection.PROJECTORS, "pca", fake)
    return fake


# --- the setting ---------------------------------------------------------------------------------


def test_the_filter_keys_on_the_checker_only_where_it_leaves_pairs_out(monkeypatch):
    default = QualityFilter()
    assert default.include_flagged is False
    assert default.key() == {"include_flagged": False, "checker": quality.CHECKER_VERSION}
    assert EVERYTHING.key() == {"include_flagged": True} and EVERYTHING.where() == "TRUE"
    key = projection.layout_key("enc", PCA)
    assert projection.layout_key("enc", PCA, default) == key
    assert projection.layout_key("enc", PCA, EVERYTHING) != key
    # the layout of every pair keeps the key layouts had before filters: fitted on everything
    legacy = {"encoder": "enc", "config": PCA.key(), "algorithm": projection.ALGORITHM_VERSION}
    assert projection.layout_key("enc", PCA, EVERYTHING) == stable_hash(legacy, 24)
    monkeypatch.setattr(quality_checks, "CHECKER_VERSION", "a-better-checker")
    assert projection.layout_key("enc", PCA) != key  # its verdicts leave other pairs out
    assert projection.layout_key("enc", PCA, EVERYTHING) == stable_hash(legacy, 24)


def test_keep_drops_flagged_rows_and_only_the_checker_in_use_counts(db, ids, flagged):
    frame = pd.DataFrame({"qa_id": ids, "i": range(len(ids))})
    kept = QualityFilter().keep(db, frame)
    assert set(kept["qa_id"]) == set(ids) - flagged and list(kept.index) == list(range(len(kept)))
    assert EVERYTHING.keep(db, frame) is frame
    with store.transaction(db) as con:  # an older checker's verdict is not this one's
        con.execute(
            "INSERT INTO qa_quality (qa_id, checker_version, flags, reasons) "
            "VALUES (?, 'older', ['refusal'], '{}')",
            [ids[5]],
        )
    assert ids[5] in set(QualityFilter().keep(db, frame)["qa_id"])


# --- the value map -------------------------------------------------------------------------------


def test_the_map_leaves_flagged_pairs_out_of_its_points_and_its_layout(db, ids, flagged, pca):
    encoder, everything = HashEncoder(), mapdata.Selection()
    points = mapdata.map_points(db, encoder, everything, PCA)
    assert len(points) == len(ids) - 2 and not set(points["qa_id"]) & flagged
    assert set(points["flags"]) == {""}
    layout = projection.current(db, encoder.id, PCA)
    assert pca.sizes == [len(ids) - 2] and layout.n_fitted == len(ids) - 2  # fitted without them
    assert mapdata.layout_note(layout, points).startswith(f"PCA layout of {len(ids) - 2} unflagged")
    assert mapdata.left_out(db, everything) == (
        "2 QA pairs left out by the quality checks: 2 echo, 1 not_english"
    )

    shown = mapdata.map_points(db, encoder, everything, PCA, quality=EVERYTHING)
    assert len(shown) == len(ids) and pca.sizes == [len(ids) - 2, len(ids)]  # a layout of its own
    other = projection.current(db, encoder.id, PCA, EVERYTHING)
    assert other.proj_key != layout.proj_key and other.n_fitted == len(ids)
    by_id = dict(zip(shown["qa_id"], shown["flags"], strict=True))
    assert by_id[ids[0]] == "echo" and by_id[ids[1]] == "not_english, echo" and by_id[ids[2]] == ""
    assert mapdata.left_out(db, everything, EVERYTHING) == ""

    again = mapdata.map_points(db, encoder, everything, PCA)  # each filter's layout is kept
    assert pca.calls == 2 and again[["x", "y"]].equals(points[["x", "y"]])
    assert mapdata.stored_points(db, encoder.id, everything, PCA) is not None
    assert len(mapdata.stored_points(db, encoder.id, everything, PCA, EVERYTHING)) == len(ids)
    assert mapdata.is_cached(db, encoder, everything, PCA, EVERYTHING)


def test_a_pair_flagged_after_the_fit_leaves_the_map_at_once(db, ids, pca):
    encoder, everything = HashEncoder(), mapdata.Selection()
    before = mapdata.map_points(db, encoder, everything, PCA)
    flag(db, ids[10], "refusal")
    after = mapdata.stored_points(db, encoder.id, everything, PCA)
    assert after is not None and len(after) == len(before) - 1 and pca.calls == 1  # no refit
    assert ids[10] not in set(after["qa_id"])
    assert "3 QA pairs left out" in mapdata.left_out(db, everything)
    assert "1 refusal" in mapdata.left_out(db, everything)
    question = before.set_index("qa_id").loc[ids[10], "question"]
    assert ids[10] in mapdata.search(db, everything, question, EVERYTHING)
    assert ids[10] not in mapdata.search(db, everything, question)
    # the frame of the map is that of the points it shows
    (x_lo, x_hi), _ = mapdata.layout_extent(db, encoder.id, PCA)
    assert x_lo == after["x"].min() and x_hi == after["x"].max()


def test_new_pairs_are_placed_on_their_filters_layout_and_flagged_ones_are_not(db, ids, pca):
    encoder, everything = HashEncoder(), mapdata.Selection()
    mapdata.map_points(db, encoder, everything, PCA)
    layout = projection.current(db, encoder.id, PCA)
    with store.transaction(db) as con:
        for i, q in enumerate(("clean", "flagged")):
            con.execute(
                "INSERT INTO qa_pairs (qa_id, dataset, model, language, question, answer) "
                "VALUES (?, 'late', 'm', 'eng', ?, ?)",
                [f"late-{q}", f"Late question {i}?", f"A late answer {i}."],
            )
    flag(db, "late-flagged", "degenerate")
    assert projection.unplaced(db, layout) == ["late-clean"]
    points = mapdata.map_points(db, encoder, everything, PCA)
    assert "late-clean" in set(points["qa_id"]) and "late-flagged" not in set(points["qa_id"])
    assert pca.calls == 1 and bool(points.set_index("qa_id").loc["late-clean", "placed"])
    with pytest.raises(UserError, match="flagged by the quality checks"):
        projection.project(db, encoder, ["late-flagged"], PCA)
    assert len(projection.project(db, encoder, ["late-flagged"], PCA, quality=EVERYTHING)) == 1


def test_relayout_refits_each_filter_apart(db, ids, pca):
    encoder = HashEncoder()
    default = relayout.start(db, encoder, PCA, projectors={"pca": pca})
    assert default.wait(60) and default.status == "done", default.error
    both = relayout.start(db, encoder, PCA, quality=EVERYTHING, projectors={"pca": pca})
    assert both is not default and both.wait(60) and both.status == "done", both.error
    assert relayout.job_for(db, encoder.id, PCA) is default
    assert relayout.job_for(db, encoder.id, PCA, EVERYTHING) is both
    assert sorted(pca.sizes) == [len(ids) - 2, len(ids)]
    assert default.layout.quality == QualityFilter() and both.layout.quality == EVERYTHING


def test_a_shipped_demo_map_becomes_the_default_filters_layout(db, ids, flagged, tmp_path):
    encoder = HashEncoder()
    provenance = demo.export_demo(db, tmp_path / "demo", encoder=encoder, config=PCA)
    shipped = pd.read_parquet(tmp_path / "demo" / demo.MAP_FILE)
    assert len(shipped) == len(ids) - 2 and not set(shipped["qa_id"]) & flagged
    fresh = tmp_path / "fresh.duckdb"
    demo.load_demo(fresh, tmp_path / "demo")
    config = ProjectionConfig(**provenance["projection"])
    layout = projection.current(fresh, encoder.id, config)
    assert layout.source == "shipped" and layout.n_fitted == len(ids) - 2
    assert projection.current(fresh, encoder.id, config, EVERYTHING) is None


# --- the hover -------------------------------------------------------------------------------


def test_the_hover_carries_a_points_flags_escaped(db, ids):
    points = mapdata.map_points(db, HashEncoder(), mapdata.Selection(), PCA, quality=EVERYTHING)
    points.loc[points["qa_id"] == ids[2], "flags"] = "<b>made-up</b>"  # text from the store
    fig = value_map.value_map_figure(points).to_dict()
    heads = {
        row[0]: row[1] for t in fig["data"] if t.get("meta") == "qa" for row in t["customdata"]
    }
    assert heads[ids[0]].endswith(value_map.FLAGGED_NOTE.format("echo"))
    assert value_map.FLAGGED_NOTE.format("not_english, echo") in heads[ids[1]]
    assert "&lt;b&gt;made-up&lt;/b&gt;" in heads[ids[2]] and "<b>made-up" not in heads[ids[2]]
    assert "Flagged" not in heads[ids[3]]
    listed = value_map.value_map_figure(points.assign(flags=[["echo"]] + [[]] * (len(points) - 1)))
    first = [t for t in listed.to_dict()["data"] if t.get("meta") == "qa"]
    assert sum("Flagged" in row[1] for t in first for row in t["customdata"]) == 1


# --- Compare, training, evaluation, exports ---------------------------------------------------


def test_distances_read_what_the_filter_keeps(db, ids, flagged):
    frame, vectors = distances.load(db, HashEncoder())
    assert len(frame) == len(vectors) == len(ids) - 2 and not set(frame["qa_id"]) & flagged
    every, every_vectors = distances.load(db, HashEncoder(), quality=EVERYTHING)
    assert len(every) == len(every_vectors) == len(ids)
    # each row keeps its own vector
    at = {q: v for q, v in zip(every["qa_id"], every_vectors, strict=True)}
    assert all(np.array_equal(at[q], v) for q, v in zip(frame["qa_id"], vectors, strict=True))


def test_training_and_evaluation_data_leave_flagged_pairs_out(db, ids, flagged):
    frame = loop._training_frame(settings.TrainConfig(mode="head"), db)
    assert len(frame) == len(ids) - 2 and not set(frame["qa_id"]) & flagged
    every = loop._training_frame(settings.TrainConfig(mode="head", quality=EVERYTHING), db)
    assert len(every) == len(ids)
    assert settings.TrainConfig().weights_key() != (
        settings.TrainConfig(quality=EVERYTHING).weights_key()
    )
    assert splits.dataset_sizes(db, QualityFilter()) == {"demo": len(ids) - 2}
    assert splits.dataset_sizes(db) == {"demo": len(ids)}

    kept = evaluation.evaluate([evaluation.TFIDF], db, tfidf=False, target="model", k=3)
    row = kept.table.iloc[0]
    assert row["n_train"] + row["n_test"] == len(ids) - 2
    assert not set(kept.predictions["qa_id"]) & flagged
    assert json.loads(evaluation.to_json(kept))["quality"] == QualityFilter().key()
    every = evaluation.evaluate(
        [evaluation.TFIDF], db, tfidf=False, target="model", k=3, quality=EVERYTHING
    )
    assert every.table.iloc[0]["n_train"] + every.table.iloc[0]["n_test"] == len(ids)


def test_report_charts_and_provenance_say_what_was_left_out(db, ids):
    selection = mapdata.Selection()
    chart = report.map_chart(db, HashEncoder(), selection, PCA)
    assert len(chart.data) == len(ids) - 2 and "flags" in chart.data
    both = report.map_chart(db, HashEncoder(), selection, PCA, quality=EVERYTHING)
    assert len(both.data) == len(ids)
    _, prov, _ = report.collect(db, HashEncoder(), selection, PCA)
    assert prov["QA pairs"] == len(ids) - 2
    assert prov["left out"].startswith("2 QA pairs left out by the quality checks")
    assert "no quality check flagged" in prov["quality filter"]
    _, prov, _ = report.collect(db, HashEncoder(), selection, PCA, quality=EVERYTHING)
    assert prov["QA pairs"] == len(ids) and prov["left out"] == "none"


# --- the CLI ---------------------------------------------------------------------------------


@pytest.fixture
def hashed(monkeypatch):
    """The CLI's encoder is the hash encoder: no model to load."""
    monkeypatch.setattr(encoders, "LazyEncoder", lambda *a, **k: HashEncoder())


def test_cli_project_and_export_leave_flagged_pairs_out(db, ids, flagged, hashed, tmp_path, capsys):
    from univar.cli import main

    common = ["--db", str(db), "--method", "pca"]
    assert main(["project", *common, "--out", str(tmp_path / "p.csv")]) == 0
    said = capsys.readouterr().out
    assert "2 QA pairs left out by the quality checks" in said and "--include-flagged" in said
    kept = pd.read_csv(tmp_path / "p.csv", keep_default_na=False)
    assert len(kept) == len(ids) - 2 and not set(kept["qa_id"]) & flagged
    assert main(["project", *common, "--include-flagged", "--out", str(tmp_path / "a.csv")]) == 0
    every = pd.read_csv(tmp_path / "a.csv", keep_default_na=False)
    assert len(every) == len(ids) and set(every.loc[every["flags"] != "", "qa_id"]) == flagged

    out = tmp_path / "map.csv"
    assert main(["export", "--kind", "map", "--format", "csv", "--out", str(out), *common]) == 0
    assert len(pd.read_csv(out)) == len(ids) - 2
    argv = ["export", "--kind", "map", "--format", "csv", "--out", str(out), "--include-flagged"]
    assert main([*argv, *common]) == 0
    assert len(pd.read_csv(out)) == len(ids)


def test_cli_embed_and_evaluate_leave_flagged_pairs_out(db, ids, hashed, capsys):
    from univar.cli import main

    assert main(["embed", "--db", str(db)]) == 0
    said = capsys.readouterr().out
    assert f"{len(ids) - 2} QA pairs embedded" in said and "2 flagged" in said
    assert main(["embed", "--db", str(db), "--include-flagged"]) == 0
    assert f"{len(ids)} QA pairs embedded" in capsys.readouterr().out

    argv = ["evaluate", "--db", str(db), "--encoder", "tfidf", "--no-tfidf", "--json"]
    argv += ["--target", "model", "--k", "3"]
    for extra, n in (([], len(ids) - 2), (["--include-flagged"], len(ids))):
        assert main([*argv, *extra]) == 0
        result = json.loads(capsys.readouterr().out)["results"][0]
        assert result["n_train"] + result["n_test"] == n


def test_cli_train_leaves_flagged_pairs_out(db, ids, tmp_path, capsys):
    from univar.cli import main

    argv = ["train", "--db", str(db), "--mode", "head", "--steps", "1", "--batch-size", "4"]
    argv += ["--lambda", "2"]
    assert main([*argv, "--out", str(tmp_path / "kept")]) == 0
    record = json.loads((tmp_path / "kept" / encoders.TRAINED_MARKER).read_text())
    assert record["data"]["n_qas"] == len(ids) - 2
    assert record["data"]["quality"] == QualityFilter().key()
    assert main([*argv, "--include-flagged", "--out", str(tmp_path / "all")]) == 0
    record = json.loads((tmp_path / "all" / encoders.TRAINED_MARKER).read_text())
    assert record["data"]["n_qas"] == len(ids) and record["config"]["quality"] == {
        "include_flagged": True
    }
