"""Uncertainty in Compare: bootstrap intervals (questions resampled), permutation p-values
(labels shuffled within each question), dendrogram support, the store's cache, the long CSV
export, and the heatmap's hover and marks on the Compare page."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import shared_file
from streamlit.testing.v1 import AppTest

from univar import encoders, store
from univar.analysis import distances, uncertainty
from univar.analysis.uncertainty import UncertaintyConfig
from univar.errors import UserError
from univar.figures import compare_charts
from univar.output import export, report

PAGE = str(Path(__file__).resolve().parent.parent / "pages" / "compare.py")
METRICS = list(distances.METRICS)
DIM = 16
QUICK = UncertaintyConfig(permutations=199)  # p down to 0.005: enough where 0.05 is the line


def clustered(centres: dict, n_questions=30, samples=1, noise=0.5, seed=0, mix=None):
    """Rows of each group (label -> centre) on shared questions: a common direction, a strong
    per-question pull that every group shares, the group's centre and noise. `mix` keeps only
    some questions of a group (label -> question numbers)."""
    rng = np.random.default_rng(seed)
    common = np.full(DIM, 0.6)
    pull = rng.normal(size=(n_questions, DIM))
    rows, vecs = [], []
    for label, centre in centres.items():
        for q in (mix or {}).get(label, range(n_questions)):
            for s in range(samples):
                rows.append(
                    {
                        "qa_id": f"{label}-{q}-{s}",
                        "identity": label,
                        "model": label.split("$")[0],
                        "language": label.split("$")[-1],
                        "question_id": f"q{q}",
                        "question_en": f"Question {q}?",
                    }
                )
                vecs.append(common + pull[q] + centre + noise * rng.normal(size=DIM))
    return pd.DataFrame(rows), np.asarray(vecs)


def far(k: int) -> np.ndarray:
    return 1.5 * np.eye(DIM)[k]


# --- what is computed ------------------------------------------------------------------------


def brute(frame, vectors, a, b, metric, gamma=1.0):
    """The U-statistic over questions by loops: only answers to different questions compared."""
    x = distances._normalise(vectors)
    q = frame["question_id"].to_numpy()
    ia = np.flatnonzero(frame["identity"].to_numpy() == a)
    ib = np.flatnonzero(frame["identity"].to_numpy() == b)

    def k(u, v):
        if metric == "cosine":
            return u @ v
        d2 = max(0.0, 2 - 2 * u @ v)
        return np.sqrt(d2) if metric == "energy" else np.exp(-gamma * d2)

    def mean(r, s, every=False):
        vals = [k(x[i], x[j]) for i in r for j in s if every or q[i] != q[j]]
        return sum(vals) / len(vals)

    aa, bb, ab = mean(ia, ia), mean(ib, ib), mean(ia, ib)
    if metric == "cosine":  # a group with no common direction: its norm from all its pairs
        aa = aa if aa > 0 else mean(ia, ia, every=True)
        bb = bb if bb > 0 else mean(ib, ib, every=True)
        return 1 - ab / np.sqrt(aa * bb)
    if metric == "energy":
        return 2 * ab - aa - bb
    return np.sqrt(max(0.0, aa + bb - 2 * ab))


@pytest.mark.parametrize("metric", METRICS)
def test_point_estimates_and_a_resample_match_the_loops(metric):
    """Uneven cells: two samples on some questions, a group missing some questions."""
    frame, vecs = clustered(
        {"a": far(0), "b": far(1), "c": far(0)},
        n_questions=6,
        samples=2,
        mix={"b": [0, 1, 2, 4], "c": [1, 3, 5]},
    )
    frame, vecs = frame.iloc[1:].reset_index(drop=True), vecs[1:]  # one cell of a single row
    table = uncertainty.compute_table(frame, vecs, "identity", metric, QUICK)
    cells = uncertainty._cells(frame, vecs, "identity", 4000, 0)
    gamma = distances.median_gamma(cells.x) if metric == "mmd" else 1.0
    for row in table.pairs.itertuples():
        assert row.distance == pytest.approx(
            max(0, brute(frame, vecs, row.a, row.b, metric, gamma))
        )
    # resample 3, drawn as the table draws it, then materialised: each drawn copy of a question
    # keeps its question id, so two copies are never compared either
    weights = uncertainty._bootstrap_weights(cells.n_questions, 5, 0)
    raw = uncertainty._resampled_matrices(cells, metric, weights, gamma)
    keys = pd.factorize(distances.question_key(frame))[0]
    take = np.concatenate(
        [np.flatnonzero(keys == q) for q in range(6) for _ in range(int(weights[3, q]))]
    )
    again = brute(frame.iloc[take], vecs[take], "a", "b", metric, gamma)
    got = raw[3, 0, 1] if metric != "mmd" else np.sqrt(max(0.0, raw[3, 0, 1]))
    assert np.isfinite(got) and got == pytest.approx(again, rel=1e-9)


@pytest.mark.parametrize("seed", range(4))
def test_cosine_stays_defined_for_answers_without_a_common_direction(seed):
    """Zero-mean vectors: a group's answers to different questions may average below zero."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {"identity": list("aaabbb"), "question_id": ["q0", "q1", "q2"] * 2, "question_en": "?"}
    )
    vecs = rng.normal(size=(6, DIM))
    frame, vecs = pd.concat([frame, frame]), np.vstack([vecs, rng.normal(size=(6, DIM))])
    table = uncertainty.compute_table(frame, vecs, "identity", "cosine", QUICK)
    pair = table.pairs.iloc[0]
    expected = np.clip(brute(frame, vecs, "a", "b", "cosine"), 0, 2)
    assert pair["distance"] == pytest.approx(expected) and 0 <= pair["p_value"] <= 1


