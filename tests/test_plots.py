"""The value map figure, checked on fig.to_dict(): points, centroids, lines, labels, hovers."""

from __future__ import annotations

import base64
import html

import numpy as np
import pandas as pd
import pytest

from univar.analysis import mapdata
from univar.figures import mapstyle, value_map

LANGS = ("eng", "fra", "zho")
MODELS = ("openai/gpt-4o-mini", "smollm2")


def frame(n_per: int = 10, langs=LANGS, models=MODELS, seed: int = 0) -> pd.DataFrame:
    """A small multi-language map frame (built directly: real data has one language)."""
    rng = np.random.default_rng(seed)
    rows = []
    for li, lang in enumerate(langs):
        for mi, model in enumerate(models):
            for i in range(n_per):
                rows.append(
                    {
                        "qa_id": f"{lang}-{mi}-{i}",
                        "x": 10.0 * li + mi + rng.normal(0, 0.3),
                        "y": 5.0 * mi + rng.normal(0, 0.3),
                        "model": model,
                        "language": lang,
                        "dataset": "synthetic",
                        "value": ("benevolence", "power", None)[i % 3],
                        "framework": "schwartz",
                        "question": f"Q{i} in {lang}?",
                        "answer": f"Réponse <{i}> " * 40,
                        "question_en": None if lang == "eng" else f"Q{i}?",
                        "answer_en": None if lang == "eng" else f"Answer {i} " * 40,
                    }
                )
    return pd.DataFrame(rows)


def plain(value):
    """A to_dict() array as a list: plotly writes numeric arrays as base64 `bdata`."""
    if isinstance(value, dict) and "bdata" in value:
        raw = base64.b64decode(value["bdata"])
        return np.frombuffer(raw, dtype=np.dtype(value["dtype"])).tolist()
    return list(value)


def traces(fig, meta):
    """The traces of one role, with x, y and customdata as plain lists."""
    out = []
    for i, t in enumerate(fig.to_dict()["data"]):
        if t.get("meta") == meta:
            keys = [k for k in ("x", "y", "customdata") if k in t]
            out.append({**t, **{k: plain(t[k]) for k in keys}, "index": i})
    return out


def test_one_faint_trace_per_language_with_qa_ids():
    df = frame()
    fig = value_map.value_map_figure(df, "language")
    qa = traces(fig, "qa")
    assert [t["name"] for t in qa] == ["Chinese (Simplified)", "English", "French"]
    assert all(t["type"] == "scatter" and t["opacity"] < 0.6 for t in qa)
    assert sorted(row[0] for t in qa for row in t["customdata"]) == sorted(df["qa_id"])
    legend = traces(fig, "legend")
    assert [t["name"] for t in legend] == [
        "Chinese (Simplified) (20)",
        "English (20)",
        "French (20)",
    ]
    assert {t["legendgroup"] for t in legend} == {t["legendgroup"] for t in qa}
    assert qa[1]["marker"]["color"] == mapstyle.LANGUAGE_COLORS["eng"]


def test_language_centroids_identity_centroids_lines_and_labels():
    df = frame()
    fig = value_map.value_map_figure(df, "language")
    (lang,) = traces(fig, "language-centroids")
    assert len(lang["x"]) == 3
    eng = df[df.language == "eng"]
    assert np.isclose(lang["x"][0], eng["x"].mean()) and np.isclose(lang["y"][0], eng["y"].mean())
    (ident,) = traces(fig, "identity-centroids")
    assert ident["mode"] == "markers" and len(ident["x"]) == 6
    assert set(ident["text"]) == {"gpt-4o-mini", "smollm2"}  # model labels, provider dropped
    assert ident["marker"]["size"] < lang["marker"]["size"]
    lines = traces(fig, "centroid-lines")
    assert len(lines) == 3  # one per language colour
    first = lines[0]  # eng: from the language centroid to each of its two models
    assert first["x"][0] == lang["x"][0] and first["x"][2] is None and len(first["x"]) == 6
    notes = fig.to_dict()["layout"]["annotations"]
    labels = [a["text"] for a in notes if a["name"] == "language-label"]
    assert labels == ["<b>English</b>", "<b>French</b>", "<b>Chinese</b>"]
    models = [(a["x"], a["y"], a["text"]) for a in notes if a["name"] == "model-label"]
    assert models == list(zip(ident["x"], ident["y"], ident["text"], strict=True))


def test_colour_by_model_colours_identities_by_model():
    fig = value_map.value_map_figure(frame(), "model")
    assert [t["name"] for t in traces(fig, "qa")] == ["gpt-4o-mini", "smollm2"]
    (ident,) = traces(fig, "identity-centroids")
    assert len(set(ident["marker"]["color"])) == 2
    (lang,) = traces(fig, "language-centroids")
    assert set(lang["marker"]["color"]) == {mapstyle.NEUTRAL}


