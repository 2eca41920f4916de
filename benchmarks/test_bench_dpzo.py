"""DP-ZO step cost per task, against the floor of the work a step cannot avoid.

A step refits the condensing family 2K times (the + and − perturbation of each of K directions)
and scores every fit on a Poisson batch of real rows. The floor is exactly that work timed on its
own: 2K fits on rows shaped like the release (with its ``sample_weight`` column when labels are
soft) plus 2K per-example losses on a batch of ``round(q·n)`` real rows. The benchmark times a
short fit (``steps=5``, ε = 1, the task's default family and size); ``extra_info`` holds the
median step time, the floor and their ratio (``overhead_ratio``: 1 = no overhead beyond the fits).
"""

from __future__ import annotations

import statistics
import time
from typing import Any

import numpy as np
import pytest

from dpcondense.conventions import TASKS, default_model, default_size
from dpcondense.methods.dpzo import DPZOCondenser
from dpcondense.models import make_model
from dpcondense.models.defaults import family_params

#: the dataset each task is measured on (the largest cohort of the task: the most per-step work)
DATASET = {"classification": "support_mortality", "survival": "metabric"}
STEPS = 5
FLOOR_REPEATS = 3


def step_floor(train: Any, est: DPZOCondenser, *, repeats: int = FLOOR_REPEATS) -> tuple[float, int, int]:
    """Median seconds of 2K fits on release-shaped rows + 2K losses on a q·n batch of real rows.

    Returns the seconds, the rows of each fit and the batch size.
    """
    rng = np.random.default_rng(0)
    release = est.synthetic_encoded_
    X_real = train.encoded()
    batch = rng.choice(train.n_rows, max(1, int(round(est.sampling_rate_ * train.n_rows))), replace=False)
    if train.task == "classification":
        fit_targets: tuple[np.ndarray, ...] = (release.y,)
        loss_targets: tuple[np.ndarray, ...] = (train.y[batch],)
    else:
        fit_targets = (release.time, release.event)
        loss_targets = (train.time[batch], train.event[batch], train.schema.outcome.time_grid())
    fit_kwargs = {} if release.weight is None else {"sample_weight": release.weight}
    params = est.model_params or {}
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for k in range(2 * est.directions):
            # a perturbed copy of the release, as a step fits (the rows' values barely change the cost)
            X = release.X + rng.normal(0.0, est.mu, release.X.shape)
            model = make_model(est.model, random_state=k, **params).fit(X, *fit_targets, **fit_kwargs)
            model.loss(X_real[batch], *loss_targets)
        times.append(time.perf_counter() - t0)
    return statistics.median(times), len(release.X), len(batch)


@pytest.mark.parametrize("task", TASKS)
def test_dpzo_step(benchmark, measure, split, task: str) -> None:
    benchmark.group = f"dpzo: fit with {STEPS} steps, ε = 1"
    train, _ = split(DATASET[task])
    model = default_model(task)

    def fit() -> DPZOCondenser:
        return DPZOCondenser(steps=STEPS).fit(train, model=model, size=default_size(task), epsilon=1.0, random_state=0, model_params=family_params(model))

    est = measure(fit, rounds=3)
    step = statistics.median(est.step_seconds_)
    floor, rows, batch = step_floor(train, est)
    benchmark.extra_info.update({
        "dataset": DATASET[task],
        "model": model,
        "directions": est.directions,
        "rows_per_fit": rows,
        "batch_rows": batch,
        "step_ms": round(1e3 * step, 3),
        "floor_ms": round(1e3 * floor, 3),
        "overhead_ratio": round(step / floor, 3),
    })
    assert len(est.step_seconds_) == STEPS
