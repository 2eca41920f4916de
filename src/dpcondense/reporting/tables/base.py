"""The table registry: each table module registers its builder under a key and a file stem.

Adding a table is one new module in this package decorated with :func:`register_table` (the package
imports all its modules); :func:`dpcondense.reporting.tables.build_tables` and
:func:`dpcondense.reporting.write_report` pick it up from :data:`TABLES`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, TypeVar

from dpcondense.registry import Registry
from dpcondense.reporting.runs import ExperimentRuns
from dpcondense.reporting.table import Table

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class ReportTable:
    """A registered table: its key (``table1`` ...), its file stem and its builder."""

    key: str
    stem: str
    build: Callable[[ExperimentRuns], "Table | list[Table]"]

    def tables(self, runs: ExperimentRuns) -> list[Table]:
        """The builder's tables for ``runs`` (a builder may return one table or one per task)."""
        out = self.build(runs)
        return out if isinstance(out, list) else [out]


#: every table of the report by key; keys sort in the order the report shows them
TABLES: Registry[ReportTable] = Registry("table")


def register_table(key: str, stem: str) -> Callable[[F], F]:
    """Decorator: register a ``build(runs) -> Table | list[Table]`` function as table ``key``.

    Parameters
    ----------
    key : str
        ``table<N>``: where the table goes in the report and in ``runs_used.md``.
    stem : str
        File name (without extension) of its ``.md`` and ``.tex`` files.

    Returns
    -------
    callable
        A decorator returning the function unchanged.
    """

    def deco(build: F) -> F:
        TABLES.register(key)(ReportTable(key, stem, build))
        return build

    return deco
