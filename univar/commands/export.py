"""Export the value map, the distance heatmap, value profiles or the full report to a file.

Figures are the ones the pages draw (same calls, same settings): png, svg and pdf through
kaleido and Chromium, html with plotly.js inlined (works offline), csv and parquet for the data
behind a chart. The report is html or pdf.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from univar.analysis import distances
from univar.analysis.uncertainty import UncertaintyConfig
from univar.commands.embed import quality_of
from univar.commands.project import add_map_arguments, map_settings
from univar.config import field_default
from univar.errors import UserError

KINDS = ("map", "distances", "profile", "report")
FORMATS = ("png", "svg", "pdf", "html", "csv", "parquet")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--kind", choices=KINDS, required=True)
    parser.add_argument("--format", choices=FORMATS, help="default: the --out extension")
    parser.add_argument("--out", required=True, help="file to write")
    add_map_arguments(parser)
    parser.add_argument("--color-by", default="language", help="map colours (default: language)")
    parser.add_argument(
        "--by",
        choices=distances.GROUPINGS,
        default="language",
        help="distances between these groups (default: language)",
    )
    parser.add_argument("--distance", choices=tuple(distances.METRICS), default="cosine")
    parser.add_argument(
        "--resamples",
        type=int,
        default=field_default(UncertaintyConfig, "resamples"),
        help="bootstrap resamples of the questions behind each distance's 95%% interval "
        "(default: %(default)s)",
    )
    parser.add_argument(
        "--permutations",
        type=int,
        default=field_default(UncertaintyConfig, "permutations"),
        help="label shuffles within each question behind each pair's p-value "
        "(default: %(default)s)",
    )
    parser.add_argument("--instrument", help="survey instrument of the profiles (default: all)")
    parser.add_argument("--width", type=int, help="image width in pixels (default 1200)")
    parser.add_argument("--height", type=int, help="image height in pixels (default 800)")


def _fmt(args) -> str:
    fmt = (args.format or Path(args.out).suffix.lstrip(".")).lower()
    if fmt not in FORMATS:
        raise UserError(f"cannot tell the format from {args.out!r}: give --format")
    if args.kind == "report" and fmt not in ("html", "pdf"):
        raise UserError("the report is html or pdf")
    return fmt


def run(args) -> int:
    from univar import encoders
    from univar.output import export, report

    fmt = _fmt(args)
    selection, config = map_settings(args)
    quality = quality_of(args)
    settings = UncertaintyConfig(resamples=args.resamples, permutations=args.permutations)
    encoder = encoders.LazyEncoder(args.encoder)
    out = Path(args.out)
    if args.kind == "report":
        figures, prov, tables = report.collect(
            args.db,
            encoder,
            selection,
            config,
            color_by=args.color_by,
            by=args.by,
            metric=args.distance,
            instrument=args.instrument,
            distance_settings=settings,
            quality=quality,
        )
        build = report.report_pdf if fmt == "pdf" else report.report_html
        content = build(figures, prov, tables)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    else:
        if args.kind == "map":
            chart = report.map_chart(
                args.db, encoder, selection, config, args.color_by, quality=quality
            )
        elif args.kind == "distances":
            chart = report.distance_chart(
                args.db, encoder, selection, args.by, args.distance, settings, quality=quality
            )
        else:
            chart = report.profile_chart(args.db, selection, args.instrument)
        if fmt in export.IMAGE_FORMATS:
            content = export.figure_bytes(chart.fig, fmt, width=args.width, height=args.height)
        else:
            content = export.export_bytes(fmt, chart.fig, chart.data)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(content)
    print(f"wrote {out} ({fmt}, {out.stat().st_size:,} bytes)")
    return 0