def test_groups_answering_one_question_are_left_out():
    frame, vecs = clustered({"a": far(0), "b": far(1), "c": far(2)}, mix={"c": [4]})
    table = uncertainty.compute_table(frame, vecs, "identity", "cosine", QUICK)
    assert table.labels == ["a", "b"] and table.left_out == ["c"]
    with pytest.raises(UserError, match="with answers to two or more questions"):
        uncertainty.compute_table(
            frame[frame["identity"] != "b"], vecs[frame["identity"] != "b"], "identity"
        )
    with pytest.raises(UserError, match="resamples must be at least 200"):
        UncertaintyConfig(resamples=50)


def test_large_selections_rest_on_whole_questions_up_to_max_rows():
    few = {"c": [0, 59]}  # a group with two questions only must not drop out
    frame, vecs = clustered({"a": far(0), "b": far(1), "c": far(2)}, n_questions=60, mix=few)
    capped = UncertaintyConfig(permutations=199, max_rows=100)
    table = uncertainty.compute_table(frame, vecs, "identity", "energy", capped)
    assert table.labels == ["a", "b", "c"] and table.n_qa <= 100 and table.n_questions < 60
    shared = table.pairs.set_index(["a", "b"])["shared_questions"]
    assert shared[("a", "b")] == table.n_questions and shared[("a", "c")] == 2  # whole questions
    again = uncertainty.compute_table(frame, vecs, "identity", "energy", capped)
    pd.testing.assert_frame_equal(table.pairs, again.pairs)


# --- the permutation test ----------------------------------------------------------------------


def halves(frame, vectors, seed: int, lean: float = 0.5):
    """One identity's QA pairs split at random into two halves a and b. `lean` > 0.5 sends the
    first half of the questions mostly to a and the rest mostly to b: the two halves are then
    asked different questions, while the answers to each question are alike."""
    rng = np.random.default_rng(seed)
    q = frame["question_id"].str[1:].astype(int).to_numpy()
    p_a = np.where(q < q.max() / 2, lean, 1 - lean)
    to_a = rng.random(len(frame)) < p_a
    return frame.assign(identity=np.where(to_a, "half-a", "half-b")), vectors


@pytest.mark.parametrize("metric", METRICS)
@pytest.mark.parametrize("lean", [0.5, 0.8])
def test_permutation_test_is_calibrated_on_random_halves(metric, lean):
    """Done means: over 50 seeded random splits of one identity, p > 0.05 in at least 90%.
    With lean 0.8 the halves' question mixes differ: a test that shuffled labels across
    questions would read the mix as a difference; within questions it holds."""
    frame, vecs = clustered({"m$eng": np.zeros(DIM)}, n_questions=40, samples=3, noise=0.4)
    p = []
    for seed in range(50):
        split, v = halves(frame, vecs, seed, lean)
        p.append(uncertainty.compute_table(split, v, "identity", metric, QUICK).pairs["p_value"][0])
    share = float(np.mean(np.asarray(p) > 0.05))
    assert share >= 0.9, f"{metric}: p > 0.05 in {share:.0%} of the splits"
    assert np.min(p) < 0.5  # not a test that never rejects: p spreads over (0, 1]


