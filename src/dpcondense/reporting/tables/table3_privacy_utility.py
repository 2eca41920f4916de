"""Table 3: privacy–utility (primary metric over the ε grid, per dataset × private method)."""

from __future__ import annotations

from typing import Any

from dpcondense.metrics import PRIMARY_METRIC
from dpcondense.reporting.labels import MISSING, format_epsilon, method_label, metric_label
from dpcondense.reporting.runs import ExperimentRuns
from dpcondense.reporting.table import Table, runs_of
from dpcondense.reporting.tables.base import register_table


@register_table("table3", "table3_privacy_utility")
def table3_privacy_utility(runs: ExperimentRuns) -> Table:
    """Table 3: primary metric over the ε grid, per dataset × private method (default size, main family)."""
    grid = runs.epsilons()
    header = ["dataset", "metric", "method"] + [f"ε = {format_epsilon(e)}" for e in grid] + ["full data"]
    rows: list[list[Any]] = []
    used: set[str] = set()
    for d in runs.datasets():
        task, model, size = runs.task(d), runs.main_model(d), runs.default_size(d)
        metric = PRIMARY_METRIC[task]
        full = runs.full_data(d, model, metric)
        methods = runs.methods(d, private=True)
        for m in methods:
            cells = [runs.stat(metric, dataset=d, method=m, model=model, eval_model=model, size=size, epsilon=e) for e in grid]
            used.update(runs_of(*cells, full))
            rows.append([d, metric_label(metric), method_label(m), *cells, full])
        if not methods:
            used.update(runs_of(full))
            rows.append([d, metric_label(metric), None, *([None] * len(grid)), full])
    return Table(
        "table3",
        "Table 3",
        "Privacy–utility: primary metric (mean ± std over seeds) of each private method over the ε grid, "
        "condensing and evaluating with the task's main family at the default size. "
        f"{MISSING}: no finished run." + runs.size_caveat(),
        header,
        rows,
        runs=sorted(used),
    )
