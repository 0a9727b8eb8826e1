"""Map labels that can be read: no label over another label or over a centroid marker, on the
shipped demo's map and in crowds, at every plot size the app and the PNG export draw."""

from __future__ import annotations

import html
import re

import numpy as np
import pandas as pd
import pytest

from univar.figures import labels, value_map
from univar.ingest import demo

# Plot-area sizes (px) the labels must hold at: from a 1280 px laptop page with the sidebar
# open to a wide monitor; the app's figure (720 px tall) and the 1200 x 800 PNG export.
WIDTHS = (560, 640, 760, 900, 1040, 1250, 1500, 1800)
HEIGHTS = (700, 740, 780)
TAG = re.compile(r"<[^>]+>")


def plain(values) -> list:
    """A to_dict() array as a list (plotly writes numeric arrays as base64 `bdata`)."""
    if isinstance(values, dict) and "bdata" in values:
        import base64

        raw = base64.b64decode(values["bdata"])
        return np.frombuffer(raw, dtype=np.dtype(values["dtype"])).tolist()
    return list(values)


@pytest.fixture(scope="module")
def demo_points() -> pd.DataFrame:
    """The shipped demo's map points: its layout joined to its QA pairs."""
    if not demo.available():
        pytest.skip("no shipped demo in data/demo")
    layout = pd.read_parquet(demo.DEMO_DIR / demo.MAP_FILE)
    qa = pd.read_parquet(demo.DEMO_DIR / demo.QA_FILE)
    return layout.merge(qa, on="qa_id").assign(dataset=demo.DEMO_DATASET)


def crowd(n_models: int = 12, spread: float = 0.01, seed: int = 0) -> pd.DataFrame:
    """`n_models` identities of English all at one point, between two other languages."""
    rng = np.random.default_rng(seed)
    rows = []
    centres = {"eng": [(5.0, 3.0), n_models], "fra": [(10.0, 6.0), 3], "deu": [(0.0, 0.0), 3]}
    for lang, ((cx, cy), n) in centres.items():
        for m in range(n):
            for i in range(8):
                rows.append(
                    {
                        "qa_id": f"{lang}-{m}-{i}",
                        "x": cx + rng.normal(0, spread),
                        "y": cy + rng.normal(0, spread),
                        "model": f"org/model-{m:02d}",
                        "language": lang,
                        "dataset": "crowd",
                        "value": None,
                        "framework": None,
                        "question": "Q?",
                        "answer": "A.",
                        "question_en": None,
                        "answer_en": None,
                    }
                )
    return pd.DataFrame(rows)


def drawn_labels(spec: dict) -> list[dict]:
    """Every label of a figure as the placer sizes it: anchor (data), centre offset (px, y up)
    and size (px). Annotations, and text drawn by a trace beside its markers."""
    out = []
    for a in spec["layout"].get("annotations", []):
        text = html.unescape(TAG.sub("", a["text"]))
        serif = "Georgia" in a["font"].get("family", "")
        w, h = labels.text_size(
            text, a["font"]["size"], serif_bold=serif, pad=a.get("borderpad", 1)
        )
        if a.get("showarrow"):
            dx, dy = a["ax"], -a["ay"]
        else:
            dx, dy = a.get("xshift", 0), a.get("yshift", 0)
        out.append({"x": a["x"], "y": a["y"], "dx": dx, "dy": dy, "w": w, "h": h, "text": text})
    for t in spec["data"]:
        if "text" not in t.get("mode", ""):
            continue
        r = t["marker"]["size"] / 2
        positions = t["textposition"]
        for i, (x, y, text) in enumerate(zip(plain(t["x"]), plain(t["y"]), t["text"], strict=True)):
            w, h = labels.text_size(html.unescape(text), t["textfont"]["size"])
            vertical, horizontal = (
                positions[i] if isinstance(positions, list) else positions
            ).split()
            dx = {"left": -(r + w / 2), "center": 0, "right": r + w / 2}[horizontal]
            dy = {"top": r + h / 2, "middle": 0, "bottom": -(r + h / 2)}[vertical]
            out.append({"x": x, "y": y, "dx": dx, "dy": dy, "w": w, "h": h, "text": text})
    return out


def drawn_markers(spec: dict) -> list[dict]:
    """The centroid markers: anchor (data) and outer radius (px)."""
    out = []
    for t in spec["data"]:
        if t.get("meta") in ("identity-centroids", "language-centroids"):
            r = t["marker"]["size"] / 2 + t["marker"]["line"]["width"] / 2
            out += [
                {"x": x, "y": y, "r": r} for x, y in zip(plain(t["x"]), plain(t["y"]), strict=True)
            ]
    return out


