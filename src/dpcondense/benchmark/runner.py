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

import numpy as np
import pandas as pd

from dpcondense.benchmark.spec import RunConfigError, RunSpec
from dpcondense.conventions import synthetic_rows
from dpcondense.data import Dataset, keyed_split, train_test_split
from dpcondense.data.csv import NOT_DP_REASON, data_derived_bounds, load_user_schema, read_user_csv
from dpcondense.datasets import load_dataset
from dpcondense.evaluate import evaluate_release
from dpcondense.methods import METHODS, CondensationMethod, make_method
from dpcondense.privacy import LedgerEntry, PrivacyLedger, PrivacyParameterError, split_budget
from dpcondense.privacy.composition import PrivacyEvent, gaussian_event, pure_event
from dpcondense.privacy.counts import dp_count
from dpcondense.privacy.randomness import noise_generator

#: the non-private references a run can also evaluate (``references: true``)
REFERENCE_METHODS = ("full_data", "random_subset")
#: default share of ε spent on the DP row count of a custodian's file when n is not public
DEFAULT_COUNT_SHARE = 0.02
#: what the DP count counts (recorded in its ledger entry)
COUNTED = "rows of the file (the method's public n)"
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
    test: Dataset | None
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
    #: spends already made on the rows, composed by a method with joint accounting (the DP count)
    prior: tuple[LedgerEntry, ...] = ()


def run_one(spec: RunSpec) -> RunResult:
    """One run: a built-in dataset is split, condensed and evaluated; a custodian's CSV is released.

    A built-in dataset (the benchmark) is split with the run's seed; the method fits on the
    training split and every evaluation family is scored on the test split (or, with
    ``evaluate_on: validation``, on a validation part of the training split).

    A custodian's file is released from **every row**: the guarantee is add/remove-one-row DP on
    that file, so no seeded split may sit between the file and the mechanism. Such a result has no
    metrics (``test`` is None); :func:`local_check` gives the custodian's held-out utility.

    Raises
    ------
    RunConfigError
        For a custodian's file, when its rows contradict the spec (more synthetic rows than rows,
        δ ≥ 1/n) — before any privacy spend; the message never states a private count.
    """
    params = method_arguments(spec)
    if spec.csv is None:
        source = _Source(load_dataset(spec.dataset), spec.epsilon, spec.delta, params)
        train, test = train_test_split(source.dataset, seed=spec.seed)
        if spec.evaluate_on == "validation":  # tuning: split the training rows again, never look at the test split
            train, test = train_test_split(train, seed=spec.seed)
        return _condense(spec, source, train, test)
    source = _csv_source(spec, params, _read_csv(spec))
    result = _condense(spec, source, source.dataset, None)
    _finish_csv(result, spec, source)
    return result


def local_check(spec: RunSpec, *, test_size: float = 0.25) -> RunResult:
    """The custodian's held-out utility: the same run on a keyed-hash part of the file, scored on the rest.

    A separate, local run (its release is never written): the file is split by a keyed hash of
    each row (:func:`~dpcondense.data.keyed_split`, so one patient more or less moves no other
    row), the method condenses the first part with fresh secret noise, and every evaluation
    family trained on that release is scored on the held-out part.
    """
    if spec.csv is None:
        raise ValueError("local_check is for a custodian's file (dataset=csv)")
    dataset, warnings = _read_csv(spec)
    fit_part, held_out = keyed_split(dataset, key=f"dpcondense-local-check-{spec.seed}".encode(), test_size=test_size)
    source = _csv_source(spec, method_arguments(spec), (fit_part, warnings))
    result = _condense(spec, source, fit_part, held_out)
    _finish_csv(result, spec, source)
    return result


def method_arguments(spec: RunSpec) -> dict[str, Any]:
    """The method's own parameters, plus ``progress`` for methods that show one."""
    params = dict(spec.method_params)
    if "progress" in inspect.signature(METHODS.get(spec.method).__init__).parameters:
        params["progress"] = spec.progress
    return params


def _condense(spec: RunSpec, source: _Source, train: Dataset, test: Dataset | None) -> RunResult:
    """Fit the method on ``train``; score it (and the references) on ``test`` when there is one."""
    est = make_method(spec.method, **source.method_params)
    t0 = time.perf_counter()
    est.fit(
        train, model=spec.model, size=spec.size, epsilon=source.epsilon, delta=source.delta, random_state=spec.seed,
        model_params=spec.model_params, noise=spec.noise, **({"prior": source.prior} if source.prior else {}),
    )
    wall = time.perf_counter() - t0
    metrics: dict[str, Any] = {}
    if test is not None:
        metrics = {em: _evaluate(est, spec, em, train, test) for em in spec.eval_models}
    if spec.references and test is not None:
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


