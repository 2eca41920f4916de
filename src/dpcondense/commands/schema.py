"""``dpcondense schema init DATA.csv``: draft a public schema for your own CSV.

Types and categories are inferred from the file; numeric bounds are left ``null`` for you to
fill from clinical knowledge, because bounds taken from the data would leak private values.
``--unsafe-data-bounds`` writes the data's min/max instead and marks the schema
``public: {data_derived_bounds: true}``: every run with it is labelled not DP in its ledger.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from dpcondense.commands._paths import check_file, check_input_file
from dpcondense.data.csv import read_raw_csv
from dpcondense.data.schema_draft import draft_schema

LEAK_NOTICE = (
    "Numeric bounds are left null: fill each with the plausible clinical range [low, high]. Bounds taken "
    "from the data (its min/max) would leak private information about the most extreme patients and void "
    "the DP guarantee; a run refuses null bounds."
)
UNSAFE_NOTICE = (
    "WARNING: bounds were taken from the data (--unsafe-data-bounds). Bounds taken from the data leak private "
    "information: every run with this schema is labelled NOT differentially private in its ledger. Replace "
    "them with clinical bounds for a DP release."
)


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("schema", help="draft a public schema for your own CSV")
    actions = p.add_subparsers(dest="schema_command", metavar="ACTION")
    init = actions.add_parser("init", help="draft a schema from a CSV (bounds left for you to fill in)")
    init.add_argument("csv", type=Path, help="the CSV file")
    init.add_argument("--out", type=Path, default=None, help="write the schema here (default: print it)")
    init.add_argument("--name", default=None, help="dataset name (default: the file name)")
    outcome = init.add_argument_group("outcome (default: the last column is a classification label)")
    outcome.add_argument("--label", default=None, help="classification target column")
    outcome.add_argument("--time", default=None, help="survival time column (with --event)")
    outcome.add_argument("--event", default=None, help="survival event column, 0/1 (with --time)")
    init.add_argument("--delimiter", default=None, help="field delimiter (default ',')")
    init.add_argument("--encoding", default=None, help="text encoding (default UTF-8)")
    init.add_argument(
        "--unsafe-data-bounds", action="store_true",
        help="write the data's min/max as bounds: LEAKS private values; every run is labelled not DP",
    )
    init.set_defaults(func=run_init, command_name="schema init")
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])


def run_init(args: argparse.Namespace) -> int:
    check_input_file(args.csv, "CSV", what="file")
    if args.out is not None:
        check_file(args.out, "--out", example=f"{args.csv.stem}.yaml", overwrite=False)
    table = read_raw_csv(args.csv, delimiter=args.delimiter, encoding=args.encoding)
    draft = draft_schema(
        table, name=args.name, label=args.label, time=args.time, event=args.event,
        unsafe_data_bounds=args.unsafe_data_bounds,
    )
    print(UNSAFE_NOTICE if args.unsafe_data_bounds else LEAK_NOTICE, file=sys.stderr)
    for note in draft.notes:
        print(f"note: {note}", file=sys.stderr)
    if args.out is None:
        sys.stdout.write(draft.text)
    else:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(draft.text, encoding="utf-8")
        print(f"wrote {args.out}: review every line before a run", file=sys.stderr)
    return 0
