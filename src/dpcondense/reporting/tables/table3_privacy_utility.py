"""Table 3: privacy–utility (primary metric over the ε grid, per dataset × private method)."""

from __future__ import annotations

from typing import Any

from dpcondense.metrics import PRIMARY_METRIC
from dpcondense.reporting.labels import MISSING, format_epsilon, method_label, metric_label, model_label
from dpcondense.reporting.runs import ExperimentRuns
from dpcondense.reporting.table import Table, runs_of
from dpcondense.reporting.tables.base import register_table


def _family_rows(
    runs: ExperimentRuns, d: str, model: str | None, main: bool, grid: list[float],
    rows: list[list[Any]], used: set[str],
) -> None:
    """One (dataset, condensing family) pair's rows; another family than the main one is named in
    the method column (``method · family``) and lists only the methods that ran with it."""
    metric, size = PRIMARY_METRIC[runs.task(d)], runs.default_size(d)
    full = runs.full_data(d, model, metric)
    methods = runs.methods(d, private=True)
    shown = 0
    for m in methods:
        cells = [runs.stat(metric, dataset=d, method=m, model=model, eval_model=model, size=size, epsilon=e) for e in grid]
        if not main and all(c is None for c in cells):
            continue
        used.update(runs_of(*cells, full))
        label = method_label(m) if main else f"{method_label(m)} · {model_label(model)}"
        rows.append([d, metric_label(metric), label, *cells, full])
        shown += 1
    if not shown and main:
        used.update(runs_of(full))
        rows.append([d, metric_label(metric), None, *([None] * len(grid)), full])


@register_table("table3", "table3_privacy_utility")
def table3_privacy_utility(runs: ExperimentRuns) -> Table:
    """Table 3: primary metric over the ε grid, per dataset × private method (default size), the
    main family first, then every other family the dataset was condensed with."""
    grid = runs.epsilons()
    header = ["dataset", "metric", "method"] + [f"ε = {format_epsilon(e)}" for e in grid] + ["full data"]
    rows: list[list[Any]] = []
    used: set[str] = set()
    for d in runs.datasets():
        main = runs.main_model(d)
        for model in runs.condensing_models(d) or [main]:
            _family_rows(runs, d, model, model == main, grid, rows, used)
    return Table(
        "table3",
        "Table 3",
        "Privacy–utility: primary metric (mean ± std over seeds) of each private method over the ε grid, "
        "condensing and evaluating with the task's main family at the default size. "
        f"{MISSING}: no finished run." + runs.size_caveat() + runs.split_caveat(),
        header,
        rows,
        runs=sorted(used),
    )