@pytest.mark.parametrize("metric", METRICS)
def test_separated_groups_differ(metric):
    frame, vecs = clustered({"a": far(0), "b": far(1)}, n_questions=30, noise=0.5)
    table = uncertainty.compute_table(frame, vecs, "identity", metric)
    pair = table.pairs.iloc[0]
    assert pair["p_value"] < 0.01 and pair["shared_questions"] == 30
    assert pair["ci_low"] <= pair["distance"] <= pair["ci_high"] and pair["ci_low"] > 0


def test_a_pair_without_a_common_question_gets_no_p_value():
    frame, vecs = clustered(
        {"a": far(0), "b": far(1)}, n_questions=20, mix={"a": range(10), "b": range(10, 20)}
    )
    pair = uncertainty.compute_table(frame, vecs, "identity", "energy", QUICK).pairs.iloc[0]
    assert np.isnan(pair["p_value"]) and pair["shared_questions"] == 0
    assert pair["ci_low"] < pair["ci_high"]  # the interval needs no common question
    assert not compare_charts.distinguishable(pair["p_value"])


# --- real answers: Value FULCRA ----------------------------------------------------------------


@pytest.fixture(scope="module")
def fulcra():
    """The real answers of five LLMs as TF-IDF vectors (no model to load). Value FULCRA asks
    each question of one model only, so its question ids leave a split nothing to shuffle;
    `stratum` is the first Schwartz value the data labels the answer with, the real grouping
    the permutation is held within here."""
    from sklearn.decomposition import TruncatedSVD
    from sklearn.feature_extraction.text import TfidfVectorizer

    rows = []
    for i, line in enumerate(shared_file("value_fulcra_trustworthy.jsonl").open()):
        r = json.loads(line)
        question, answer = r["dialogue"][len("Human: ") :].split("\nBob:", 1)
        rows.append(
            {
                "qa_id": f"vf{i:04d}",
                "model": r["response_source"],
                "question_en": question.strip(),
                "answer": answer.strip(),
                "stratum": (r["value_types"] or ["none"])[0].replace(" ", ""),
            }
        )
    frame = pd.DataFrame(rows)
    frame["identity"] = frame["model"] + "$eng"
    tfidf = TfidfVectorizer(sublinear_tf=True, min_df=2)
    x = tfidf.fit_transform("Q: " + frame["question_en"] + " A: " + frame["answer"])
    return frame, TruncatedSVD(64, random_state=0).fit_transform(x)


@pytest.mark.parametrize("metric", METRICS)
def test_value_fulcra_halves_of_one_model_do_not_differ(fulcra, metric):
    frame, vecs = fulcra
    mine = (frame["model"] == "gemini").to_numpy()
    gemini, v = frame[mine].assign(question_id=frame["stratum"]).reset_index(drop=True), vecs[mine]
    p = []
    for seed in range(50):
        half = np.random.default_rng(seed).permutation(len(gemini)) < len(gemini) // 2
        split = gemini.assign(identity=np.where(half, "half-a", "half-b"))
        p.append(uncertainty.compute_table(split, v, "identity", metric, QUICK).pairs["p_value"][0])
    assert np.mean(np.asarray(p) > 0.05) >= 0.9


@pytest.mark.parametrize("metric", METRICS)
def test_two_value_fulcra_models_differ(fulcra, metric):
    frame, vecs = fulcra
    two = frame["model"].isin(["gemini", "meta-llama/Llama-2-7b-chat-hf"]).to_numpy()
    pair_frame, v = frame[two].reset_index(drop=True), vecs[two]
    by_value = uncertainty.compute_table(
        pair_frame.assign(question_id=pair_frame["stratum"]), v, "identity", metric
    )
    assert by_value.pairs["p_value"][0] < 0.01
    # by their own question ids the two share none: Compare then claims no difference
    by_question = uncertainty.compute_table(
        pair_frame.assign(question_id=None), v, "identity", metric, QUICK
    )
    pair = by_question.pairs.iloc[0]
    assert pair["shared_questions"] == 0 and np.isnan(pair["p_value"])


# --- the bootstrap, the dendrogram and the cache ----------------------------------------------


