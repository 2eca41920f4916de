"""Tables 1–5 of the report, one module each, registered by key in :data:`TABLES`.

Importing this package registers every table; a new table is one new module here (decorated
with :func:`~dpcondense.reporting.tables.base.register_table`); nothing else is edited.
"""

from __future__ import annotations

from dpcondense.reporting.runs import ExperimentRuns
from dpcondense.reporting.table import Table
from dpcondense.reporting.tables.base import TABLES, ReportTable, register_table
from dpcondense.registry import import_components

# every module of this package registers its table (one new module = one new table)
import_components(__name__, __path__)

__all__ = ["TABLES", "TABLE_FILES", "ReportTable", "build_tables", "register_table"]

#: files :func:`dpcondense.reporting.write_report` writes per table key (``.md`` + ``.tex``)
TABLE_FILES: dict[str, str] = {key: TABLES.get(key).stem for key in TABLES.names()}


def build_tables(runs: ExperimentRuns) -> dict[str, list[Table]]:
    """Every table, keyed like :data:`TABLE_FILES` (Table 4 has one table per task).

    Parameters
    ----------
    runs : ExperimentRuns
        The experiment's runs.

    Returns
    -------
    dict of str to list of Table
        In registry order (``table1`` … ``table5``).
    """
    return {key: TABLES.get(key).tables(runs) for key in TABLES.names()}
