"""The ``dpcondense`` command line: one console script, one module per subcommand.

Each module in :mod:`dpcondense.commands` defines ``add_parser(subparsers)`` which registers its
subcommand and sets ``func``; adding a subcommand never edits this file.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

from dpcondense import commands


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dpcondense",
        description="Differentially private dataset condensation for classical clinical models.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{commands.__name__}.{info.name}")
        module.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "run":
        # the Hydra app parses its own overrides
        from dpcondense.benchmark.app import main as run_main

        sys.argv = ["dpcondense run", *argv[1:]]
        run_main()
        return 0
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except (ValueError, KeyError, FileNotFoundError) as exc:
        # bad input: one clear line, no traceback
        print(f"dpcondense {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
