"""``dpcondense records``: export an experiment's finished runs to a committed file, import them into a store."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from dpcondense.benchmark import tracking
from dpcondense.commands._paths import check_file, check_input_file, check_store_flags
from dpcondense.reporting.archive import LARGE_FILE, export_records, import_records, read_records, write_records
from dpcondense.reporting.runs import ReportError, open_experiment


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "records",
        help="export an experiment's finished runs as durable records (one JSON line each), or import them into a store",
        description=(
            "Run records: each FINISHED run of an experiment as one line of JSON (identity and its spec, tags, params, "
            "metrics per evaluation family, objective curve, privacy ledger; no timings), sorted and deterministic. "
            "`export` writes them (commit results/NAME/runs.jsonl), `import` turns them into FINISHED runs of any "
            "MLflow store (a sweep then skips them), and `dpcondense report --records FILE` makes the report from them."
        ),
    )
    p.set_defaults(func=lambda args: p.error("choose export or import"))
    actions = p.add_subparsers(dest="action", metavar="ACTION")

    export = actions.add_parser("export", help="write the FINISHED runs of an experiment to a records file")
    export.add_argument("--experiment", required=True, metavar="NAME", help="MLflow experiment (a preset's experiment_name)")
    export.add_argument("--out", required=True, type=Path, metavar="FILE",
                        help="records file, e.g. results/NAME/runs.jsonl (gzip when it ends in .gz)")
    _add_store_arguments(export)
    export.set_defaults(func=run_export, command_name="records export")

    load = actions.add_parser("import", help="create FINISHED runs from a records file (identities already finished are skipped)")
    load.add_argument("file", type=Path, metavar="FILE", help="a records file from `dpcondense records export`")
    load.add_argument("--experiment", default=None, metavar="NAME", help="experiment to import into (default: the records' own)")
    _add_store_arguments(load)
    load.set_defaults(func=run_import, command_name="records import")


def _add_store_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--tracking", choices=("local", "server"), default=None, help="the store (default local; server when --uri is given)")
    p.add_argument("--uri", "--tracking-uri", dest="uri", default=None,
                   help="tracking server URL for --tracking server (default $MLFLOW_TRACKING_URI)")
    p.add_argument("--root", type=Path, default=None, help="local store folder (default $DPCONDENSE_MLRUNS, else <project>/mlruns)")


def _check_store_flags(args: argparse.Namespace) -> None:
    """The store flags agree with each other (checked before any store is opened)."""
    args.tracking = args.tracking or ("server" if args.uri else "local")
    check_store_flags(args)


def run_export(args: argparse.Namespace) -> int:
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    check_file(args.out, "--out", example="runs.jsonl")
    _check_store_flags(args)
    store = open_experiment(args.experiment, tracking=args.tracking, uri=args.uri, root=args.root)
    records, problem = export_records(store)
    if not records:
        raise ReportError(f"experiment '{args.experiment}' has no FINISHED run: nothing exported, nothing written")
    if problem:
        print(f"dpcondense records export: warning: no release exported, the runs cannot make a report as they are:\n{problem}")
    path = write_records(records, args.out)
    size = path.stat().st_size
    n_releases = sum("release" in r for r in records)
    print(f"wrote {path} ({len(records)} runs, {n_releases} releases for Figure 5, {size:,} bytes)")
    if size > LARGE_FILE and path.suffix != ".gz":
        print(f"the file is large: --out {path}.gz writes it compressed (every reader of records files accepts both)")
    return 0


def run_import(args: argparse.Namespace) -> int:
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    check_input_file(args.file, "FILE", what="records file")
    _check_store_flags(args)
    records = read_records(args.file)
    if not records:
        raise ReportError(f"{args.file} holds no run: nothing to import")
    experiment = args.experiment or records[0]["experiment"]
    try:
        target = tracking.target_from_config({"kind": args.tracking, "uri": args.uri, "root": args.root}, experiment)
        imported, skipped = import_records(records, target, source=args.file.name)
    except tracking.TrackingError as exc:
        raise ReportError(str(exc)) from None
    print(f"imported {len(imported)} runs into {target.describe()}; {len(skipped)} already there (skipped)")
    return 0
