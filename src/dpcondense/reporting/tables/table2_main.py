"""Table 2: the main results (primary metric per dataset × method at ε and ε = ∞, with retention)."""

from __future__ import annotations

import math
from typing import Any, Sequence

from dpcondense.metrics import PRIMARY_METRIC
from dpcondense.reporting.labels import (
    DIGITS,
    MISSING,
    NOT_APPLICABLE,
    UNDEFINED,
    format_epsilon,
    method_label,
    metric_label,
    model_label,
)
from dpcondense.reporting.records import INF, Stat
from dpcondense.reporting.runs import CHANCE_LEVEL, MAIN_EPSILON, ExperimentRuns
from dpcondense.reporting.table import Table, runs_of
from dpcondense.reporting.tables.base import register_table


def _best(values: Sequence[tuple[int, Stat | None]], higher: bool = True) -> list[int]:
    """Indices holding the best finite mean (ties all win)."""
    finite = [(i, s.mean) for i, s in values if s is not None and math.isfinite(s.mean)]
    if not finite:
        return []
    target = max(m for _, m in finite) if higher else min(m for _, m in finite)
    return [i for i, m in finite if m == target]


def _family_rows(
    runs: ExperimentRuns, d: str, model: str | None, epsilon: float,
    rows: list[list[Any]], bold: set[tuple[int, int]], used: set[str],
) -> None:
    """The rows of one (dataset, condensing family) pair: one per method, the best DP result in bold."""
    task, size = runs.task(d), runs.default_size(d)
    metric = PRIMARY_METRIC[task]
    full = runs.full_data(d, model, metric)
    used.update(runs_of(full))
    block: list[tuple[int, Stat | None]] = []
    first = len(rows)
    for m in runs.methods(d):
        if m == "full_data":
            continue
        private = runs.is_private(m)
        where = dict(dataset=d, method=m, model=model, eval_model=model, size=size)
        at_eps = runs.stat(metric, epsilon=epsilon, **where) if private else NOT_APPLICABLE
        at_inf = runs.stat(metric, epsilon=INF, **where)
        if model != runs.main_model(d) and at_eps in (None, NOT_APPLICABLE) and at_inf is None:
            continue  # another family: only the methods that ran with it
        used.update(runs_of(at_eps, at_inf))
        rows.append([d, model_label(model), metric_label(metric), method_label(m), at_eps, at_inf, full,
                     retention(at_eps, full), retention(at_inf, full)])
        if private and math.isfinite(epsilon):
            block.append((len(rows) - 1, at_eps))
    for i in _best(block):
        bold.add((i, 4))
    if len(rows) == first:
        rows.append([d, model_label(model), metric_label(metric), None, None, None, full, None, None])


@register_table("table2", "table2_main")
def table2_main(runs: ExperimentRuns, *, epsilon: float = MAIN_EPSILON) -> Table:
    """Table 2: primary metric per dataset × condensing family × method at ε and ε = ∞ (default
    size; the main family first), the full-data reference and the utility retention; the best DP
    result per (dataset, family) in bold."""
    eps_text = format_epsilon(epsilon)
    header = ["dataset", "family", "metric", "method", f"ε = {eps_text}", "ε = ∞", "full data",
              f"retention ε = {eps_text}", "retention ε = ∞"]
    rows: list[list[Any]] = []
    bold: set[tuple[int, int]] = set()
    used: set[str] = set()
    for d in runs.datasets():
        for model in runs.condensing_models(d) or [None]:
            _family_rows(runs, d, model, epsilon, rows, bold, used)
    return Table(
        "table2",
        "Table 2",
        f"Main results: primary metric (mean ± std over seeds) of the condensing family trained on the release "
        f"and tested on {runs.scored_on_text()}, at the default size (10 rows per class / 50 rows), ε = {eps_text} "
        f"and ε = ∞ (the same algorithm without noise). Full data: the family trained on the whole training "
        f"split. Retention: metric / full-data metric, in parentheses (metric − 0.5) / (full-data metric − 0.5). "
        f"Bold: best DP result per dataset. {MISSING}: no finished run; {NOT_APPLICABLE}: the method is not private."
        + runs.size_caveat(),
        header,
        rows,
        bold,
        sorted(used),
    )


def retention(value: Stat | None | str, full: Stat | None) -> str | None:
    """``metric / full`` and, in parentheses, ``(metric − 0.5) / (full − 0.5)`` (ratio of means)."""
    if value == NOT_APPLICABLE:
        return NOT_APPLICABLE
    if not isinstance(value, Stat) or full is None:
        return None
    if not (math.isfinite(value.mean) and math.isfinite(full.mean)) or full.mean == 0:
        return UNDEFINED
    ratio = value.mean / full.mean
    adjusted = (value.mean - CHANCE_LEVEL) / (full.mean - CHANCE_LEVEL) if full.mean != CHANCE_LEVEL else math.nan
    adjusted_text = f"{adjusted:.{DIGITS}f}" if math.isfinite(adjusted) else UNDEFINED
    return f"{ratio:.{DIGITS}f} ({adjusted_text})"