def four_groups(seed=0):
    return clustered(
        {"a": far(0), "b": far(0) + 0.3 * far(1), "c": far(2), "d": far(2) + 0.3 * far(3)},
        n_questions=40,
        seed=seed,
    )


def test_the_bootstrap_is_seeded():
    frame, vecs = four_groups()
    one = uncertainty.compute_table(frame, vecs, "identity", "energy", QUICK)
    two = uncertainty.compute_table(frame, vecs, "identity", "energy", QUICK)
    pd.testing.assert_frame_equal(one.pairs, two.pairs)
    assert one.support == two.support
    other = uncertainty.compute_table(
        frame, vecs, "identity", "energy", UncertaintyConfig(permutations=199, seed=1)
    )
    assert not np.allclose(one.pairs["ci_low"], other.pairs["ci_low"])
    assert np.allclose(one.pairs["distance"], other.pairs["distance"])  # the data, not the draw
    inside = (one.pairs["ci_low"] <= one.pairs["distance"]) & (
        one.pairs["distance"] <= one.pairs["ci_high"]
    )
    assert inside.all()


def test_dendrogram_support_per_merge():
    frame, vecs = four_groups()
    table = uncertainty.compute_table(frame, vecs, "identity", "cosine", QUICK)
    assert table.support[("a", "b")] > 0.9 and table.support[("c", "d")] > 0.9
    assert table.support[("a", "b", "c", "d")] == 1.0 and table.valid_resamples == 200
    tree = distances.dendrogram(table.matrix(), support=table.support)
    links = tree[tree["link"] >= 0].groupby("link")["support"].first()
    assert len(links) == 3 and sorted(links.round(3)) == sorted(
        round(s, 3) for s in table.support.values()
    )
    fig = compare_charts.dendrogram_figure(tree, resamples=table.valid_resamples).to_dict()
    notes = fig["layout"]["annotations"]
    assert len(notes) == 3 and all(re.fullmatch(r"\d+%", n["text"]) for n in notes)
    assert all("of 200 resamples" in n["hovertext"] for n in notes)
    assert len(fig["data"]) == 3  # the labels are annotations: the links stay three traces


def test_the_second_computation_comes_from_the_store(tmp_db, monkeypatch):
    frame, vecs = four_groups()
    calls = []
    compute = uncertainty.compute_table

    def counted(*args, **kwargs):
        calls.append(args[2:4])
        return compute(*args, **kwargs)

    monkeypatch.setattr(uncertainty, "compute_table", counted)
    first = uncertainty.distance_table(tmp_db, frame, vecs, "enc", "identity", "mmd", QUICK)
    again = uncertainty.distance_table(tmp_db, frame, vecs, "enc", "identity", "mmd", QUICK)
    assert len(calls) == 1
    pd.testing.assert_frame_equal(first.pairs, again.pairs)
    assert again.support == pytest.approx(first.support) and again.labels == first.labels
    # a new key for another encoder, metric, grouping, seed, resample count or vector
    uncertainty.distance_table(tmp_db, frame, vecs, "other", "identity", "mmd", QUICK)
    uncertainty.distance_table(tmp_db, frame, vecs, "enc", "identity", "cosine", QUICK)
    uncertainty.distance_table(tmp_db, frame, vecs, "enc", "model", "mmd", QUICK)
    uncertainty.distance_table(
        tmp_db, frame, vecs, "enc", "identity", "mmd", UncertaintyConfig(permutations=199, seed=5)
    )
    uncertainty.distance_table(
        tmp_db,
        frame,
        vecs,
        "enc",
        "identity",
        "mmd",
        UncertaintyConfig(resamples=201, permutations=199),
    )
    changed = vecs.copy()
    changed[0] += 0.1
    uncertainty.distance_table(tmp_db, frame, changed, "enc", "identity", "mmd", QUICK)
    assert len(calls) == 7
    uncertainty.distance_table(
        tmp_db, frame.iloc[::-1], vecs[::-1], "enc", "identity", "mmd", QUICK
    )
    assert len(calls) == 7  # the same QA pairs in another order
    with store.connect(tmp_db) as con:
        assert con.execute("SELECT count(*) FROM distance_tables").fetchall()[0][0] == 7


# --- the heatmap and the export ----------------------------------------------------------------


