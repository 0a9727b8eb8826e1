"""Distances on small synthetic embeddings, clustering, near/far pairs, the IW correlation, and
the heatmap and dendrogram figures."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from univar.analysis import distances
from univar.errors import UserError
from univar.figures import compare_charts


def _frame(centres: dict[str, np.ndarray], n: int = 20, noise: float = 0.3, seed: int = 0):
    """n QAs per (language, model) around the language's centre; question q<i> shared."""
    rng = np.random.default_rng(seed)
    rows, vecs = [], []
    for lang, centre in centres.items():
        for model in ("a", "b"):
            for i in range(n):
                rows.append(
                    {
                        "language": lang,
                        "model": model,
                        "identity": f"{model}${lang}",
                        "question_id": f"q{i}",
                        "question_en": f"Question {i}?",
                        "answer_en": f"{lang}-{model}-{i}",
                        "answer": f"orig-{lang}-{i}",
                    }
                )
                vecs.append(centre + noise * rng.normal(size=centre.shape))
    return pd.DataFrame(rows), np.array(vecs)


E1, E2, E3 = np.eye(8)[:3]
# eng and fra close together, zho far from both
CENTRES = {"eng": E1, "fra": 0.9 * E1 + 0.1 * E2, "zho": E3}


@pytest.mark.parametrize("metric", list(distances.METRICS))
def test_matrix_is_symmetric_zero_diagonal_and_orders_distances(metric):
    frame, vecs = _frame(CENTRES)
    m = distances.group_matrix(frame, vecs, "language", metric)
    assert list(m.index) == ["eng", "fra", "zho"] and list(m.columns) == list(m.index)
    assert np.allclose(m.to_numpy(), m.to_numpy().T) and (np.diag(m) == 0).all()
    assert (m.to_numpy() >= 0).all()
    assert m.loc["eng", "fra"] < m.loc["eng", "zho"]
    assert m.loc["eng", "fra"] < m.loc["fra", "zho"]


def test_centroid_cosine_by_hand():
    frame = pd.DataFrame({"language": ["eng", "eng", "fra"]})
    vecs = np.array([[1.0, 0.0], [1.0, 0.0], [1.0, 1.0]])
    m = distances.group_matrix(frame, vecs, "language", "cosine")
    assert m.loc["eng", "fra"] == pytest.approx(1 - 1 / np.sqrt(2))


def test_energy_and_mmd_see_more_than_the_mean():
    """Same mean, different spread: centroid cosine cannot tell them apart; the others can."""
    rng = np.random.default_rng(1)
    tight = np.array([1.0, 0, 0, 0]) + 0.01 * rng.normal(size=(200, 4))
    wide = np.array([1.0, 0, 0, 0]) + 0.6 * rng.normal(size=(200, 4))
    wide -= wide.mean(axis=0) - tight.mean(axis=0)
    frame = pd.DataFrame({"model": ["t"] * 200 + ["w"] * 200})
    vecs = np.vstack([tight, wide])
    cos = distances.group_matrix(frame, vecs, "model", "cosine").loc["t", "w"]
    energy = distances.group_matrix(frame, vecs, "model", "energy").loc["t", "w"]
    mmd = distances.group_matrix(frame, vecs, "model", "mmd").loc["t", "w"]
    assert cos < 0.05 and energy > 3 * cos and mmd > 3 * cos
    x = rng.normal(size=(50, 3))
    assert distances.energy_distance(x, x) == pytest.approx(0, abs=1e-9)
    assert distances.mmd(x, x, 1.0) == pytest.approx(0, abs=1e-6)


def test_bad_arguments():
    frame, vecs = _frame({"eng": E1})
    with pytest.raises(UserError, match="at least two languages"):
        distances.group_matrix(frame, vecs, "language")
    with pytest.raises(UserError, match="metric"):
        distances.group_matrix(frame, vecs, "model", "manhattan")
    with pytest.raises(UserError, match="group by"):
        distances.group_matrix(frame, vecs, "dataset")


def test_subsampling_is_seeded():
    frame, vecs = _frame(CENTRES, n=50)
    a = distances.group_matrix(frame, vecs, "language", "energy", max_per_group=30, seed=3)
    b = distances.group_matrix(frame, vecs, "language", "energy", max_per_group=30, seed=3)
    assert a.equals(b)


def test_cluster_order_and_dendrogram():
    m = pd.DataFrame(
        [[0, 1, 9, 9], [1, 0, 9, 9], [9, 9, 0, 2], [9, 9, 2, 0]],
        index=list("abcd"),
        columns=list("abcd"),
        dtype=float,
    )
    order = distances.cluster_order(m)
    assert {frozenset(order[:2]), frozenset(order[2:])} == {frozenset("ab"), frozenset("cd")}
    tree = distances.dendrogram(m)
    leaves = tree[tree["link"] == -1]
    assert list(leaves["label"]) == order and list(leaves["x"]) == [5, 15, 25, 35]
    links = tree[tree["link"] >= 0]
    assert links["link"].nunique() == 3 and links["y"].max() == pytest.approx(9)
    fig = compare_charts.dendrogram_figure(tree, label=str.upper).to_dict()
    assert len(fig["data"]) == 3 and list(fig["layout"]["xaxis"]["ticktext"]) == [
        x.upper() for x in order
    ]


