"""Regenerate the paper's tables and figures from the MLflow runs of one experiment.

Three layers, each usable on its own (tests and the notebook use them without the CLI):

1. **Runs** (:mod:`~dpcondense.reporting.runs`, :mod:`~dpcondense.reporting.records`) —
   :func:`open_experiment` opens a store read-only, :meth:`ExperimentRuns.from_store` turns its
   ``FINISHED`` runs into flat :class:`RunRecord` s (one per run × evaluation family); the
   ``full_data.*`` / ``random_subset.*`` metrics of runs with ``references=true`` and the records
   of ``dpcondense reference --json`` become records of those methods too.
2. **Tables and figures** (:mod:`~dpcondense.reporting.tables`,
   :mod:`~dpcondense.reporting.figures`, one module each, registered by key) —
   ``table1_datasets`` … ``table5_cost`` return :class:`Table` objects (the cell data, the
   formatted text, the run identities used); ``figure1_privacy_utility`` … ``figure5_release``
   return matplotlib ``Figure`` objects whose artists carry ``gid`` s (``"dpzo"``,
   ``"dpzo:band"``, ``"dpzo:inf"``, ``"full_data"``, ...) so tests can read the data.
3. **Files** (:mod:`~dpcondense.reporting.report`) — :func:`write_report` writes Markdown +
   LaTeX tables, PNG + PDF figures, ``runs_used.md`` and ``report.md``; the same runs give
   byte-identical files.

Conventions (every table and figure): mean ± std (ddof = 0) over seeds; a cell with no run is
"—" (never dropped), a cell that does not apply is "n/a"; a metric that is undefined on every
seed (NaN) is "undefined". Each task is evaluated with its *main family* (the task's default —
decision_tree / cox_ph — when the experiment has it) at its *default size* (10 rows per class /
50 rows). "DP" means a method that reads the data only through a DP mechanism, at finite ε.
"""

from __future__ import annotations

from dpcondense.reporting.figures import FIGURE_FILES, FIGURES, build_figures, register_figure
from dpcondense.reporting.figures.figure1_privacy_utility import figure1_privacy_utility
from dpcondense.reporting.figures.figure2_sizes import figure2_sizes
from dpcondense.reporting.figures.figure3_convergence import figure3_convergence
from dpcondense.reporting.figures.figure4_transfer import figure4_transfer, transfer_matrix
from dpcondense.reporting.figures.figure5_release import REAL_DATA_NOTE, figure5_release, kaplan_meier, pick_release
from dpcondense.reporting.labels import (
    MISSING,
    NOT_APPLICABLE,
    UNDEFINED,
    format_epsilon,
    method_label,
    metric_label,
    model_label,
)
from dpcondense.reporting.records import (
    INF,
    RunRecord,
    Stat,
    deduplicate,
    records_from_reference,
    records_from_run,
    same_epsilon,
    stat_of,
)
from dpcondense.reporting.report import report_markdown, runs_used_markdown, write_report
from dpcondense.reporting.runs import (
    MAIN_EPSILON,
    MAIN_METHOD,
    ExperimentRuns,
    ReportError,
    load_runs,
    open_experiment,
    read_reference,
    run_manifest,
)
from dpcondense.reporting.style import FIGURE_DPI, figure_png, save_figure
from dpcondense.reporting.table import Table, format_cell, latex_escape, markdown_table
from dpcondense.reporting.tables import TABLE_FILES, TABLES, build_tables, register_table
from dpcondense.reporting.tables.table1_datasets import table1_datasets
from dpcondense.reporting.tables.table2_main import retention, table2_main
from dpcondense.reporting.tables.table3_privacy_utility import table3_privacy_utility
from dpcondense.reporting.tables.table4_transfer import table4_transfer
from dpcondense.reporting.tables.table5_cost import table5_cost

__all__ = [
    "FIGURES",
    "FIGURE_DPI",
    "FIGURE_FILES",
    "INF",
    "MAIN_EPSILON",
    "MAIN_METHOD",
    "MISSING",
    "NOT_APPLICABLE",
    "REAL_DATA_NOTE",
    "TABLES",
    "TABLE_FILES",
    "UNDEFINED",
    "ExperimentRuns",
    "ReportError",
    "RunRecord",
    "Stat",
    "Table",
    "build_figures",
    "build_tables",
    "deduplicate",
    "figure1_privacy_utility",
    "figure2_sizes",
    "figure3_convergence",
    "figure4_transfer",
    "figure5_release",
    "figure_png",
    "format_cell",
    "format_epsilon",
    "kaplan_meier",
    "latex_escape",
    "load_runs",
    "markdown_table",
    "method_label",
    "metric_label",
    "model_label",
    "open_experiment",
    "pick_release",
    "read_reference",
    "records_from_reference",
    "records_from_run",
    "register_figure",
    "register_table",
    "report_markdown",
    "retention",
    "run_manifest",
    "runs_used_markdown",
    "same_epsilon",
    "save_figure",
    "stat_of",
    "table1_datasets",
    "table2_main",
    "table3_privacy_utility",
    "table4_transfer",
    "table5_cost",
    "transfer_matrix",
    "write_report",
]