def ranges(spec: dict) -> tuple[tuple, tuple]:
    """The axis ranges the figure is drawn with (fixed, else about what autorange picks)."""
    got = []
    for axis, key in (("xaxis", "x"), ("yaxis", "y")):
        fixed = spec["layout"].get(axis, {}).get("range")
        if fixed:
            got.append(tuple(fixed))
            continue
        values = [v for t in spec["data"] for v in plain(t.get(key, [])) if v is not None]
        lo, hi = min(values), max(values)
        got.append((lo - 0.05 * (hi - lo), hi + 0.05 * (hi - lo)))
    return got[0], got[1]


def pixel_rects(spec: dict, width: float, height: float):
    """(label rects, marker rects) in pixels of a plot area this big: x0, x1, y0, y1."""
    (x0, x1), (y0, y1) = ranges(spec)
    sx, sy = width / (x1 - x0), height / (y1 - y0)
    lab = np.asarray(
        [
            (
                (a["x"] - x0) * sx + a["dx"] - a["w"] / 2,
                (a["x"] - x0) * sx + a["dx"] + a["w"] / 2,
                (a["y"] - y0) * sy + a["dy"] - a["h"] / 2,
                (a["y"] - y0) * sy + a["dy"] + a["h"] / 2,
            )
            for a in drawn_labels(spec)
        ]
    ).reshape(-1, 4)
    mark = np.asarray(
        [
            ((m["x"] - x0) * sx - m["r"], (m["x"] - x0) * sx + m["r"])
            + ((m["y"] - y0) * sy - m["r"], (m["y"] - y0) * sy + m["r"])
            for m in drawn_markers(spec)
        ]
    ).reshape(-1, 4)
    return lab, mark


