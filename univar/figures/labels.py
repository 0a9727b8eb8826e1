"""Label placement for maps: no label over another label or over a marker, at any plot size in a
range (pure; numpy only, no plotly).

Plotly draws points in data units and text in pixels. A label here is anchored at a data point
and offset from it in pixels (an annotation's xshift/yshift, or ax/ay with a leader line), so
every box, a marker's included, is `anchor * scale + offset`, and the scale (pixels per data
unit) is all that differs between the app, whose width follows the page, and a PNG export. For
two such boxes the scales at which they overlap form an interval per axis, so "apart at every
size in the range" is checked exactly, not at a few sample sizes.

Placement is greedy and deterministic, in the spirit of datamapplot's: labels in the order
given (language labels first, then model labels), each taking the cheapest free place round its
anchor. The places: the eight a text takes beside its marker, then a grid further out whose
places get a leader line back to the anchor. The cost: distance, turning from the preferred
side, a leader, and covering a line or a leader, or a leader crossing a label. A label with no
free place within reach is left out rather than drawn over another.
"""

from __future__ import annotations

import math
import unicodedata
from dataclasses import dataclass

import numpy as np

GAP = 2.0  # px kept free between two boxes, so that touching labels still read as two
REACH = 150.0  # px: the farthest a label's centre goes from its anchor; beyond, a leader would
# be hard to follow
STEP = 6.0  # px between candidate columns
LEADER_MIN = 6.0  # px: a label this much further out than touching its marker gets a leader
CHUNK = 256  # candidates checked at once, cheapest first
CELL = 3.0  # px: the grid that rules out most taken places before the exact check
# What a place costs: per px further out than touching its marker, per radian turned from
# the preferred side, for needing a leader, per line it covers, per label or marker its
# leader crosses and per leader it covers.
DISTANCE_COST, TURN_COST, LEADER_COST, LINE_COST, CROSS_COST = 0.3, 1.0, 2.0, 4.0, 25.0

# Character widths in em, after DejaVu Sans (what Linux draws for Plotly's "Open Sans", verdana,
# arial stack when none is installed; Verdana's are much the same). Wider than Arial's, so the
# estimate errs towards too large a box, never too small.
_NARROW, _SEMI, _WIDE = set("iljI.,:;'|!"), set('ftr()[]{}- /\\"`'), set("mwMW%@")
SERIF_BOLD = 1.18  # DejaVu Serif Bold (Georgia's fallback) against DejaVu Sans, measured
LINE_HEIGHT = 1.3  # Plotly's line spacing


def _char_em(c: str) -> float:
    if c in _NARROW:
        return 0.30
    if c in _SEMI:
        return 0.41
    if c in _WIDE:
        return 0.95
    if c.isdigit():
        return 0.64
    if c.isascii():
        return 0.72 if c.isupper() else 0.62
    if unicodedata.combining(c):
        return 0.0
    return 1.0 if unicodedata.east_asian_width(c) in "WF" else 0.72


def text_size(text: str, size: float, *, serif_bold: bool = False, pad: float = 0.0):
    """(width, height) in pixels of one line of `text` as shown (not HTML-escaped), with
    `pad` pixels around it (an annotation's borderpad)."""
    width = sum(_char_em(c) for c in text) * size * (SERIF_BOLD if serif_bold else 1.0)
    return width + 2 * pad, size * LINE_HEIGHT + 2 * pad


@dataclass(frozen=True)
class Canvas:
    """The plot area: its axis ranges (data units) and the pixel sizes it may be drawn at."""

    x_range: tuple[float, float]
    y_range: tuple[float, float]
    widths: tuple[float, float]
    heights: tuple[float, float]

    @property
    def x_scales(self) -> tuple[float, float]:
        span = self.x_range[1] - self.x_range[0]
        return self.widths[0] / span, self.widths[1] / span

    @property
    def y_scales(self) -> tuple[float, float]:
        span = self.y_range[1] - self.y_range[0]
        return self.heights[0] / span, self.heights[1] / span


