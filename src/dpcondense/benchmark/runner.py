"""Run one :class:`RunSpec`: load the data, split, condense, evaluate → a typed :class:`RunResult`.

This is the one path from a validated spec to a result, shared by ``dpcondense condense``, the
Hydra app and the custodian workflow. A built-in dataset is loaded from its package; a
custodian's CSV (``spec.csv``) is read and checked here against its schema and, when the method
needs a public row count the schema does not declare, a DP count of the training rows is bought
from the budget first and composed into the run's ledger.
"""

from __future__ import annotations

import inspect
import math
import time
from dataclasses import dataclass, field
from typing import Any, Mapping

import pandas as pd

from dpcondense.benchmark.spec import RunConfigError, RunSpec
from dpcondense.conventions import derived_rng, synthetic_rows
from dpcondense.data import Dataset, train_test_split
from dpcondense.data.csv import NOT_DP_REASON, data_derived_bounds, load_user_schema, read_user_csv
from dpcondense.datasets import load_dataset
from dpcondense.evaluate import evaluate_release
from dpcondense.methods import METHODS, CondensationMethod, make_method
from dpcondense.privacy import PrivacyLedger, PrivacyParameterError, split_budget
from dpcondense.privacy.counts import dp_count

#: the non-private references a run can also evaluate (``references: true``)
REFERENCE_METHODS = ("full_data", "random_subset")
#: default share of ε spent on the DP row count of a custodian's file when n is not public
DEFAULT_COUNT_SHARE = 0.02
#: the stream of the DP count's noise (derived from the run seed)
_COUNT_STREAM = 0xC0047


@dataclass
class RunResult:
    """What one run produced.

    ``synthetic`` and ``ledger`` are the release; ``metrics`` maps each evaluation family (and,
    with references, ``full_data`` / ``random_subset``) to its test-split metrics. ``dataset`` (the
    private data) and ``train`` / ``test`` (the split the run used) stay local, like ``warnings``
    and ``count``: they are never written next to the release.
    """

    estimator: CondensationMethod
    ledger: PrivacyLedger
    metrics: dict[str, Any]
    wall_seconds: float
    config: dict[str, Any]
    dataset: Dataset
    train: Dataset
    test: Dataset
    warnings: list[str] = field(default_factory=list)
    #: the DP count bought for a custodian's file (value and mechanism), else None
    count: dict[str, Any] | None = None

    @property
    def synthetic(self) -> pd.DataFrame:
        """The released rows in raw units."""
        return self.estimator.synthetic_


@dataclass
class _Source:
    """The private dataset of a run and the budget its method may spend."""

    dataset: Dataset
    epsilon: float
    delta: float
    method_params: dict[str, Any]
    warnings: list[str] = field(default_factory=list)
    count: dict[str, Any] | None = None


def run_one(spec: RunSpec) -> RunResult:
    """Split, condense, evaluate one run (a built-in dataset or a custodian's CSV).

    Raises
    ------
    RunConfigError
        For a custodian's file, when its rows contradict the spec (more synthetic rows than
        training rows, δ ≥ 1/n) — before any privacy spend.
    """
    params = method_arguments(spec)
    source = _builtin_source(spec, params) if spec.csv is None else _csv_source(spec, params)
    result = _condense(spec, source)
    if spec.csv is not None:
        _finish_csv(result, spec, source)
    return result


def method_arguments(spec: RunSpec) -> dict[str, Any]:
    """The method's own parameters, plus ``progress`` for methods that show one."""
    params = dict(spec.method_params)
    if "progress" in inspect.signature(METHODS.get(spec.method).__init__).parameters:
        params["progress"] = spec.progress
    return params


def _builtin_source(spec: RunSpec, params: dict[str, Any]) -> _Source:
    return _Source(load_dataset(spec.dataset), spec.epsilon, spec.delta, params)


def _condense(spec: RunSpec, source: _Source) -> RunResult:
    train, test = train_test_split(source.dataset, seed=spec.seed)
    if spec.evaluate_on == "validation":  # tuning: split the training rows again, never look at the test split
        train, test = train_test_split(train, seed=spec.seed)
    est = make_method(spec.method, **source.method_params)
    t0 = time.perf_counter()
    est.fit(
        train, model=spec.model, size=spec.size, epsilon=source.epsilon, delta=source.delta, random_state=spec.seed,
        model_params=spec.model_params,
    )
    wall = time.perf_counter() - t0
    metrics: dict[str, Any] = {em: _evaluate(est, spec, em, train, test) for em in spec.eval_models}
    if spec.references:
        for ref in REFERENCE_METHODS:
            ref_est = make_method(ref).fit(train, model=spec.model, size=spec.size, delta=source.delta, random_state=spec.seed)
            metrics[ref] = {em: _evaluate(ref_est, spec, em, train, test) for em in spec.eval_models}
    config = {
        "dataset": spec.dataset,
        "method": spec.method,
        "model": spec.model,
        "eval_models": spec.eval_models,
        "epsilon": source.epsilon,
        "delta": source.delta,
        "size": spec.size,
        "seed": spec.seed,
        "method_params": source.method_params,
    }
    return RunResult(
        estimator=est, ledger=est.ledger_, metrics=metrics, wall_seconds=wall, config=config,
        dataset=source.dataset, train=train, test=test, warnings=source.warnings, count=source.count,
    )