def overlapping(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(len(a), len(b)): rect i of a and rect j of b share some area."""
    return (
        (a[:, None, 0] < b[None, :, 1])
        & (b[None, :, 0] < a[:, None, 1])
        & (a[:, None, 2] < b[None, :, 3])
        & (b[None, :, 2] < a[:, None, 3])
    )


def clashes(spec: dict) -> list[str]:
    """Every overlap of a label with another label or a centroid marker, at every size."""
    names = [a["text"] for a in drawn_labels(spec)]
    found = []
    for width in WIDTHS:
        for height in HEIGHTS:
            lab, mark = pixel_rects(spec, width, height)
            pairs = np.triu(overlapping(lab, lab), k=1)
            found += [
                f"{names[i]} / {names[j]} at {width}x{height}"
                for i, j in zip(*np.nonzero(pairs), strict=True)
            ]
            on_marker = overlapping(lab, mark)
            found += [
                f"{names[i]} on a marker at {width}x{height}" for i in np.nonzero(on_marker)[0]
            ]
    return found


@pytest.mark.parametrize("color_by", ["language", "model"])
def test_the_demo_map_labels_overlap_no_label_and_no_marker(demo_points, color_by):
    spec = value_map.value_map_figure(demo_points, color_by).to_dict()
    names = [a["text"] for a in drawn_labels(spec)]
    languages, identities = (
        demo_points["language"].nunique(),
        len(demo_points.groupby(["language", "model"])),
    )
    assert len(names) == languages + identities  # every centroid keeps its label
    assert {"gemma3", "smollm2", "English", "Chinese"} <= set(names)
    assert clashes(spec) == []
    lab, _ = pixel_rects(spec, WIDTHS[0], HEIGHTS[0])  # inside the plot, smallest size
    assert lab[:, 0].min() >= 0 and lab[:, 2].min() >= 0
    assert lab[:, 1].max() <= WIDTHS[0] and lab[:, 3].max() <= HEIGHTS[0]


def test_twelve_identities_at_one_point_all_get_a_label_clear_of_the_rest():
    spec = value_map.value_map_figure(crowd(12), "language").to_dict()
    assert clashes(spec) == []
    notes = spec["layout"]["annotations"]
    eng = [a for a in notes if a["name"] == "model-label" and abs(a["x"] - 5) < 0.1]
    assert sorted(a["text"] for a in eng) == [f"model-{m:02d}" for m in range(12)]
    # the marker of all twelve is covered: those further out point back to it
    assert sum(a["showarrow"] for a in eng) >= 8
    assert all(np.hypot(a["ax"], a["ay"]) <= labels.REACH * 1.5 for a in eng if a["showarrow"])


def test_same_input_same_places(demo_points):
    first = value_map.value_map_figure(demo_points, "model").to_dict()["layout"]["annotations"]
    again = value_map.value_map_figure(demo_points, "model").to_dict()["layout"]["annotations"]
    shuffled = demo_points.sample(frac=1.0, random_state=3).reset_index(drop=True)
    other_order = value_map.value_map_figure(shuffled, "model").to_dict()["layout"]["annotations"]
    assert first == again
    assert [(a["text"], a.get("xshift"), a.get("ax")) for a in first] == [
        (a["text"], a.get("xshift"), a.get("ax")) for a in other_order
    ]
    crowded = crowd(12)
    assert (
        value_map.value_map_figure(crowded).to_dict()["layout"]["annotations"]
        == value_map.value_map_figure(crowded.copy()).to_dict()["layout"]["annotations"]
    )


def test_overlap_is_exact_over_the_whole_range_of_sizes():
    """Two labels that face each other across their anchors miss at both ends of the range and
    meet in between: sampling the two ends would pass them; the interval check does not."""
    canvas = labels.Canvas((0.0, 1.0), (0.0, 1.0), (50.0, 150.0), (100.0, 100.0))
    right = labels.boxes(0.0, 0.5, 40, 60, -5, 5)  # px 40..60 right of x=0
    left = labels.boxes(1.0, 0.5, -60, -40, -5, 5)  # px 40..60 left of x=1: s-60..s-40
    assert labels.overlap_matrix(right, left, canvas, gap=0)[0, 0]  # meet for 80 < s < 120
    for width in (50.0, 150.0):
        one = labels.Canvas((0.0, 1.0), (0.0, 1.0), (width, width), (100.0, 100.0))
        assert not labels.overlap_matrix(right, left, one, gap=0)[0, 0]
    # two labels that would rather face each other: placed apart at every size of the range
    wanted = [
        labels.Label(0.0, 0.5, 60, 10, 3, toward=(1.0, 0.0)),
        labels.Label(1.0, 0.5, 60, 10, 3, toward=(-1.0, 0.0)),
    ]
    wide = labels.Canvas((-0.5, 1.5), (0.0, 1.0), (200.0, 600.0), (100.0, 100.0))
    markers = labels.marker_boxes([0.0, 1.0], [0.5, 0.5], 3)
    placed = labels.place(wanted, markers, wide)
    a, b = (labels.label_box(lab, p) for lab, p in zip(wanted, placed, strict=True))
    assert not labels.overlap_matrix(a, b, wide, gap=0).any()
    assert not labels.overlap_matrix(np.concatenate([a, b]), markers, wide, gap=0).any()
    for width in np.linspace(200.0, 600.0, 41):
        canvas = labels.Canvas(wide.x_range, wide.y_range, (width, width), wide.heights)
        assert not labels.overlap_matrix(a, b, canvas, gap=0).any()


def test_a_label_with_no_room_left_is_left_out_not_drawn_over_another():
    df = crowd(60)  # sixty labels round one point: more than fit within reach
    fig = value_map.value_map_figure(df, "language")
    spec = fig.to_dict()
    assert clashes(spec) == []
    eng = [a for a in spec["layout"]["annotations"] if abs(a["x"] - 5) < 0.1]
    assert 12 < len(eng) < 61
    (ident,) = [t for t in spec["data"] if t.get("meta") == "identity-centroids"]
    assert len(ident["hovertext"]) == 66  # every centroid still names itself on hover


def test_text_sizes_err_large_against_the_export(demo_points):
    """The PNG export (kaleido's Chromium) draws each label no bigger than the placer thought,
    and where it thought: its boxes overlap no other label and no centroid marker."""
    from univar.output import export

    if export.browser_path() is None:
        pytest.skip("no Chromium for kaleido")
    fig = value_map.value_map_figure(demo_points, "model")
    svg = export.figure_bytes(fig, "svg").decode()
    boxes = [
        tuple(map(float, m))
        for m in re.findall(
            r'<g class="annotation" data-index="\d+"[^>]*><g class="annotation-text-g"[^>]*>'
            r'<g class="cursor-pointer" transform="translate\(([-\d.]+),([-\d.]+)\)">'
            r'<rect class="bg" x="[-\d.]+" y="[-\d.]+" width="([\d.]+)" height="([\d.]+)"',
            svg,
        )
    ]
    spec = fig.to_dict()
    expected = drawn_labels(spec)
    assert len(boxes) == len(expected)
    for (_, _, w, h), label in zip(boxes, expected, strict=True):
        assert w <= label["w"] + 1 and h <= label["h"] + 1, label["text"]
    rects = np.asarray([(x, x + w, y, y + h) for x, y, w, h in boxes])
    assert not np.triu(overlapping(rects, rects), k=1).any()
    traces = re.split(r'<g class="trace scatter', svg)[1:]
    assert len(traces) == len(spec["data"])
    plot = re.search(r'<g class="xy" transform="translate\(([-\d.]+),([-\d.]+)\)"', svg)
    left, top = float(plot.group(1)), float(plot.group(2))
    markers = []
    for trace, chunk in zip(spec["data"], traces, strict=True):
        if trace.get("meta") in ("identity-centroids", "language-centroids"):
            r = trace["marker"]["size"] / 2 + trace["marker"]["line"]["width"] / 2
            for x, y in re.findall(
                r'class="point" transform="translate\(([-\d.]+),([-\d.]+)\)"', chunk
            ):
                cx, cy = left + float(x), top + float(y)
                markers.append((cx - r, cx + r, cy - r, cy + r))
    assert len(markers) == len(drawn_markers(spec))
    assert not overlapping(rects, np.asarray(markers)).any()