@dataclass(frozen=True)
class Label:
    """What to place: an anchor (data units), the box size and the anchor marker's radius
    (pixels), and the side it would rather go (a direction in pixels, y up; None: below)."""

    x: float
    y: float
    width: float
    height: float
    clearance: float
    toward: tuple[float, float] | None = None


@dataclass(frozen=True)
class Placed:
    """Where a label went: its centre's offset from the anchor in pixels (y up) and whether a
    leader line joins it to the anchor."""

    dx: float
    dy: float
    leader: bool


def boxes(x, y, left, right, bottom, top) -> np.ndarray:
    """Rows of (anchor x, anchor y, left, right, bottom, top): the edges in pixels from the
    anchor, y up. Scalars or arrays; returns shape (n, 6)."""
    cols = [np.atleast_1d(np.asarray(v, dtype=float)) for v in (x, y, left, right, bottom, top)]
    return np.stack(np.broadcast_arrays(*cols), axis=-1)


def marker_boxes(x, y, radius) -> np.ndarray:
    r = np.asarray(radius, dtype=float)
    return boxes(x, y, -r, r, -r, r)


def label_box(label: Label, placed: Placed) -> np.ndarray:
    """The box of one placed label, shape (1, 6)."""
    w, h = label.width / 2, label.height / 2
    return boxes(label.x, label.y, placed.dx - w, placed.dx + w, placed.dy - h, placed.dy + h)


def _axis_overlap(d, a0, a1, b0, b1, scales, gap):
    """Whether intervals a (anchor at d from b's) and b overlap at some scale in `scales`.

    a spans d*s + [a0, a1], b spans [b0, b1]: they overlap (or come within `gap`) where
    b0 - a1 - gap < d*s < b1 - a0 + gap, and d*s sweeps [min, max] of d*scales as s does.
    """
    lo, hi = d * scales[0], d * scales[1]
    sweep_lo, sweep_hi = np.minimum(lo, hi), np.maximum(lo, hi)
    return (b0 - a1 - gap < sweep_hi) & (b1 - a0 + gap > sweep_lo)


def overlap_matrix(a: np.ndarray, b: np.ndarray, canvas: Canvas, gap: float = GAP) -> np.ndarray:
    """(len(a), len(b)) booleans: box i of `a` overlaps box j of `b` at some size of the
    canvas."""
    a, b = a[:, None, :], b[None, :, :]
    x = _axis_overlap(
        a[..., 0] - b[..., 0], a[..., 2], a[..., 3], b[..., 2], b[..., 3], canvas.x_scales, gap
    )
    y = _axis_overlap(
        a[..., 1] - b[..., 1], a[..., 4], a[..., 5], b[..., 4], b[..., 5], canvas.y_scales, gap
    )
    return x & y


def _clashes(x: float, y: float, edges: np.ndarray, obstacles: np.ndarray, canvas: Canvas):
    """For boxes round one anchor (x, y; rows of pixel edges): how many `obstacles` each
    overlaps at some size of the canvas, one more if it leaves the plot area. As
    `overlap_matrix`, with the sweep of the shared anchor's distances worked out once per
    obstacle."""
    hit = np.ones((len(edges), len(obstacles)), dtype=bool)
    for axis, at, scales in ((0, x, canvas.x_scales), (1, y, canvas.y_scales)):
        sweep = np.stack([(at - obstacles[:, axis]) * s for s in scales])
        lo, hi = sweep.min(axis=0), sweep.max(axis=0)
        b0, b1 = obstacles[:, 2 + 2 * axis], obstacles[:, 3 + 2 * axis]
        a0, a1 = edges[:, 2 * axis, None], edges[:, 2 * axis + 1, None]
        hit &= (a1 > b0 - GAP - hi) & (a0 < b1 + GAP - lo)
    boxes_ = np.concatenate([np.broadcast_to([x, y], (len(edges), 2)), edges], axis=1)
    return hit.sum(axis=1) + outside(boxes_, canvas)


