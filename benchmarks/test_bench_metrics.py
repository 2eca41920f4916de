"""Survival metrics at the test-set sizes of large custodian cohorts.

A custodian's local check scores every evaluation family on the held-out quarter of the file, so
a cohort of a million rows means 250,000 test rows (and 750,000 training rows for the censoring
weights). ``test_survival_metrics[n]`` times Harrell's C, Uno's C and the integrated Brier score
together (``dpcondense.metrics.survival_metrics``, 50-point grid); ``test_concordance_ratio``
times Harrell's + Uno's C against scikit-survival's quadratic functions on 20,000 test rows (the
values must agree) and records the ratio. The end-to-end run of a million-row cohort is
``benchmarks/scale_cohort.py``.
"""

from __future__ import annotations

import time

import numpy as np
import pytest
from sksurv.metrics import concordance_index_censored, concordance_index_ipcw

from dpcondense.concordance import CensoringKM, harrell_c, pair_counts, uno_c
from dpcondense.metrics import survival_metrics

GRID = np.linspace(7.2, 360.0, 50)


def outcome(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Times (months, two decimals: ties), events and a risk score correlated with them."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    t, c = rng.weibull(1.2, n) * 150 * np.exp(-x), rng.uniform(0, 360, n)
    return np.maximum(np.minimum(t, c).round(2), 0.1), t <= c, x + rng.normal(0, 0.5, n)


@pytest.mark.parametrize("n_test", [10_000, 250_000])
def test_survival_metrics(benchmark, measure, n_test: int) -> None:
    benchmark.group = "metrics: Harrell's C + Uno's C + IBS (3 training rows per test row)"
    train_time, train_event, _ = outcome(3 * n_test, seed=1)
    time_, event, risk = outcome(n_test, seed=2)
    surv = np.exp(-np.outer(np.exp(risk), GRID) / 150.0)
    out = measure(survival_metrics, train_time, train_event, time_, event, -surv.sum(axis=1), surv, GRID,
                  rounds=None if n_test <= 10_000 else 3)
    benchmark.extra_info.update({k: round(v, 6) for k, v in out.items()})
    assert 0.6 < out["c_index"] < 0.9 and 0.6 < out["c_index_uno"] < 0.9 and 0 < out["ibs"] < 0.25


def test_concordance_ratio(benchmark, measure) -> None:
    benchmark.group = "metrics: Harrell's + Uno's C, 20,000 test rows"
    n = 20_000
    train_time, train_event, _ = outcome(3 * n, seed=1)
    time_, event, risk = outcome(n, seed=2)
    time_ = np.minimum(time_, train_time.max())
    tau = float(np.quantile(time_, 0.9))

    def ours() -> tuple[float, float]:
        counts = pair_counts(event, time_, risk)
        return harrell_c(event, time_, risk, counts=counts), uno_c(CensoringKM.fit(train_time, train_event), time_, event, risk, tau, counts=counts)

    harrell, uno = measure(ours)
    t0 = time.perf_counter()
    ours()
    ours_s = time.perf_counter() - t0  # one more call: the ratio also exists with --benchmark-disable
    y_train = np.array(list(zip(train_event, train_time)), dtype=[("event", bool), ("time", float)])
    y_test = np.array(list(zip(event, time_)), dtype=[("event", bool), ("time", float)])
    t0 = time.perf_counter()
    ref_harrell = concordance_index_censored(event, time_, risk)[0]
    ref_uno = concordance_index_ipcw(y_train, y_test, risk, tau=tau)[0]
    reference_s = time.perf_counter() - t0
    assert harrell == ref_harrell and abs(uno - ref_uno) <= 1e-12
    benchmark.extra_info.update({
        "scikit_survival_s": round(reference_s, 3),
        "ratio": round(reference_s / ours_s, 1),
        "c_index": round(harrell, 6),
        "c_index_uno": round(uno, 6),
    })
