"""``dpcondense report``: the paper's tables and figures from the MLflow runs of one experiment."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from dpcondense.reporting import load_runs, run_manifest, write_report


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "report",
        help="regenerate Tables 1-5 and Figures 1-5 from the MLflow runs of an experiment",
        description=(
            "Read the FINISHED runs of an MLflow experiment and write Tables 1-5 (Markdown and LaTeX), "
            "Figures 1-5 (PNG and PDF), runs_used.md and report.md. The same runs give the same files."
        ),
    )
    p.add_argument("--experiment", required=True, metavar="NAME", help="MLflow experiment (a preset's experiment_name)")
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
    p.add_argument("--no-figures", action="store_true", help="tables only")
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

    if args.out is None and args.runs_manifest is None:
        raise ValueError(f"--out FOLDER is required (e.g. --out results/{args.experiment}): the report is written there")
    if args.reference is not None and not args.reference.is_file():
        raise FileNotFoundError(f"--reference {args.reference}: no such file (make it with `dpcondense reference --json`)")
    runs = load_runs(args.experiment, tracking=args.tracking, uri=args.uri, root=args.root, reference=args.reference)
    if args.runs_manifest is not None:
        args.runs_manifest.parent.mkdir(parents=True, exist_ok=True)
        args.runs_manifest.write_text(run_manifest(runs))
        print(f"wrote {args.runs_manifest} ({run_manifest(runs).count(chr(10)) - 1} finished runs)")
        return 0
    out = args.out
    paths = write_report(runs, out, figures=not args.no_figures)
    n_runs = len({r.identity for r in runs.records if not r.derived})
    print(f"wrote {len(paths)} files to {out} from {n_runs} finished runs of experiment {args.experiment!r}")
    return 0