def test_heatmap_hover_and_marks():
    frame, vecs = clustered({"a": far(0), "b": far(0), "c": far(1)}, n_questions=30)
    table = uncertainty.compute_table(frame, vecs, "identity", "energy", QUICK)
    p = table.pairs.set_index(["a", "b"])["p_value"]
    assert p[("a", "b")] > 0.05 and p[("a", "c")] < 0.01 and p[("b", "c")] < 0.01
    names = ["c", "a", "b"]
    spec = compare_charts.heatmap_figure(
        table.matrix(), names, pairs=table.pairs, label=str.upper
    ).to_dict()
    heat, marks = spec["data"]
    assert (
        "%{customdata[0]}" in heat["hovertemplate"] and "%{customdata[1]}" in heat["hovertemplate"]
    )
    cell = heat["customdata"][1][2]  # a - b
    low, high = table.pairs.set_index(["a", "b"]).loc[("a", "b"), ["ci_low", "ci_high"]]
    assert cell[0] == f"95% interval {low:.4f} to {high:.4f}"
    assert cell[1].startswith(f"p = {p[('a', 'b')]:.3f}") and "not distinguishable" in cell[1]
    assert cell[2] == "30 shared questions" and heat["customdata"][0][0] == ["", "", ""]
    assert "they differ at 5%" in heat["customdata"][0][1][1]
    assert marks["meta"] == compare_charts.INDISTINGUISHABLE
    assert sorted(zip(marks["x"], marks["y"], strict=True)) == [("A", "B"), ("B", "A")]
    plain = compare_charts.heatmap_figure(table.matrix(), names).to_dict()
    assert len(plain["data"]) == 1 and "customdata" not in plain["data"][0]


def test_marks_take_names_as_typed():
    names = ['<a href="http://127.0.0.1:9/x">m</a>$eng', "b&c$fra"]
    pairs = pd.DataFrame(
        [(names[0], names[1], 0.1, 0.0, 0.2, 0.4, 3)], columns=uncertainty.PAIR_COLUMNS
    )
    m = pd.DataFrame([[0, 0.1], [0.1, 0]], index=names, columns=names)
    spec = compare_charts.heatmap_figure(m, names, pairs=pairs).to_dict()
    heat, marks = spec["data"]
    assert "<a " not in json.dumps(spec) and set(marks["x"]) == set(heat["x"])


class HashEncoder:
    """Deterministic vectors from a text hash: no model to load."""

    id, dim = "hash-encoder", 16

    def encode(self, texts, batch_size=64):
        import hashlib

        rows = [np.frombuffer(hashlib.sha256(t.encode()).digest()[:16], np.uint8) for t in texts]
        return np.asarray(rows, dtype=np.float32) / 255.0


@pytest.fixture
def qa_db(tmp_db):
    from univar.ingest import importers
    from univar.ingest.validate import validate_bytes

    lines = ["question,answer,model,language,question_en,answer_en"]
    for model in ("alpha", "beta", "gamma"):
        for i in range(12):
            lines.append(f"Q{i}?,{model} says {i} things,{model},eng,,")
            lines.append(
                f"Q{i} fr ?,{model} dit {i} choses,{model},fra,Q{i}?,{model} says {i} things!"
            )
    importers.import_validation(validate_bytes("\n".join(lines).encode()), tmp_db, dataset="mine")
    return tmp_db


def test_the_csv_export_has_one_row_per_pair_with_its_uncertainty(qa_db, tmp_path, monkeypatch):
    from univar.analysis import mapdata
    from univar.cli import main

    chart = report.distance_chart(qa_db, HashEncoder(), mapdata.Selection(), "model", "energy")
    back = pd.read_csv(io.BytesIO(export.table_bytes(chart.data, "csv")), encoding="utf-8-sig")
    assert list(back.columns) == [
        "model_a",
        "model_b",
        "distance",
        "ci_low",
        "ci_high",
        "p_value",
        "shared_questions",
    ]
    assert len(back) == 3 and (back["shared_questions"] == 12).all()  # Q0? .. Q11?
    assert ((back["ci_low"] <= back["distance"]) & (back["distance"] <= back["ci_high"])).all()
    assert back["p_value"].between(0, 1).all()

    monkeypatch.setattr(encoders, "LazyEncoder", lambda *a, **k: HashEncoder())
    out = tmp_path / "d.csv"
    argv = ["export", "--kind", "distances", "--by", "identity", "--out", str(out)]
    assert main([*argv, "--resamples", "200", "--permutations", "199", "--db", str(qa_db)]) == 0
    cli = pd.read_csv(out, encoding="utf-8-sig")
    assert {"identity_a", "identity_b", "ci_low", "ci_high", "p_value"} <= set(cli.columns)
    assert len(cli) == 15  # 6 identities
    assert main([*argv, "--resamples", "20", "--db", str(qa_db)]) == 2