def _evaluate(est: CondensationMethod, spec: RunSpec, family: str, train: Dataset, test: Dataset) -> dict[str, float]:
    return evaluate_release(
        est.synthetic_encoded_, train, test, family, random_state=spec.seed, model_params=spec.eval_model_params.get(family)
    )


# ------------------------------------------------------------------------- a custodian's CSV


def _csv_source(spec: RunSpec, params: dict[str, Any]) -> _Source:
    """Read the file, check it against the spec, and buy the public n the method needs."""
    csv = spec.csv
    schema = load_user_schema(csv["schema_path"])
    dataset, warnings = read_user_csv(csv["path"], schema, delimiter=csv.get("delimiter"), encoding=csv.get("encoding"))
    train = train_test_split(dataset, seed=spec.seed)[0]  # the split _condense repeats, for the checks
    n_train = train.n_rows
    _check_against_rows(spec, dataset.task, n_train)
    if csv.get("n_public") is not None and params.get("n_public") is None:  # a method config may carry n_public: null
        params["n_public"] = int(csv["n_public"])
    source = _Source(dataset, spec.epsilon, spec.delta, params, warnings)
    public_n = params.get("n_public", train.n_public)
    if public_n is None and _accepts(spec.method, "n_public"):
        if math.isinf(spec.epsilon):
            params["n_public"] = n_train  # non-private run: nothing to protect
        else:
            _buy_count(source, spec, n_train)
    return source


def _check_against_rows(spec: RunSpec, task: str, n_train: int) -> None:
    n_synthetic = synthetic_rows(task, spec.size)
    if n_synthetic > n_train:
        unit = f"2 classes × --size {spec.size}" if task == "classification" else f"--size {spec.size}"
        raise RunConfigError(
            f"requested {n_synthetic} synthetic rows ({unit}) but the training split has only {n_train} real rows; "
            "choose a smaller --size"
        )
    if not spec.delta < 1.0 / n_train:
        raise PrivacyParameterError(
            f"--delta: delta={spec.delta:g} must be < 1/n = {1.0 / n_train:.3g} (n = {n_train} training rows)"
        )


def _buy_count(source: _Source, spec: RunSpec, n_train: int) -> None:
    """Spend ``count_share`` of the budget on a DP count of the training rows (the method's n)."""
    share = spec.csv.get("count_share", DEFAULT_COUNT_SHARE)
    parts = split_budget(spec.epsilon, spec.delta, {"dp_count": share, "condensation": 1.0 - share})
    eps_count, delta_count = parts["dp_count"]
    mechanism = spec.csv.get("count_mechanism") or "laplace"
    noisy, details = dp_count(
        n_train, epsilon=eps_count, delta=delta_count, mechanism=mechanism, rng=derived_rng(spec.seed, _COUNT_STREAM)
    )
    source.method_params["n_public"] = noisy
    source.epsilon = parts["condensation"][0]
    source.delta = spec.delta - details["delta"]
    source.count = {"count": noisy, **details}


def _finish_csv(result: RunResult, spec: RunSpec, source: _Source) -> None:
    """The run's ledger and config in terms of the whole budget (count first, then the method)."""
    schema = source.dataset.schema
    ledger = result.ledger
    if source.count is not None:
        ledger = prepend_count(ledger, spec.epsilon, spec.delta, source.count)
    if data_derived_bounds(schema):
        ledger.mark_not_dp(NOT_DP_REASON)
    result.ledger = ledger
    result.config.update(
        {
            "dataset": schema.name,
            "csv": str(spec.csv["path"]),
            "epsilon": spec.epsilon,
            "delta": spec.delta,
            "n_public": source.method_params.get("n_public", result.train.n_public),
        }
    )


def _accepts(method: str, name: str) -> bool:
    return name in inspect.signature(METHODS.get(method).__init__).parameters


def prepend_count(method_ledger: PrivacyLedger, epsilon: float, delta: float, count: Mapping[str, Any]) -> PrivacyLedger:
    """One ledger for the run: the DP count first, then every entry of the method's ledger."""
    ledger = PrivacyLedger(epsilon, delta, n_public=int(count["count"]))
    ledger.spend(
        "dp_count",
        mechanism=count["mechanism"],
        epsilon=count["epsilon"],
        delta=count["delta"],
        sensitivity=count["sensitivity"],
        noise_scale=count["noise_scale"],
        released_count=int(count["count"]),
        counted="training rows (the method's public n)",
    )
    for e in method_ledger.entries:
        ledger.spend(
            e.purpose,
            mechanism=e.mechanism,
            epsilon=e.epsilon,
            delta=e.delta,
            noise_multiplier=e.noise_multiplier,
            sampling_rate=e.sampling_rate,
            steps=e.steps,
            accountant=e.accountant,
            sensitivity=e.sensitivity,
            **e.extra,
        )
    for reason in method_ledger.not_dp_reasons:
        ledger.mark_not_dp(reason)
    return ledger