def _read_csv(spec: RunSpec) -> tuple[Dataset, list[str]]:
    """The custodian's file, validated against its schema; a declared size is used as a constant."""
    csv = spec.csv
    schema = load_user_schema(csv["schema_path"])
    dataset, warnings = read_user_csv(csv["path"], schema, delimiter=csv.get("delimiter"), encoding=csv.get("encoding"))
    declared = schema.public.get("n_rows")
    # public facts are constants: never compared with the data (the comparison is a private bit)
    dataset.n_public = None if declared is None else int(declared)
    return dataset, warnings


def _csv_source(spec: RunSpec, params: dict[str, Any], data: tuple[Dataset, list[str]]) -> _Source:
    """Check the rows against the spec, and buy the public n the method needs."""
    dataset, warnings = data
    _check_against_rows(spec, dataset)
    if spec.csv.get("n_public") is not None and params.get("n_public") is None:  # a method config may carry n_public: null
        params["n_public"] = int(spec.csv["n_public"])
    source = _Source(dataset, spec.epsilon, spec.delta, params, warnings)
    public_n = params.get("n_public", dataset.n_public)
    if public_n is None and _accepts(spec.method, "n_public"):
        if math.isinf(spec.epsilon):
            params["n_public"] = dataset.n_rows  # non-private run: nothing to protect
        else:
            _buy_count(source, spec, dataset.n_rows)
    return source


def _check_against_rows(spec: RunSpec, dataset: Dataset) -> None:
    """Refuse a size the file cannot hold and a δ ≥ 1/n, without stating the private count."""
    n_synthetic = synthetic_rows(dataset.task, spec.size)
    if n_synthetic > dataset.n_rows:
        unit = f"2 classes × --size {spec.size}" if dataset.task == "classification" else f"--size {spec.size}"
        raise RunConfigError(
            f"requested {n_synthetic} synthetic rows ({unit}), more than the rows of your file; choose a smaller --size"
        )
    if not spec.delta < 1.0 / dataset.n_rows:
        raise PrivacyParameterError(
            f"--delta: delta={spec.delta:g} must be < 1/n, n = the rows of your file (not shown: the count of your "
            "patients is private)"
        )


def _buy_count(source: _Source, spec: RunSpec, n_rows: int) -> None:
    """Spend ``count_share`` of the budget on a DP count of the file's rows (the method's n)."""
    share = spec.csv.get("count_share", DEFAULT_COUNT_SHARE)
    parts = split_budget(spec.epsilon, spec.delta, {"dp_count": share, "condensation": 1.0 - share})
    eps_count, delta_count = parts["dp_count"]
    mechanism = spec.csv.get("count_mechanism") or "laplace"
    rng = noise_generator(spec.noise, np.random.SeedSequence([spec.seed, _COUNT_STREAM]))
    noisy, details = dp_count(n_rows, epsilon=eps_count, delta=delta_count, mechanism=mechanism, rng=rng)
    source.method_params["n_public"] = noisy
    source.count = {"count": noisy, **details}
    if METHODS.get(spec.method).joint_accounting:  # the method composes the count with its own spends
        source.prior = (count_entry(source.count),)
    else:  # the method gets what the count leaves (basic composition of the two)
        source.epsilon = parts["condensation"][0]
        source.delta = spec.delta - details["delta"]


def _finish_csv(result: RunResult, spec: RunSpec, source: _Source) -> None:
    """The run's ledger and config in terms of the whole budget (count first, then the method)."""
    schema = source.dataset.schema
    ledger = result.ledger
    if source.count is not None and not source.prior:  # with priors, the method's ledger starts with the count
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
            "n_public": source.method_params.get("n_public", source.dataset.n_public),
        }
    )


def _accepts(method: str, name: str) -> bool:
    return name in inspect.signature(METHODS.get(method).__init__).parameters


def count_event(count: Mapping[str, Any]) -> PrivacyEvent:
    """The DP count as a composable event: the discrete Laplace is pure ε-DP, the Gaussian a Gaussian."""
    if count["mechanism"] == "gaussian":
        return gaussian_event(count["noise_scale"] / count["sensitivity"])
    return pure_event(count["epsilon"])


def count_entry(count: Mapping[str, Any]) -> LedgerEntry:
    """The DP count as a ledger entry with its event (a prior spend for a method that composes jointly)."""
    return LedgerEntry(
        purpose="dp_count", mechanism=count["mechanism"], epsilon=count["epsilon"], delta=count["delta"],
        sensitivity=count["sensitivity"], event=count_event(count),
        extra={"noise_scale": count["noise_scale"], "released_count": int(count["count"]), "counted": COUNTED},
    )


def prepend_count(method_ledger: PrivacyLedger, epsilon: float, delta: float, count: Mapping[str, Any]) -> PrivacyLedger:
    """One ledger for the run: the DP count first, then every entry of the method's ledger."""
    ledger = PrivacyLedger(epsilon, delta, n_public=int(count["count"]), composition=method_ledger.composition)
    ledger.record(count_entry(count))
    for e in method_ledger.entries:
        ledger.record(e)
    if method_ledger.noise is not None:
        ledger.record_noise(method_ledger.noise)
    for reason in method_ledger.not_dp_reasons:
        ledger.mark_not_dp(reason)
    return ledger
