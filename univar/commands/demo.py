"""Export the demo dataset to data/demo/, or load it into the database."""

from __future__ import annotations


def add_arguments(parser) -> None:
    parser.add_argument("action", choices=("export", "load"))
    parser.add_argument("--dir", help="demo folder (default: data/demo)")
    parser.add_argument("--dataset", action="append", help="export: only this dataset (repeatable)")
    parser.add_argument("--encoder", help="export: encoder for the shipped vectors and map")
    parser.add_argument(
        "--replace", action="store_true", help="load: replace an already loaded demo"
    )


def run(args) -> int:
    from univar import encoders
    from univar.ingest import demo

    folder = args.dir or demo.DEMO_DIR
    if args.action == "export":
        encoder = encoders.LazyEncoder(args.encoder)
        prov = demo.export_demo(args.db, folder, args.dataset, encoder=encoder)
        print(
            f"exported {prov['qa_pairs']:,} QA pairs ({len(prov['models'])} models, "
            f"{len(prov['languages'])} languages) to {folder}"
        )
        return 0
    n = demo.load_demo(args.db, folder, replace=args.replace)
    print(f"loaded {n:,} demo QA pairs from {folder}")
    return 0
