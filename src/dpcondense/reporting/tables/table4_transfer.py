"""Table 4: cross-family transfer (condense with family A, evaluate with family B), one per task."""

from __future__ import annotations

from typing import Any

from dpcondense.metrics import PRIMARY_METRIC
from dpcondense.models import MODELS
from dpcondense.reporting.labels import MISSING, format_epsilon, method_label, metric_label, model_label
from dpcondense.reporting.runs import MAIN_EPSILON, MAIN_METHOD, ExperimentRuns
from dpcondense.reporting.table import Table, runs_of
from dpcondense.reporting.tables.base import register_table


@register_table("table4", "table4_transfer")
def table4_transfer(runs: ExperimentRuns, *, method: str = MAIN_METHOD, epsilon: float = MAIN_EPSILON) -> list[Table]:
    """Table 4 (one per task with runs): condense with family A (rows), evaluate with family B
    (columns), primary metric at ε and the default size; the last row per dataset is B on the full data."""
    tables = []
    for letter, task in zip("ab", ("classification", "survival")):
        datasets = runs.datasets(task)
        if not datasets:
            continue
        metric = PRIMARY_METRIC[task]
        order = {n: i for i, n in enumerate(MODELS.names())}
        # the families the experiment evaluated with (not every family a reference file covers)
        evals = sorted({r.eval_model for r in runs.records if r.task == task and not r.derived}, key=lambda n: (order.get(n, len(order)), n))
        header = ["dataset", "condensed with"] + [f"→ {model_label(b)}" for b in evals]
        rows: list[list[Any]] = []
        used: set[str] = set()
        for d in datasets:
            size = runs.default_size(d)
            families = sorted({r.model for r in runs.records if r.dataset == d and r.method == method and r.model},
                              key=lambda n: (order.get(n, len(order)), n))
            for a in families:
                cells = [runs.stat(metric, dataset=d, method=method, model=a, eval_model=b, epsilon=epsilon, size=size) for b in evals]
                used.update(runs_of(*cells))
                rows.append([d, model_label(a), *cells])
            full = [runs.full_data(d, b, metric) for b in evals]
            used.update(runs_of(*full))
            rows.append([d, "full data (reference)", *full])
        tables.append(
            Table(
                f"table4{letter}",
                f"Table 4{letter}",
                f"Cross-family transfer ({task}): {metric_label(metric)} (mean ± std over seeds) of family B "
                f"(columns) trained on the {method_label(method)} release condensed with family A (rows), "
                f"ε = {format_epsilon(epsilon)}, default size; last row per dataset: B trained on the full "
                f"training split. {MISSING}: no finished run." + runs.split_caveat(),
                header,
                rows,
                runs=sorted(used),
            )
        )
    return tables
