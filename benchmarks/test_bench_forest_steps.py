"""The tree families' share of a DP-ZO step: each fast path against the library path it replaces.

A DP-ZO step fits the condensing family 2K = 16 times (through ``fit_many``) on candidate sets
shaped like the release and scores each fit on a batch of ~256 real rows. For each tree family
this times that work twice in one process: as the family fits now and through the library path
it replaced, forced by switching the fast path off:

- ``decision_tree``, ``random_forest``, ``random_survival_forest``: trees grown straight from
  scikit-learn's builder (:mod:`dpcondense.models._tree_ensemble`) against
  ``DecisionTreeClassifier`` / ``RandomForestClassifier`` / scikit-survival's
  ``RandomSurvivalForest``;
- ``xgboost``, ``xgboost_cox``: :func:`dpcondense.models.xgboost_classifier.train_booster`
  against ``xgboost.train``.

Classification candidates are soft-labelled (each of 20 points twice, weights 1 - p and p), as
DP-ZO fits tree families; survival candidates are 50 rows.

``extra_info``: ``fast_ms`` and ``library_ms`` (the best of a few rounds each, interleaved),
``speedup`` = library / fast, and ``identical`` (the two paths' losses equal bit for bit).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from types import ModuleType
from typing import Any

import numpy as np
import pytest
import xgboost as xgb

from dpcondense.models import (
    decision_tree,
    make_model,
    random_forest,
    random_survival_forest,
    xgboost_classifier,
    xgboost_cox,
)
from dpcondense.models.defaults import family_params


def no_fast_path(*args: Any, **kwargs: Any) -> None:
    """``growth_rules`` that covers nothing (returns ``None``): every fit goes to the estimator."""


def library_training(params: dict[str, Any], dtrain: xgb.DMatrix, rounds: int) -> xgb.Booster:
    """``train_booster`` as ``xgboost.train``."""
    return xgb.train(params, dtrain, num_boost_round=rounds)


#: the family: the module whose fast path is switched off, the name and stand-in switching it off
SWITCHES: dict[str, tuple[ModuleType, str, Callable[..., Any]]] = {
    "decision_tree": (decision_tree, "growth_rules", no_fast_path),
    "random_forest": (random_forest, "growth_rules", no_fast_path),
    "random_survival_forest": (random_survival_forest, "growth_rules", no_fast_path),
    "xgboost": (xgboost_classifier, "train_booster", library_training),
    "xgboost_cox": (xgboost_cox, "train_booster", library_training),
}
DATASETS = {"classification": "support_mortality", "survival": "metabric"}
POINTS = {"classification": 20, "survival": 50}
DIRECTIONS = 8
BATCH = 256
#: interleaved timing rounds (more for the single tree, whose step takes milliseconds)
ROUNDS = {"decision_tree": 6}


def step_work(train: Any, family: str, seed: int = 0) -> Callable[[], list[np.ndarray]]:
    """A step's 2K fits (one ``fit_many``) and 2K per-example losses, as a callable."""
    rng = np.random.default_rng(seed)
    X_real = train.encoded()
    classification = train.task == "classification"
    rows = rng.choice(train.n_rows, POINTS[train.task], replace=False)
    batch = rng.choice(train.n_rows, BATCH, replace=False)
    data = []
    for _ in range(2 * DIRECTIONS):
        X = X_real[rows] + rng.normal(0.0, 0.05, (len(rows), X_real.shape[1]))
        if classification:
            p = rng.uniform(0.05, 0.95, len(rows))
            data.append((np.vstack([X, X]), np.repeat([0, 1], len(rows)), np.concatenate([1.0 - p, p])))
        else:
            data.append((X, train.time[rows], train.event[rows], None))
    if classification:
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


@pytest.mark.parametrize("family", list(SWITCHES))
def test_tree_family_step(benchmark, measure, split, monkeypatch, family: str) -> None:
    benchmark.group = f"tree families: a DP-ZO step's {2 * DIRECTIONS} fits + losses on {BATCH} rows"
    module, name, stand_in = SWITCHES[family]
    dataset = DATASETS[make_model(family).task]
    train, _ = split(dataset)
    work = step_work(train, family)
    fast_losses = measure(work, rounds=3)
    fast, slow = [], []
    with monkeypatch.context() as patch:
        for _ in range(ROUNDS.get(family, 2)):  # interleaved, so a busy machine slows both alike
            seconds, _ = timed(work)
            fast.append(seconds)
            patch.setattr(module, name, stand_in)
            seconds, slow_losses = timed(work)
            slow.append(seconds)
            patch.undo()
    identical = all(np.array_equal(a, b) for a, b in zip(fast_losses, slow_losses))
    benchmark.extra_info.update({
        "dataset": dataset,
        "fast_ms": round(1e3 * min(fast), 3),
        "library_ms": round(1e3 * min(slow), 3),
        "speedup": round(min(slow) / min(fast), 2),
        "identical": identical,
    })
    assert identical
