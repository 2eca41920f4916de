"""``dpcondense reference``: the full-data reference table (every family on the full training split)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from dpcondense.commands._paths import check_file
from dpcondense.datasets import DATASETS
from dpcondense.models import MODELS
from dpcondense.reference import jsonable_record, reference_markdown, reference_pairs, reference_table


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "reference",
        help="train every applicable model family on each dataset's full training split (the upper reference)",
        description=(
            "Train every model family whose task matches the dataset on the full training split, for seeds "
            "0..N-1 (seed = split seed = model seed), and score it on the test split."
        ),
    )
    p.add_argument("--dataset", action="append", default=None, metavar="NAME", help="restrict to this dataset (repeatable)")
    p.add_argument("--model", action="append", default=None, metavar="NAME", help="restrict to this model family (repeatable)")
    p.add_argument("--seeds", type=int, default=5, metavar="N", help="number of seeds 0..N-1 (default 5)")
    p.add_argument("--json", action="store_true", help="print one JSON record per (dataset, model) instead of the table")
    p.add_argument(
        "--out", type=Path, default=None,
        help="also write the Markdown table to this file (default: print only; the committed table is "
        "results/reference_full_data.md, written by `make reproduce`)",
    )
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.seeds < 1:
        raise ValueError(f"--seeds must be >= 1, got {args.seeds}")
    if args.out is not None:
        check_file(args.out, "--out", example="reference_full_data.md")
    _check_selection(args)
    records = reference_table(args.dataset, args.model, args.seeds, progress=not args.no_progress)
    text = reference_markdown(records)
    if args.json:
        print(json.dumps([jsonable_record(r) for r in records], indent=2))
    else:
        print(text, end="")
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text)
    return 0


def _check_selection(args: argparse.Namespace) -> None:
    """Unknown names, or a model of no selected dataset's task: refused before any fit, naming the flag."""
    for flag, registry, names in (("--dataset", DATASETS, args.dataset), ("--model", MODELS, args.model)):
        for name in names or []:
            if name not in registry:
                raise ValueError(f"{flag} {name}: {_text(_lookup_error(registry, name))}")
    try:
        reference_pairs(args.dataset, args.model)
    except ValueError as exc:
        raise ValueError(f"--model: {_text(exc)}") from None


def _lookup_error(registry: Any, name: str) -> Exception:
    try:
        registry.get(name)
    except (KeyError, ValueError) as exc:
        return exc
    return ValueError(f"unknown name {name!r}")


def _text(exc: Exception) -> str:
    return exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