# --- the Compare page --------------------------------------------------------------------------

TAG = re.compile(r"cluster (\d)")


class StandIn:
    """Vectors around the centre an answer names ("cluster 0"), noise from its text's hash,
    stored under the default encoder's id so the page never loads a model."""

    dim = DIM

    def __init__(self, encoder_id: str):
        self.id = encoder_id

    def encode(self, texts, batch_size=64):
        import hashlib

        out = []
        for t in texts:
            seed = int(hashlib.sha256(t.encode()).hexdigest()[:8], 16)
            centre = far(int(TAG.search(t).group(1)))
            q = int(re.search(r"Question (\d+)", t).group(1))
            pull = np.random.default_rng(q).normal(size=DIM)
            out.append(0.6 + pull + centre + 0.5 * np.random.default_rng(seed).normal(size=DIM))
        return np.asarray(out, dtype=np.float32)


@pytest.fixture
def compare_app(tmp_db):
    """Three identities on 30 shared questions: alpha and beta answer alike, gamma apart."""
    rows = [
        (f"qa{m}{i:02d}", model, f"q{i}", f"Question {i}?", f"{model} answer {i}, cluster {c}")
        for m, (model, c) in enumerate((("alpha", 0), ("beta", 0), ("gamma", 1)))
        for i in range(30)
    ]
    with store.transaction(tmp_db) as con:
        con.executemany(
            "INSERT INTO qa_pairs (qa_id, dataset, model, language, question_id, question, answer) "
            "VALUES (?, 'test', ?, 'eng', ?, ?, ?)",
            rows,
        )
    frame = encoders.qa_frame(tmp_db)
    encoders.embed_texts(
        list(frame["text"]), StandIn(encoders.encoder_id("all-MiniLM-L6-v2")), tmp_db
    )
    at = AppTest.from_file(PAGE, default_timeout=60)
    at.session_state["db"] = str(tmp_db)
    at.session_state["encoder"] = "all-MiniLM-L6-v2"
    at.run()
    assert not at.exception, at.exception
    return at


def _charts(at) -> list[dict]:
    return [json.loads(c.proto.spec) for c in at.get("plotly_chart")]


def test_compare_page_shows_intervals_p_values_marks_and_support(compare_app):
    at = compare_app
    at.radio(key="cmp_by").set_value("identity").run()
    at.selectbox(key="cmp_metric").set_value("energy").run()
    assert not at.exception, at.exception
    heat_fig = next(c for c in _charts(at) if c["data"][0]["type"] == "heatmap")
    heat = heat_fig["data"][0]
    assert "%{customdata[0]}" in heat["hovertemplate"]
    names = heat["x"]
    cells = {(names[i], names[j]): heat["customdata"][i][j] for i in range(3) for j in range(3)}
    assert cells[("alpha$eng", "beta$eng")][0].startswith("95% interval ")
    assert "not distinguishable at 5%" in cells[("alpha$eng", "beta$eng")][1]
    assert "they differ at 5%" in cells[("alpha$eng", "gamma$eng")][1]
    assert cells[("beta$eng", "gamma$eng")][2] == "30 shared questions"
    marks = [t for t in heat_fig["data"] if t.get("meta") == compare_charts.INDISTINGUISHABLE]
    assert len(marks) == 1
    assert sorted(zip(marks[0]["x"], marks[0]["y"], strict=True)) == [
        ("alpha$eng", "beta$eng"),
        ("beta$eng", "alpha$eng"),
    ]
    tree = next(c for c in _charts(at) if "Clustering" in c["layout"]["title"]["text"])
    support = [n["text"] for n in tree["layout"]["annotations"]]
    assert len(support) == 2 and all(s.endswith("%") for s in support)
    captions = " ".join(c.value for c in at.caption)
    assert "200 bootstrap resamples of the 30 questions" in captions
    assert "999 shuffles" in captions

    at.selectbox(key="pair_a").set_value("alpha$eng")
    at.selectbox(key="pair_b").set_value("gamma$eng").run()
    assert "These rest on 30 questions that both answered" in " ".join(c.value for c in at.caption)