@pytest.mark.parametrize("by", ["value", "framework", "dataset"])
def test_other_colourings_keep_missing_values_in_a_grey_group(by):
    fig = value_map.value_map_figure(frame(), by)
    names = [t["name"] for t in traces(fig, "qa")]
    assert (
        len(names) >= 1
        and fig.to_dict()["layout"]["legend"]["title"]["text"] == mapstyle.COLOR_BY[by]
    )
    if by == "value":
        assert names == ["benevolence", "power", mapstyle.MISSING]


def test_unknown_colouring_is_refused():
    with pytest.raises(ValueError, match="color_by"):
        value_map.value_map_figure(frame(), "colour")


def test_webgl_above_the_threshold_svg_below():
    df = frame(n_per=5)
    assert {t["type"] for t in traces(value_map.value_map_figure(df), "qa")} == {"scatter"}
    big = value_map.value_map_figure(df, webgl_threshold=len(df) - 1)
    assert {t["type"] for t in traces(big, "qa")} == {"scattergl"}
    assert traces(big, "language-centroids")[0]["type"] == "scatter"  # labels stay crisp SVG


def test_search_highlight_draws_matches_on_top_and_dims_the_rest():
    df = frame()
    plain = value_map.value_map_figure(df)
    hits = ["fra-0-1", "zho-1-2", "not-on-the-map"]
    fig = value_map.value_map_figure(df, highlight=hits)
    (top,) = traces(fig, "highlight")
    assert sorted(row[0] for row in top["customdata"]) == ["fra-0-1", "zho-1-2"]
    assert top["opacity"] == 1.0 and top["marker"]["size"] > traces(fig, "qa")[0]["marker"]["size"]
    assert top["name"] == "Search matches (2)"
    assert traces(fig, "qa")[0]["opacity"] < traces(plain, "qa")[0]["opacity"]
    assert top["index"] > max(t["index"] for t in traces(fig, "qa"))


def test_hover_shows_english_and_original_escaped_and_cut():
    df = frame(n_per=1)
    data = mapstyle.hover_data(df, limit=120)
    assert list(data[:, 0]) == list(df["qa_id"])  # customdata[0] is the qa_id selections use
    fra = data[df.index[df.language == "fra"][0]]
    assert fra[1] == "gpt-4o-mini · French · benevolence" and fra[2] == "Q0?"
    assert "Original" in fra[4] and "Réponse &lt;0&gt;" in fra[4] and "<0>" not in fra[4]
    assert fra[3].endswith("…") and len(fra[3].replace("<br>", " ")) <= 120
    eng = data[df.index[df.language == "eng"][0]]
    assert eng[4] == "" and eng[2] == "Q0 in eng?"
    lines = [html.unescape(line) for row in data for line in row[3].split("<br>")]
    assert max(map(len, lines)) <= 80  # wrapped
    fig = value_map.value_map_figure(df)
    qa = traces(fig, "qa")[0]
    assert qa["hovertemplate"] == mapstyle.HOVER_TEMPLATE and len(qa["customdata"][0]) == 5


def test_hover_budget_keeps_a_100k_point_map_small():
    assert mapdata.hover_chars(100) == 280 and mapdata.hover_chars(100_000) == 40
    df = frame(n_per=3)
    short = mapstyle.hover_data(df, limit=mapdata.hover_chars(100_000))
    assert all(row[4] == "" for row in short)  # huge maps carry English text only
    assert max(len(row[2]) + len(row[3]) for row in short) <= 80


def test_single_point_and_single_language_maps_render():
    one = frame(n_per=1, langs=("eng",), models=("smollm2",))
    fig = value_map.value_map_figure(one)
    assert len(traces(fig, "identity-centroids")[0]["x"]) == 1
    assert len(fig.to_dict()["layout"]["annotations"]) == 2  # English and smollm2


def test_placed_points_say_so_in_their_hover():
    df = frame(n_per=1).assign(placed=False)
    df.loc[0, "placed"] = True
    heads = mapstyle.hover_data(df, limit=120)[:, 1]
    assert heads[0].endswith(mapstyle.PLACED_NOTE) and not any(
        h.endswith(mapstyle.PLACED_NOTE) for h in heads[1:]
    )


def test_a_given_extent_frames_every_selection_alike():
    """The layout's extent, not the selection's: the points keep their place on screen."""
    df = frame()
    extent = ((-5.0, 30.0), (-3.0, 9.0))
    whole = value_map.value_map_figure(df, extent=extent).to_dict()["layout"]
    some = value_map.value_map_figure(df[df.language == "eng"], extent=extent).to_dict()["layout"]
    assert whole["xaxis"]["range"] == some["xaxis"]["range"]
    assert whole["yaxis"]["range"] == some["yaxis"]["range"]
    low, high = whole["xaxis"]["range"]
    assert low < -5.0 and high > 30.0
    own = value_map.value_map_figure(df[df.language == "eng"]).to_dict()["layout"]
    assert own["xaxis"]["range"] != whole["xaxis"]["range"]  # without it: the points' own