def outside(a: np.ndarray, canvas: Canvas) -> np.ndarray:
    """Boxes that leave the plot area. The smallest size is the worst: offsets stay in pixels
    while the area grows."""
    sx, sy = canvas.x_scales[0], canvas.y_scales[0]
    px = (a[:, 0] - canvas.x_range[0]) * sx
    py = (a[:, 1] - canvas.y_range[0]) * sy
    return (
        (px + a[:, 2] < 0)
        | (px + a[:, 3] > canvas.widths[0])
        | (py + a[:, 4] < 0)
        | (py + a[:, 5] > canvas.heights[0])
    )


def _candidates(label: Label) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Centre offsets (n, 2) in pixels, their cost before what they cover, and whether each
    needs a leader line; cheapest first, ties in a fixed order."""
    if label.toward is None or (label.toward[0] == 0 and label.toward[1] == 0):
        want = -math.pi / 2
    else:
        want = math.atan2(label.toward[1], label.toward[0])
    w, h = label.width / 2, label.height / 2
    near = label.clearance + GAP  # a label touching its marker, as a text position would
    eight = [(c, s) for c in (-1, 0, 1) for s in (-1, 0, 1) if c or s]
    tight = np.asarray([(c * (near + w), s * (near + h)) for c, s in eight])
    # further out a grid, columns a few px apart and rows half a label's height apart, so
    # that labels crowded round one point can stack in columns beside it, GAP between
    row = (label.height + GAP) / 2
    gx, gy = np.meshgrid(
        np.arange(-REACH, REACH + 1e-9, STEP), np.arange(-REACH, REACH + 1e-9, row)
    )
    grid = np.stack([gx.ravel(), gy.ravel()], axis=1)
    offsets = np.concatenate([tight, grid])
    dist = np.hypot(
        np.maximum(np.abs(offsets[:, 0]) - w, 0), np.maximum(np.abs(offsets[:, 1]) - h, 0)
    )
    leader = np.arange(len(offsets)) >= len(tight)
    keep = ~leader | (dist >= near + LEADER_MIN)
    offsets, dist, leader = offsets[keep], dist[keep], leader[keep]
    angle = np.arctan2(offsets[:, 1], offsets[:, 0])
    turn = np.abs((angle - want + np.pi) % (2 * np.pi) - np.pi)
    cost = (
        np.maximum(dist - near, 0) * DISTANCE_COST
        + np.round(turn, 6) * TURN_COST
        + leader * LEADER_COST
    )
    order = np.lexsort((np.arange(len(cost)), cost))
    return offsets[order], cost[order], leader[order]


def _rects(px: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Pixel rects (x0, x1, y0, y1) of boxes whose anchors are at `px` (n or 1, 2)."""
    return np.stack(
        [
            px[:, 0] + edges[:, 0],
            px[:, 0] + edges[:, 1],
            px[:, 1] + edges[:, 2],
            px[:, 1] + edges[:, 3],
        ],
        axis=1,
    )


