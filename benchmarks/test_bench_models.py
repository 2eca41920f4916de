"""Per-fit cost of every registered model family, the unit of work of DP-ZO.

DP-ZO refits the condensing family 2K times per step on a few synthetic rows and scores each fit
on a batch of real rows, so the figures that matter are a fit on 20 rows and predict + loss on
~500 rows. Synthetic inputs (d = 20 features in [-1, 1]); each family's default hyperparameters
(``conf/model/<name>.yaml``). A family registered in ``dpcondense.models.MODELS`` is benchmarked
with no edit here.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from dpcondense.models import MODELS, make_model
from dpcondense.models.defaults import family_params

N_FEATURES = 20
N_FIT = 20
N_EVAL = 500
#: the survival loss is scored on this public time grid (the synthetic times are ~Exp(1))
GRID = np.linspace(0.05, 3.0, 50)


def synthetic(task: str, n: int, *, seed: int) -> tuple[np.ndarray, tuple[np.ndarray, ...]]:
    """``n`` rows with a linear signal: ``(X, (y,))`` or ``(X, (time, event))``."""
    rng = np.random.default_rng(seed)
    X = rng.uniform(-1, 1, (n, N_FEATURES))
    signal = X[:, 0] + 0.5 * X[:, 1] - 0.5 * X[:, 2]
    if task == "classification":
        y = (signal + 0.5 * rng.normal(size=n) > 0).astype(int)
        y[:2] = [0, 1]  # both classes even at tiny n
        return X, (y,)
    t = rng.exponential(np.exp(-signal))
    c = rng.exponential(2.0, n)
    e = (t <= c).astype(int)
    e[0] = 1  # at least one event
    return X, (np.minimum(t, c) + 1e-3, e)


def fitted(family: str) -> Any:
    """``family`` fitted on the fixed 20-row input."""
    X, outcome = synthetic(MODELS.get(family).task, N_FIT, seed=1)
    return make_model(family, random_state=0, **family_params(family)).fit(X, *outcome)


@pytest.mark.parametrize("family", MODELS.names())
def test_fit(benchmark, measure, family: str) -> None:
    benchmark.group = f"models: fit on {N_FIT} rows"
    X, outcome = synthetic(MODELS.get(family).task, N_FIT, seed=1)
    params = family_params(family)
    model = measure(lambda: make_model(family, random_state=0, **params).fit(X, *outcome))
    assert model is not None


@pytest.mark.parametrize("family", MODELS.names())
def test_predict_loss(benchmark, measure, family: str) -> None:
    benchmark.group = f"models: predict + per-example loss on {N_EVAL} rows"
    task = MODELS.get(family).task
    model = fitted(family)
    X_eval, outcome_eval = synthetic(task, N_EVAL, seed=99)
    extra = (GRID,) if task == "survival" else ()
    losses = measure(model.loss, X_eval, *outcome_eval, *extra)
    assert np.shape(losses) == (N_EVAL,) and np.all(np.isfinite(losses))