def test_heatmap_figure_follows_the_order():
    m = pd.DataFrame([[0, 0.2], [0.2, 0]], index=["eng", "fra"], columns=["eng", "fra"])
    fig = compare_charts.heatmap_figure(m, ["fra", "eng"], label=lambda c: c.upper()).to_dict()
    heat = fig["data"][0]
    assert heat["type"] == "heatmap" and list(heat["x"]) == ["FRA", "ENG"]
    assert [list(r) for r in heat["z"]] == [[0, 0.2], [0.2, 0]]


def test_near_far_pairs_on_the_same_question():
    frame, vecs = _frame(CENTRES, n=10)
    vecs = vecs.copy()
    i_a = frame.index[(frame["identity"] == "a$eng") & (frame["question_id"] == "q3")][0]
    i_b = frame.index[(frame["identity"] == "b$fra") & (frame["question_id"] == "q3")][0]
    vecs[i_b] = vecs[i_a]  # the same answer, so the nearest pair
    pairs = distances.near_far_pairs(frame, vecs, "a$eng", "b$fra", k=3)
    assert list(pairs["kind"]) == ["near"] * 3 + ["far"] * 3
    top = pairs.iloc[0]
    assert top["question"] == "Question 3?" and top["distance"] == pytest.approx(0, abs=1e-9)
    assert (top["answer_a"], top["answer_b"], top["original_b"]) == (
        "eng-a-3",
        "fra-b-3",
        "orig-fra-3",
    )
    assert pairs["distance"].iloc[3] >= pairs["distance"].iloc[2]
    with pytest.raises(UserError, match="share no question"):
        distances.near_far_pairs(frame, vecs, "a$eng", "a$eng")


def test_iw_coordinates_and_correlation():
    csv = b"Language,x,y\neng,1.5,0.5\nfra_Latn,1.4,0.7\nzho,-0.5,1.2\ndeu,1.0,1.3\n"
    coords = distances.read_iw_coordinates(csv)
    assert list(coords["language"]) == ["eng", "fra", "zho", "deu"]
    langs = ["eng", "fra", "zho", "deu"]
    xy = coords[["x", "y"]].to_numpy()
    exact = np.sqrt(((xy[:, None] - xy[None]) ** 2).sum(-1))
    values = 2 * exact + 0.1
    np.fill_diagonal(values, 0)
    m = pd.DataFrame(values, index=langs, columns=langs)
    res = distances.iw_correlation(m, coords, permutations=199)
    assert res.pearson == pytest.approx(1.0) and res.spearman == pytest.approx(1.0)
    assert res.n_languages == 4 and len(res.pairs) == 6 and res.p_value < 0.2
    fig = compare_charts.iw_figure(res.pairs, r=res.pearson).to_dict()
    assert "r = 1.00" in fig["layout"]["title"]["text"] and len(fig["data"][0]["x"]) == 6


@pytest.mark.parametrize(
    "csv, message",
    [
        (b"lang,x,y\neng,1,2\n", "columns language, x, y"),
        (b"language,x,y\nxx,1,2\n", "unknown language"),
        (b"language,x,y\neng,a,2\n", "must be numbers"),
        (b"language,x,y\neng,1,2\neng,2,3\n", "appears twice"),
    ],
)
def test_bad_coordinates(csv, message):
    with pytest.raises(UserError, match=message):
        distances.read_iw_coordinates(csv)


def test_iw_needs_three_matched_languages():
    m = pd.DataFrame(np.zeros((2, 2)), index=["eng", "fra"], columns=["eng", "fra"])
    coords = distances.read_iw_coordinates(b"language,x,y\neng,1,2\nfra,2,3\nzho,0,0\n")
    with pytest.raises(UserError, match="at least 3"):
        distances.iw_correlation(m, coords)


def test_most_shared_pair_finds_the_identities_with_common_questions():
    frame = pd.DataFrame(
        {
            "identity": ["a$eng", "a$eng", "b$eng", "c$eng", "c$eng", "d$eng"],
            "question_id": ["q1", "q2", "q9", "q1", "q2", "q1"],
            "question_en": [""] * 6,
        }
    )
    assert distances.most_shared_pair(frame) == ("a$eng", "c$eng")  # two questions in common
    assert distances.most_shared_pair(frame[frame["identity"] != "c$eng"]) == ("a$eng", "d$eng")
    assert distances.most_shared_pair(frame.iloc[[0, 2]]) is None