class _Scene:
    """What is on the map so far: marker and label boxes (for the exact check) and, in
    pixels at the smallest size, where things come nearest, their anchors and the lines a
    label should leave visible."""

    def __init__(self, markers: np.ndarray, canvas: Canvas, lines) -> None:
        self.canvas = canvas
        self.origin = np.asarray([canvas.x_range[0], canvas.y_range[0]])
        self.scale = np.asarray([canvas.x_scales[0], canvas.y_scales[0]])
        self.boxes = markers.reshape(-1, 6)
        self.anchors = self.px(self.boxes[:, :2])
        # Cells of CELL px, at the smallest size, that lie wholly inside some box: a place
        # that wholly holds one of them overlaps that box there, so is not free (the exact
        # check then runs only on the places this leaves).
        shape = (math.ceil(canvas.heights[0] / CELL), math.ceil(canvas.widths[0] / CELL))
        self.filled = np.zeros(shape, dtype=np.int32)
        self._fill(_rects(self.anchors, self.boxes[:, 2:]))
        ends = np.asarray(lines, dtype=float).reshape(-1, 4)
        self.lines = np.concatenate([self.px(ends[:, :2]), self.px(ends[:, 2:])], axis=1)
        self.leaders = np.empty((0, 4))

    def px(self, xy) -> np.ndarray:
        return (np.asarray(xy, dtype=float).reshape(-1, 2) - self.origin) * self.scale

    def add(self, box: np.ndarray, leader: np.ndarray | None) -> None:
        self.boxes = np.concatenate([self.boxes, box])
        anchor = self.px(box[:, :2])
        self.anchors = np.concatenate([self.anchors, anchor])
        self._fill(_rects(anchor, box[:, 2:]))
        if leader is not None:
            self.leaders = np.concatenate([self.leaders, leader])

    def _cells(self, rects: np.ndarray):
        """The cells wholly inside each rect, as [i0, i1) x [j0, j1) clipped to the grid."""
        rows, cols = self.filled.shape
        i0 = np.clip(np.ceil(rects[:, 0] / CELL), 0, cols).astype(int)
        i1 = np.clip(np.floor(rects[:, 1] / CELL), 0, cols).astype(int)
        j0 = np.clip(np.ceil(rects[:, 2] / CELL), 0, rows).astype(int)
        j1 = np.clip(np.floor(rects[:, 3] / CELL), 0, rows).astype(int)
        return i0, np.maximum(i1, i0), j0, np.maximum(j1, j0)

    def _fill(self, rects: np.ndarray) -> None:
        for i0, i1, j0, j1 in zip(*self._cells(rects), strict=True):
            self.filled[j0:j1, i0:i1] = 1
        table = np.zeros((self.filled.shape[0] + 1, self.filled.shape[1] + 1), dtype=np.int32)
        table[1:, 1:] = self.filled.cumsum(axis=0).cumsum(axis=1)
        self.table = table  # summed areas: any rect's filled cells in four look-ups

    def taken(self, rects: np.ndarray) -> np.ndarray:
        """Rects (pixels, smallest size) that wholly hold a filled cell: surely not free."""
        i0, i1, j0, j1 = self._cells(rects)
        t = self.table
        return (t[j1, i1] - t[j0, i1] - t[j1, i0] + t[j0, i0]) > 0


def _crossing(segments: np.ndarray, rects: np.ndarray) -> np.ndarray:
    """(len(segments), len(rects)): segment (x0, y0, x1, y1) passes through the inside of
    rect (x0, x1, y0, y1); slab clipping, exact."""
    p0 = segments[:, None, :2]
    d = segments[:, None, 2:] - p0
    lo, hi = rects[None, :, [0, 2]], rects[None, :, [1, 3]]
    with np.errstate(divide="ignore", invalid="ignore"):
        t1, t2 = (lo - p0) / d, (hi - p0) / d
    flat = d == 0  # parallel to that axis: inside the slab all along, or never
    within = (p0 > lo) & (p0 < hi)
    t_in = np.where(flat, np.where(within, -np.inf, np.inf), np.minimum(t1, t2))
    t_out = np.where(flat, np.where(within, np.inf, -np.inf), np.maximum(t1, t2))
    return np.maximum(t_in.max(axis=-1), 0) < np.minimum(t_out.min(axis=-1), 1)


def _within(segments: np.ndarray, point: np.ndarray, reach: float) -> np.ndarray:
    """Segments (pixels) that come within `reach` of `point` on both axes (bounding boxes)."""
    x0, x1 = np.minimum(segments[:, 0], segments[:, 2]), np.maximum(segments[:, 0], segments[:, 2])
    y0, y1 = np.minimum(segments[:, 1], segments[:, 3]), np.maximum(segments[:, 1], segments[:, 3])
    return segments[
        (x0 - point[0] <= reach)
        & (point[0] - x1 <= reach)
        & (y0 - point[1] <= reach)
        & (point[1] - y1 <= reach)
    ]


def _edges(offsets: np.ndarray, label: Label) -> np.ndarray:
    w, h = label.width / 2, label.height / 2
    return np.stack([offsets[:, 0] - w, offsets[:, 0] + w, offsets[:, 1] - h, offsets[:, 1] + h], 1)


