"""Write the value map's points: one UMAP or PCA layout per encoder, settings and quality filter."""

from __future__ import annotations

import sys

from univar.analysis.projection import METHODS, METRICS, ProjectionConfig
from univar.commands.embed import add_quality_argument, quality_of
from univar.config import field_default


def add_map_arguments(parser) -> None:
    """Encoder, projection settings and filters: shared by `project` and `export`."""

    def default(name: str):
        return field_default(ProjectionConfig, name)

    parser.add_argument("--encoder", help="as for `embed` (default: the app's default encoder)")
    parser.add_argument("--method", choices=METHODS, default=default("method"))
    parser.add_argument("--n-neighbors", type=int, default=default("n_neighbors"))
    parser.add_argument("--min-dist", type=float, default=default("min_dist"))
    parser.add_argument("--metric", choices=METRICS, default=default("metric"))
    parser.add_argument("--seed", type=int, default=default("seed"))
    parser.add_argument(
        "--fit-sample",
        type=int,
        default=default("fit_sample"),
        help="above this many QA pairs UMAP is fitted on a sample of that many keeping every "
        "model$language, the rest placed by their neighbours (default: %(default)s)",
    )
    parser.add_argument("--model", action="append", help="only this model (repeatable)")
    parser.add_argument("--language", action="append", help="only this language (repeatable)")
    parser.add_argument("--dataset", action="append", help="only this dataset (repeatable)")
    add_quality_argument(parser)


def map_settings(args):
    """(Selection, ProjectionConfig) from the arguments of add_map_arguments."""
    from univar.analysis import mapdata

    config = ProjectionConfig(
        args.method,
        args.n_neighbors,
        args.min_dist,
        args.metric,
        args.seed,
        fit_sample=args.fit_sample,
    )
    selection = mapdata.Selection(
        models=tuple(args.model) if args.model else None,
        languages=tuple(args.language) if args.language else None,
        datasets=tuple(args.dataset) if args.dataset else None,
    )
    return selection, config


def add_arguments(parser) -> None:
    add_map_arguments(parser)
    parser.add_argument(
        "--out", help="also write the points (qa_id, tags, x, y, placed) to this CSV file"
    )
    parser.add_argument(
        "--refit",
        action="store_true",
        help="fit a new layout of every QA pair the quality filter lets through first (the "
        "other filters only choose what is written)",
    )


def run(args) -> int:
    from univar import encoders
    from univar.analysis import mapdata, projection

    selection, config = map_settings(args)
    quality = quality_of(args)
    encoder = encoders.LazyEncoder(args.encoder)

    def progress(done: float, total: float, message: str = "") -> None:
        print(f"\r{message} ({done / max(total, 1):.0%})", end="", file=sys.stderr, flush=True)

    if args.refit:
        projection.refit(args.db, encoder, config, quality=quality, progress=progress)
        how = "new"
    else:
        cached = mapdata.is_cached(args.db, encoder, selection, config, quality)
        how = "cached" if cached else "computed"
    points = mapdata.map_points(
        args.db, encoder, selection, config, quality=quality, progress=progress
    )
    print(file=sys.stderr)
    layout = projection.current(args.db, encoder.id, config, quality)
    print(
        f"{how} {config.method.upper()} map: {mapdata.summary(points, encoder.id)} "
        f"({mapdata.layout_note(layout, points)})"
    )
    left_out = mapdata.left_out(args.db, selection, quality)
    if left_out:
        print(f"{left_out} (--include-flagged maps them too)")
    if args.out:
        columns = [*mapdata.MAP_COLUMNS, "x", "y", "placed", "flags"]
        points[columns].to_csv(args.out, index=False)
        print(f"wrote {args.out}")
    return 0
