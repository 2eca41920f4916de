"""A DP-ZO step's 2K candidate fits of the smooth families, fitted together against one by one.

Each family fits 2K = 16 candidate sets shaped like a default step's (classification:
support_mortality, 10 rows per class; survival: metabric, 50 rows) — real training rows plus public
noise, one set per candidate — and scores every fit on a batch of 256 real rows, as a step does.
The benchmark times ``fit_many`` of the 16 sets plus the 16 per-example losses; ``extra_info``
holds, timed in the same process:

* ``one_by_one_ms``: the same 16 fits and losses with one ``fit`` per set (what a step paid before
  the families fitted their candidates together), ``single_ms``: one fit + one loss (the floor of
  a single candidate), and the ratios ``step_over_one_by_one`` and ``step_over_single``;
* ``fits_ms``: ``fit_many`` alone; ``reference_fits_ms``: the 16 fits by the learner the family
  reproduces (pycox ``CoxPH``, scikit-learn ``MLPClassifier`` / ``LogisticRegression``; none for
  Cox PH, whose reference lifelines is not a per-step learner), and ``reference_over_fits``.
"""

from __future__ import annotations

import statistics
import time
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from dpcondense.models import MODELS, make_model
from dpcondense.models.defaults import family_params

FAMILIES = {"deepsurv": "survival", "mlp": "classification", "logistic_regression": "classification", "cox_ph": "survival"}
DATASET = {"classification": "support_mortality", "survival": "metabric"}
CANDIDATES = 16
BATCH = 256
NOISE = 0.05


def candidate_sets(train: Any, task: str, rng: np.random.Generator) -> list[tuple]:
    """16 perturbed copies of a default-sized set of real rows, in ``fit`` argument order."""
    X = train.encoded()
    if task == "classification":
        rows = np.concatenate([rng.choice(np.flatnonzero(train.y == c), 10, replace=False) for c in (0, 1)])
        return [(X[rows] + rng.normal(0, NOISE, (20, X.shape[1])), train.y[rows], None) for _ in range(CANDIDATES)]
    rows = rng.choice(train.n_rows, 50, replace=False)
    return [
        (X[rows] + rng.normal(0, NOISE, (50, X.shape[1])), train.time[rows] * np.exp(rng.normal(0, NOISE, 50)), train.event[rows], None)
        for _ in range(CANDIDATES)
    ]


def reference_fit(name: str) -> Callable[..., Any] | None:
    """One fit by the learner the family reproduces, with the family's default hyperparameters."""
    params = family_params(name)
    if name == "mlp":
        from sklearn.neural_network import MLPClassifier

        return lambda X, y, w, seed: MLPClassifier(random_state=seed, **params).fit(X, y)
    if name == "logistic_regression":
        from sklearn.linear_model import LogisticRegression

        return lambda X, y, w, seed: LogisticRegression(l1_ratio=0.0, solver="lbfgs", **params).fit(X, y)
    if name == "deepsurv":
        from dpcondense.models._pycox_compat import import_pycox, torch_isolated

        _, tt, pycox_models = import_pycox()

        def fit(X, time, event, w, seed):
            with torch_isolated(seed):
                net = tt.practical.MLPVanilla(X.shape[1], list(params["hidden_layer_sizes"]), 1, batch_norm=False)
                model = pycox_models.CoxPH(net, tt.optim.Adam(lr=params["learning_rate"], weight_decay=params["weight_decay"]))
                target = (time.astype(np.float32), event.astype(np.float32))
                model.fit(X.astype(np.float32), target, batch_size=min(params["batch_size"], len(X)), epochs=params["epochs"], verbose=False)

        return fit
    return None


def median_seconds(fn: Callable[[], Any], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


@pytest.mark.parametrize("name", list(FAMILIES))
def test_step_fits(benchmark, measure, split, name: str) -> None:
    benchmark.group = f"batched fits: {CANDIDATES} candidate fits + losses on {BATCH} rows"
    task = FAMILIES[name]
    train, _ = split(DATASET[task])
    rng = np.random.default_rng(0)
    sets = candidate_sets(train, task, rng)
    batch = rng.choice(train.n_rows, BATCH, replace=False)
    X_batch = train.encoded()[batch]
    targets = (train.y[batch],) if task == "classification" else (train.time[batch], train.event[batch], train.schema.outcome.time_grid())
    params = family_params(name)
    family = MODELS.get(name)

    def step() -> list:
        models = [make_model(name, random_state=k, **params) for k in range(CANDIDATES)]
        family.fit_many(models, sets)
        return [m.loss(X_batch, *targets) for m in models]

    def one_by_one(k_range=range(CANDIDATES)) -> list:
        return [make_model(name, random_state=k, **params).fit(*sets[k]).loss(X_batch, *targets) for k in k_range]

    losses = measure(step, rounds=3)
    step_s = benchmark.stats.stats.median
    repeats = 2 if name == "deepsurv" else 3
    one_by_one_s = median_seconds(one_by_one, repeats)
    single_s = median_seconds(lambda: one_by_one(range(1)), 5 * repeats)
    fits_s = median_seconds(lambda: family.fit_many([make_model(name, random_state=k, **params) for k in range(CANDIDATES)], sets), repeats)
    info = {
        "step_ms": round(1e3 * step_s, 3),
        "one_by_one_ms": round(1e3 * one_by_one_s, 3),
        "single_ms": round(1e3 * single_s, 3),
        "step_over_one_by_one": round(step_s / one_by_one_s, 3),
        "step_over_single": round(step_s / single_s, 3),
        "fits_ms": round(1e3 * fits_s, 3),
    }
    ref = reference_fit(name)
    if ref is not None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # scikit-learn's convergence notices
            ref_s = median_seconds(lambda: [ref(*sets[k], k) for k in range(CANDIDATES)], 1 if name == "deepsurv" else repeats)
        info.update(reference_fits_ms=round(1e3 * ref_s, 3), reference_over_fits=round(ref_s / fits_s, 3))
    benchmark.extra_info.update(info)
    # the stacked fits are the one-by-one fits
    np.testing.assert_array_equal(np.stack(losses), np.stack(one_by_one()))
