"""``dpcondense datasets``: the dataset summary table (Table 1's raw material)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from dpcondense.commands._paths import check_file
from dpcondense.datasets import dataset_names
from dpcondense.datasets.summary import dataset_summary
from dpcondense.reporting.table import markdown_table


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("datasets", help="summarise the built-in datasets")
    p.add_argument("--json", action="store_true", help="print a JSON list instead of a table")
    p.add_argument("--out", type=Path, help="also write the Markdown table to this file")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.out is not None:
        check_file(args.out, "--out", example="datasets.md")
    records = [dataset_summary(n) for n in dataset_names()]
    if args.json:
        print(json.dumps(records, indent=2))
    rows = [
        [
            r["name"],
            r["task"],
            r["n_rows"],
            r["n_features"],
            r["n_encoded"],
            r.get("n_positive", r.get("n_events")),
            f"{100 * r.get('n_positive', r.get('n_events')) / r['n_rows']:.1f}%",
        ]
        for r in records
    ]
    table = markdown_table(
        ["dataset", "task", "rows", "features", "encoded columns", "positives / events", "rate"], rows
    )
    if not args.json:
        print(table)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text("# Datasets\n\n" + table + "\n")
    return 0
