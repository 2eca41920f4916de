"""The ``dpcondense`` command line: one console script, one module per subcommand.

Each module in :mod:`dpcondense.commands` defines ``add_parser(subparsers)`` which registers its
subcommand and sets ``func``; adding a subcommand never edits this file.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from typing import NoReturn

from dpcondense import commands
from dpcondense.benchmark.tracking import quiet_dependency_logs


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors: the problem and where the help is, not the whole usage."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
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


#: what bad input raises: one line on stderr and exit status 2, never a traceback
BAD_INPUT = (ValueError, KeyError, FileNotFoundError, IsADirectoryError, NotADirectoryError, FileExistsError, PermissionError)
#: exit statuses of a run stopped by Ctrl-C (SIGINT) and by SIGTERM (128 + the signal number)
EXIT_INTERRUPTED, EXIT_TERMINATED = 130, 143


def main(argv: list[str] | None = None) -> int:
    quiet_dependency_logs()
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "run":
        return _run_app(argv[1:])
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except BAD_INPUT as exc:
        # bad input: one clear line, no traceback
        name = getattr(args, "command_name", None) or args.command
        print(f"dpcondense {name}: error: {_message(exc)}", file=sys.stderr)
        return 2


def _run_app(overrides: list[str]) -> int:
    """``dpcondense run``: the Hydra app parses its own overrides; SIGTERM stops it like Ctrl-C."""
    # imported here: Hydra and MLflow take seconds to import and the other commands need neither
    from dpcondense.benchmark.app import Terminated, terminate_as_interrupt
    from dpcondense.benchmark.app import main as run_main

    sys.argv = ["dpcondense run", *overrides]
    with terminate_as_interrupt():
        try:
            run_main()
        except KeyboardInterrupt as exc:
            how = "terminated (SIGTERM)" if isinstance(exc, Terminated) else "interrupted"
            print(f"dpcondense run: {how}; a relaunch re-runs what did not finish", file=sys.stderr, flush=True)
            return EXIT_TERMINATED if isinstance(exc, Terminated) else EXIT_INTERRUPTED
    return 0


def _message(exc: BaseException) -> str:
    """The error's text: a KeyError's without the quotes ``str`` adds, an OSError's with its path."""
    if isinstance(exc, KeyError) and len(exc.args) == 1 and isinstance(exc.args[0], str) and type(exc) is KeyError:
        return exc.args[0]
    if isinstance(exc, OSError) and exc.filename is not None:
        return f"{exc.filename}: {exc.strerror or exc}"
    return str(exc)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
