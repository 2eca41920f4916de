"""The forests' share of a DP-ZO step: the fast path against the estimators it replaces.

A DP-ZO step fits the condensing family 2K = 16 times (through ``fit_many``) on candidate sets
shaped like the release and scores each fit on a batch of ~256 real rows. For each forest family
this times that work twice in one process: as the family fits now (trees grown straight from
scikit-learn's builder, :mod:`dpcondense.models._tree_ensemble`) and through the library
estimator (``RandomForestClassifier`` / scikit-survival's ``RandomSurvivalForest``, forced by
switching the fast path off). Classification candidates are soft-labelled (each of 20 points
twice, weights 1 - p and p), as DP-ZO fits tree families; survival candidates are 50 rows.

``extra_info``: ``fast_ms`` and ``estimator_ms`` (the best of a few rounds each, interleaved),
``speedup`` = estimator / fast, and ``identical`` (the two paths' losses equal bit for bit).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from dpcondense.models import make_model, random_forest, random_survival_forest
from dpcondense.models.defaults import family_params

#: the family, its module (whose fast path is switched off for the estimator timing), the cohort
FAMILIES = {
    "random_forest": (random_forest, "support_mortality"),
    "random_survival_forest": (random_survival_forest, "metabric"),
}
DIRECTIONS = 8
POINTS = {"random_forest": 20, "random_survival_forest": 50}
BATCH = 256
ROUNDS = 2


def step_work(train: Any, family: str, seed: int = 0) -> Callable[[], list[np.ndarray]]:
    """A step's 2K fits (one ``fit_many``) and 2K per-example losses, as a callable."""
    rng = np.random.default_rng(seed)
    X_real = train.encoded()
    rows = rng.choice(train.n_rows, POINTS[family], replace=False)
    batch = rng.choice(train.n_rows, BATCH, replace=False)
    data = []
    for _ in range(2 * DIRECTIONS):
        X = X_real[rows] + rng.normal(0.0, 0.05, (len(rows), X_real.shape[1]))
        if family == "random_forest":
            p = rng.uniform(0.05, 0.95, len(rows))
            data.append((np.vstack([X, X]), np.repeat([0, 1], len(rows)), np.concatenate([1.0 - p, p])))
        else:
            data.append((X, train.time[rows], train.event[rows], None))
    if family == "random_forest":
        targets: tuple[np.ndarray, ...] = (train.y[batch],)
    else:
        targets = (train.time[batch], train.event[batch], train.schema.outcome.time_grid())
    params = family_params(family)
    seeds = rng.integers(0, 2**31 - 1, DIRECTIONS).tolist() * 2

    def work() -> list[np.ndarray]:
        models = [make_model(family, random_state=s, **params) for s in seeds]
        type(models[0]).fit_many(models, data)
        return [m.loss(X_real[batch], *targets) for m in models]

    return work


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    """Seconds of one call, and its result."""
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


@pytest.mark.parametrize("family", list(FAMILIES))
def test_forest_step(benchmark, measure, split, monkeypatch, family: str) -> None:
    benchmark.group = f"forests: a DP-ZO step's {2 * DIRECTIONS} fits + losses on {BATCH} rows"
    module, dataset = FAMILIES[family]
    train, _ = split(dataset)
    work = step_work(train, family)
    fast_losses = measure(work, rounds=3)
    fast, slow = [], []
    with monkeypatch.context() as patch:
        for _ in range(ROUNDS):  # interleaved, so a busy machine slows both alike
            seconds, _ = timed(work)
            fast.append(seconds)
            patch.setattr(module, "growth_rules", lambda *args, **kwargs: None)
            seconds, slow_losses = timed(work)
            slow.append(seconds)
            patch.undo()
    identical = all(np.array_equal(a, b) for a, b in zip(fast_losses, slow_losses))
    benchmark.extra_info.update({
        "dataset": dataset,
        "fast_ms": round(1e3 * min(fast), 3),
        "estimator_ms": round(1e3 * min(slow), 3),
        "speedup": round(min(slow) / min(fast), 2),
        "identical": identical,
    })
    assert identical
