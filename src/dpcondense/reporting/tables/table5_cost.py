"""Table 5: the cost of a release (synthetic rows, model fits, steps, ε spent) at the default size.

Only deterministic costs: the same runs on any machine give the same table. Wall time depends on
the machine and the load, so it stays out of the committed report; each run logs it to MLflow
(metric ``wall_seconds``) and ``make bench`` measures speed.
"""

from __future__ import annotations

import math
from typing import Any

from dpcondense.conventions import synthetic_rows
from dpcondense.data import train_test_split
from dpcondense.datasets import DATASETS, load_dataset
from dpcondense.reporting.labels import MISSING, NOT_APPLICABLE, format_epsilon, method_label
from dpcondense.reporting.records import INF, SIZE_FREE_METHODS
from dpcondense.reporting.runs import MAIN_EPSILON, ExperimentRuns
from dpcondense.reporting.table import Table, runs_of
from dpcondense.reporting.tables.base import register_table


def release_rows(task: str, method: str, size: int | None, dataset: str) -> int | None:
    """Rows in a release: 2 × size (classification), size (survival), the training split (full data)."""
    if method in SIZE_FREE_METHODS:
        if dataset not in DATASETS:
            return None
        return train_test_split(load_dataset(dataset), seed=0)[0].n_rows
    if size is None:
        return None
    return synthetic_rows(task, size)


@register_table("table5", "table5_cost")
def table5_cost(runs: ExperimentRuns, *, epsilon: float = MAIN_EPSILON) -> Table:
    """Table 5: cost per dataset × method × ε ∈ {ε, ∞} at the default size (main family)."""
    header = ["dataset", "method", "ε", "synthetic rows", "model fits", "steps", "ε spent"]
    rows: list[list[Any]] = []
    used: set[str] = set()
    for d in runs.datasets():
        task, model, size = runs.task(d), runs.main_model(d), runs.default_size(d)
        for m in runs.methods(d):
            private = runs.is_private(m)
            for e in ((epsilon, INF) if private else (INF,)):
                where = dict(dataset=d, method=m, model=model, eval_model=model, size=size, epsilon=e)
                recs = [r for r in runs.select(**where) if not r.derived]
                fits, spent = (runs.cost(k, **where) for k in ("n_model_fits", "epsilon_spent"))
                steps = sorted({r.steps for r in recs if r.steps is not None})
                steps_cell: Any = (", ".join(str(s) for s in steps) if steps else (NOT_APPLICABLE if not private else None))
                if spent is not None and not math.isfinite(e):
                    spent_cell: Any = "∞"
                else:
                    spent_cell = spent
                used.update(runs_of(fits, spent))
                fits_cell: Any = fits.rounded(0) if fits is not None else (None if private else NOT_APPLICABLE)
                rows.append([d, method_label(m), format_epsilon(e), release_rows(task, m, size, d),
                             fits_cell, steps_cell, spent_cell])
    return Table(
        "table5",
        "Table 5",
        "Cost per release at the default size with the task's main family: model fits of the condensation "
        "(not the evaluation), optimisation steps, and the ε the ledger spent (mean ± std over seeds); "
        "wall time depends on the machine and is kept out of this table (MLflow metric wall_seconds). "
        f"{MISSING}: no finished run of the method itself (reference metrics logged by other runs carry no cost).",
        header,
        rows,
        runs=sorted(used),
    )
