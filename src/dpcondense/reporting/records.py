"""One run's results as flat records: what every table and figure aggregates.

:func:`records_from_run` turns an MLflow run into one :class:`RunRecord` per evaluation family;
the ``full_data.*`` / ``random_subset.*`` metrics of runs with ``references=true`` and the
records of ``dpcondense reference --json`` (:func:`records_from_reference`) become records of
those methods too. :class:`Stat` is the mean ± std of one metric over the seeds of a cell.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from dpcondense.methods import METHODS
from dpcondense.reporting.labels import DIGITS, UNDEFINED
from dpcondense.reporting.selection import report_method, report_variant

INF = math.inf
#: metrics logged by runs with ``references=true``, under ``<prefix>.<eval model>.<metric>``
REFERENCE_PREFIXES = ("full_data", "random_subset")
#: methods whose release does not depend on ``size``
SIZE_FREE_METHODS = frozenset({"full_data"})


@dataclass(frozen=True)
class RunRecord:
    """One run's results for one evaluation family: what every table and figure aggregates.

    ``epsilon`` is the run's target (``inf`` for every non-private method, whatever it was run
    with); ``derived`` says the record comes from another run's reference metrics
    (``references=true``) or from a ``dpcondense reference`` file, not from a run of ``method``.
    ``method`` is the method as the report shows it: ``dpzo``, or ``dpzo[hard_labels]`` for a run
    of a declared variant (``variant``; :mod:`~dpcondense.reporting.selection`).
    """

    identity: str
    run_id: str | None
    dataset: str
    task: str
    method: str
    model: str | None
    eval_model: str
    epsilon: float
    size: int | None
    seed: int
    private: bool
    metrics: Mapping[str, float]
    cost: Mapping[str, float] = field(default_factory=dict)
    steps: int | None = None
    derived: bool = False
    #: the declared variant (``None``: none, or the variant named ``default``)
    variant: str | None = None
    #: the part the metrics were scored on: ``test``, or ``validation`` (tuning runs: a part of the
    #: training split, param ``evaluate_on``)
    scored_on: str = "test"

    @property
    def label(self) -> str:
        """How ``runs_used.md`` lists the record."""
        if not self.derived:
            return self.identity
        return f"{self.identity} ({self.method} reference metrics)"


@dataclass(frozen=True)
class Stat:
    """Mean ± std (ddof = 0) of one metric over the seeds of a cell, and the runs behind it."""

    mean: float
    std: float
    n: int
    identities: tuple[str, ...]
    #: decimals shown
    digits: int = field(default=DIGITS, compare=False)

    def text(self) -> str:
        """``mean ± std`` at :attr:`digits` decimals (:data:`UNDEFINED` when no seed gave a value)."""
        if not math.isfinite(self.mean):
            return UNDEFINED
        return f"{self.mean:.{self.digits}f} ± {self.std:.{self.digits}f}"

    def rounded(self, digits: int) -> "Stat":
        """The same statistic shown with ``digits`` decimals."""
        return replace(self, digits=digits)


def stat_of(values: Sequence[float], identities: Sequence[str]) -> Stat | None:
    """:class:`Stat` of ``values`` (NaNs left out of mean and std), ``None`` when there are none."""
    if not values:
        return None
    arr = np.asarray(values, dtype=float)
    finite = arr[np.isfinite(arr)]
    if len(finite) == 0:
        return Stat(math.nan, math.nan, len(arr), tuple(sorted(identities)))
    return Stat(float(np.mean(finite)), float(np.std(finite)), len(arr), tuple(sorted(identities)))


def same_epsilon(a: float, b: float) -> bool:
    """Whether two privacy budgets are the same target (relative tolerance 1e-9; ``inf`` only equals ``inf``)."""
    if math.isinf(a) or math.isinf(b):
        return a == b
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=0.0)


def _is_private_method(name: str, epsilon_spent: float | None) -> bool:
    if name in METHODS:
        return bool(METHODS.get(name).private)
    # an unregistered method (e.g. a plug-in no longer installed): trust what it spent
    return epsilon_spent is not None and math.isfinite(_unclamp(epsilon_spent))


def _float(text: Any, default: float | None = None) -> float | None:
    try:
        return float(text)
    except (TypeError, ValueError):
        return default


def _unclamp(value: float) -> float:
    """MLflow stores ±inf as ±float max: turn it back into inf."""
    value = float(value)
    return math.copysign(INF, value) if abs(value) >= 1e300 else value


def _int(text: Any) -> int | None:
    value = _float(text)
    return None if value is None or not math.isfinite(value) else int(value)


def records_from_run(run: Any) -> list[RunRecord]:
    """The records of one MLflow run: one per evaluation family, plus its reference metrics."""
    tags, metrics, params = run.data.tags, run.data.metrics, run.data.params
    identity = tags.get("identity") or run.info.run_id
    base_method = tags.get("method", "?")
    variant = report_variant(tags)
    method = report_method(base_method, variant)
    dataset = tags.get("dataset", "?")
    task = tags.get("task") or "classification"
    model = tags.get("model")
    size, seed = _int(tags.get("size")), _int(tags.get("seed"))
    epsilon_spent = metrics.get("epsilon_spent")
    private = _is_private_method(base_method, epsilon_spent)
    epsilon = _float(tags.get("epsilon"), INF) if private else INF
    eval_models = [m for m in (tags.get("eval_models") or model or "").split(",") if m]
    cost = {k: _unclamp(metrics[k]) for k in ("epsilon_spent", "wall_seconds", "n_model_fits") if k in metrics}
    steps = _int(params.get("method.params.steps")) if private else None
    scored_on = params.get("evaluate_on") or "test"
    out = []
    for em in eval_models:
        values = _metrics_with_prefix(metrics, f"{em}.")
        out.append(
            RunRecord(identity, run.info.run_id, dataset, task, method, model, em, float(epsilon),
                      size, seed if seed is not None else -1, private, values, cost, steps, variant=variant,
                      scored_on=scored_on)
        )
    for ref in REFERENCE_PREFIXES:
        for em in eval_models:
            values = _metrics_with_prefix(metrics, f"{ref}.{em}.")
            if values:
                out.append(
                    RunRecord(identity, run.info.run_id, dataset, task, ref, None, em, INF,
                              None if ref in SIZE_FREE_METHODS else size, seed if seed is not None else -1,
                              False, values, {}, None, derived=True, scored_on=scored_on)
                )
    return out


def records_from_reference(records: Iterable[Mapping[str, Any]]) -> list[RunRecord]:
    """Full-data records from ``dpcondense reference --json`` (one per dataset × model × seed)."""
    out = []
    for rec in records:
        for row in rec.get("per_seed", []):
            seed = int(row["seed"])
            values = {k: (math.nan if v is None else float(v)) for k, v in row.items() if k != "seed"}
            out.append(
                RunRecord(f"reference:{rec['dataset']}/{rec['model']}/seed={seed}", None, rec["dataset"],
                          rec["task"], "full_data", None, rec["model"], INF, None, seed, False, values,
                          {}, None, derived=True)
            )
    return out


def _metrics_with_prefix(metrics: Mapping[str, float], prefix: str) -> dict[str, float]:
    return {k[len(prefix):]: float(v) for k, v in metrics.items() if k.startswith(prefix) and "." not in k[len(prefix):]}


def deduplicate(records: Iterable[RunRecord]) -> list[RunRecord]:
    """One record per result.

    A private run is one result per evaluation family. A non-private method's result depends
    only on (dataset, evaluation family, size, seed) — not on the condensing family or ε — so
    the copies logged by several runs collapse into one; runs of the method itself come before
    reference metrics of other runs, then the smallest identity wins (deterministic).
    """
    ordered = sorted(records, key=lambda r: (r.derived, r.identity, r.eval_model, r.method))
    seen: set[tuple] = set()
    out = []
    for r in ordered:
        if r.private:
            key: tuple = ("private", r.identity, r.eval_model)
        else:
            key = (r.method, r.dataset, r.eval_model, None if r.method in SIZE_FREE_METHODS else r.size, r.seed)
        if key not in seen:
            seen.add(key)
            out.append(r)
    return sorted(out, key=_record_order)


def _record_order(r: RunRecord) -> tuple:
    return (r.dataset, r.method, r.model or "", r.eval_model, r.epsilon, r.size or 0, r.seed, r.derived, r.identity)
