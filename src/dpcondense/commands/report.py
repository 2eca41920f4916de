"""``dpcondense report``: the paper's tables and figures from the MLflow runs of one experiment."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from dpcondense.commands._paths import check_file, check_folder, check_input_file, check_store_flags
from dpcondense.reporting import ReportError, load_runs, read_reference, run_manifest, write_report
from dpcondense.reporting.archive import read_records, runs_from_records


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "report",
        help="regenerate Tables 1-5 and Figures 1-5 from the MLflow runs of an experiment",
        description=(
            "Read the FINISHED runs of an MLflow experiment and write Tables 1-5 (Markdown and LaTeX), "
            "Figures 1-5 (PNG and PDF), runs_used.md and report.md (with --html also report.html, interactive and "
            "self-contained). The same runs give the same files."
        ),
    )
    p.add_argument(
        "--experiment", default=None, metavar="NAME",
        help="MLflow experiment (a preset's experiment_name); with --records, the records' own by default",
    )
    p.add_argument(
        "--records", type=Path, default=None, metavar="FILE",
        help="make the report from a records file (`dpcondense records export`) instead of a store: the same files",
    )
    p.add_argument(
        "--out", type=Path, default=None,
        help="output folder, e.g. results/NAME (required unless --runs-manifest: nothing writes into the tracked "
        "results/ unless told to)",
    )
    p.add_argument("--tracking", choices=("local", "server"), default="local", help="the store (default local)")
    p.add_argument("--uri", default=None, help="tracking server URL for --tracking server (default $MLFLOW_TRACKING_URI)")
    p.add_argument("--root", type=Path, default=None, help="local store folder (default $DPCONDENSE_MLRUNS, else <project>/mlruns)")
    p.add_argument(
        "--reference",
        type=Path,
        default=None,
        metavar="JSON",
        help="full-data reference from `dpcondense reference --json`: fills the full-data cells the runs lack",
    )
    p.add_argument("--no-figures", action="store_true", help="tables only (no PNG/PDF figures)")
    p.add_argument(
        "--html", action="store_true",
        help="also write report.html: interactive figures and the cost table in one self-contained file (opens offline)",
    )
    p.add_argument(
        "--runs-manifest",
        type=Path,
        default=None,
        metavar="FILE",
        help="only write the list of FINISHED runs (TSV, one line per run identity) to FILE",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    _check_arguments(args)
    if args.records is not None:
        runs = _runs_from_records(args)
    else:
        runs = load_runs(args.experiment, tracking=args.tracking, uri=args.uri, root=args.root, reference=args.reference)
    if args.runs_manifest is not None:
        manifest = run_manifest(runs)
        args.runs_manifest.parent.mkdir(parents=True, exist_ok=True)
        args.runs_manifest.write_text(manifest)
        print(f"wrote {args.runs_manifest} ({manifest.count(chr(10)) - 1} finished runs)")
        return 0
    out = args.out
    paths = write_report(runs, out, figures=not args.no_figures, html=args.html)
    n_runs = len({r.identity for r in runs.records if not r.derived})
    print(f"wrote {len(paths)} files to {out} from {n_runs} finished runs of experiment '{runs.experiment}'")
    return 0


def _runs_from_records(args: argparse.Namespace):
    """The report's runs from ``--records`` (its experiment checked against ``--experiment``)."""
    records = read_records(args.records)
    found = records[0]["experiment"] if records else None
    if args.experiment is not None and found is not None and found != args.experiment:
        raise ReportError(f"--records {args.records} holds runs of experiment '{found}', not '{args.experiment}'")
    return runs_from_records(records, reference=read_reference(args.reference) if args.reference else None)


def _check_arguments(args: argparse.Namespace) -> None:
    """Every flag checked before the store is opened: the output paths, the store flags, the reference file."""
    if args.experiment is None and args.records is None:
        raise ValueError("--experiment NAME is required (or --records FILE: the report from a records file)")
    if args.records is not None:
        if args.tracking != "local" or args.uri is not None or args.root is not None:
            raise ValueError("--records makes the report from the file alone; drop --tracking/--uri/--root")
        check_input_file(args.records, "--records", what="records file")
    if args.out is None and args.runs_manifest is None:
        raise ValueError(f"--out FOLDER is required (e.g. --out results/{args.experiment or 'NAME'}): the report is written there")
    if args.runs_manifest is not None and (args.out is not None or args.no_figures or args.html):
        extra = "--out" if args.out is not None else ("--no-figures" if args.no_figures else "--html")
        raise ValueError(f"--runs-manifest writes the list of runs only; drop {extra} (or run the report separately)")
    if args.runs_manifest is not None:
        check_file(args.runs_manifest, "--runs-manifest", example=f"{args.experiment or 'NAME'}.tsv")
    else:
        check_folder(args.out, "--out")
    check_store_flags(args)
    if args.reference is not None:
        _read_reference_flag(args.reference)


def _read_reference_flag(path: Path) -> None:
    """``--reference``: an existing reference file from ``dpcondense reference --json`` (the message names the flag)."""
    try:
        read_reference(path)
    except ReportError as exc:
        raise ReportError(f"--reference {exc}") from None