def _best(label: Label, scene: _Scene) -> tuple[Placed | None, np.ndarray | None]:
    """The cheapest free place for one label (None where none is left) and its leader as a
    segment in pixels."""
    offsets, base, leader = _candidates(label)
    anchor = scene.px([label.x, label.y])[0]
    rects = _rects(anchor[None], _edges(offsets, label))
    room = scene.canvas.widths[0], scene.canvas.heights[0]
    maybe = ~scene.taken(rects) & (rects[:, 0] >= 0) & (rects[:, 2] >= 0)
    maybe &= (rects[:, 1] <= room[0]) & (rects[:, 3] <= room[1])
    offsets, base, leader = offsets[maybe], base[maybe], leader[maybe]
    reach = REACH + max(label.width, label.height)
    boxes_ = scene.boxes
    extent = np.stack([np.abs(boxes_[:, 2:4]).max(axis=1), np.abs(boxes_[:, 4:6]).max(axis=1)], 1)
    close = (np.abs(scene.anchors - anchor) <= reach + extent).all(axis=1)
    boxes_, anchors, extent = boxes_[close], scene.anchors[close], extent[close]
    rects = _rects(anchors, boxes_[:, 2:])
    # a leader may leave through the marker its anchor sits under, nothing else
    stops = rects[
        ~((rects[:, 0] < anchor[0]) & (anchor[0] < rects[:, 1]))
        | ~((rects[:, 2] < anchor[1]) & (anchor[1] < rects[:, 3]))
    ]
    lines = _within(scene.lines, anchor, reach)
    leaders = _within(scene.leaders, anchor, reach)

    def clashes(edges):
        # An obstacle this far at the smallest size is further still at any larger one.
        far = np.abs(edges[:, :2]).max(), np.abs(edges[:, 2:]).max()
        near = (np.abs(anchors - anchor) <= far + extent + GAP).all(axis=1)
        return _clashes(label.x, label.y, edges, boxes_[near], scene.canvas)

    best, best_cost = -1, math.inf
    for start in range(0, len(offsets), CHUNK):
        if base[start] >= best_cost:  # sorted: nothing further on can be cheaper
            break
        off = offsets[start : start + CHUNK]
        edges = _edges(off, label)
        free = np.flatnonzero(clashes(edges) == 0)
        if not len(free):
            continue
        boxes_px = _rects(anchor[None], edges[free])
        cost = base[start + free]
        cost = cost + _crossing(lines, boxes_px).sum(axis=0) * LINE_COST
        cost += _crossing(leaders, boxes_px).sum(axis=0) * CROSS_COST
        led = np.flatnonzero(leader[start + free])
        if len(led) and len(stops):
            own = np.concatenate(
                [np.broadcast_to(anchor, (len(led), 2)), anchor + off[free[led]]], 1
            )
            cost[led] += _crossing(own, stops).sum(axis=1) * CROSS_COST
        k = int(np.argmin(cost))
        if cost[k] < best_cost:
            best, best_cost = start + int(free[k]), float(cost[k])
    if best < 0:
        return None, None
    dx, dy = offsets[best]
    placed = Placed(float(dx), float(dy), bool(leader[best]))
    return placed, np.concatenate([anchor, anchor + offsets[best]])[None] if placed.leader else None


def place(
    labels: list[Label],
    markers: np.ndarray,
    canvas: Canvas,
    *,
    lines: list[tuple[float, float, float, float]] = (),
) -> list[Placed | None]:
    """Place `labels` in order, each clear of every marker (rows of `marker_boxes`), of the
    labels placed before it and of the plot's edges; where a free place allows, a label
    leaves `lines` (x0, y0, x1, y1 in data units) visible, and no leader line crosses a
    label. Same input, same result. A label with no free place left (more labels than room)
    gets None: better unlabelled, its marker's hover still names it, than a label nobody
    can read."""
    scene = _Scene(markers, canvas, lines)
    out = []
    for label in labels:
        placed, leader = _best(label, scene)
        if placed is not None:
            scene.add(label_box(label, placed), leader)
        out.append(placed)
    return out
