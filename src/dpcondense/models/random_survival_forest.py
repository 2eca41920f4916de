"""Random survival forest (scikit-survival ``RandomSurvivalForest``), single-threaded.

The trees are grown by :mod:`dpcondense.models._tree_ensemble` straight from scikit-learn's tree
builder with scikit-survival's log-rank criterion, bit-identical to ``RandomSurvivalForest`` and
without its per-tree overhead; settings it does not cover fit the estimator.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sksurv.ensemble import RandomSurvivalForest as _SksurvRSF
from sksurv.tree._criterion import LogrankCriterion, get_unique_times

from dpcondense.models._tree_ensemble import (
    TreeForest,
    float32_rows,
    forest_mean,
    grow_forest,
    growth_rules,
    valid_bootstrap_weights,
)
from dpcondense.models.base import SurvivalModel, register_model, seed_from, step_function
from dpcondense.params import ParamSpec

#: scikit-survival's defaults of the hyperparameters the fast path reads
ESTIMATOR_DEFAULTS: dict[str, Any] = {
    "n_estimators": 100, "max_depth": None, "min_samples_split": 6, "min_samples_leaf": 3, "max_features": "sqrt",
}


def survival_outcome(time: np.ndarray, event: np.ndarray) -> np.ndarray:
    """scikit-survival's structured outcome array (fields ``event``: bool, ``time``: float)."""
    y = np.empty(len(time), dtype=[("event", bool), ("time", float)])
    y["event"] = np.asarray(event).astype(bool)
    y["time"] = time
    return y


@register_model("random_survival_forest")
class RandomSurvivalForest(SurvivalModel):
    """Log-rank-split survival trees; the curve is the forest's averaged leaf estimate.

    scikit-survival predicts at the training event times; the curve on the public grid takes
    the value at the last such time ≤ each grid point (1 before the first).

    Parameters
    ----------
    n_estimators : int
        Number of trees (small: DP-ZO refits the forest thousands of times).
    max_depth : int or None
        Maximum depth of each tree.
    min_samples_split : int
        Minimum rows in a node for it to be split.
    min_samples_leaf : int
        Minimum rows in a leaf.
    max_features : {"sqrt", "log2"}, int, float or None
        Features considered at each split.
    random_state : int, Generator or None
        Seeds the bootstrap samples and feature subsets.
    """

    label = "random survival forest"
    param_specs = {
        "n_estimators": ParamSpec(int, low=1, high=10_000, doc="number of trees (each one is stored)"),
        "max_depth": ParamSpec(int, low=1, allow_none=True, doc="maximum depth of each tree (null: unlimited)"),
        "min_samples_split": ParamSpec(int, low=2, doc="minimum rows in a node for it to be split"),
        "min_samples_leaf": ParamSpec(int, low=1, doc="minimum rows in a leaf"),
        "max_features": ParamSpec(
            int, low=1, choices=("sqrt", "log2"), allow_none=True,
            alternative=ParamSpec(float, low=0.0, high=1.0, low_open=True), doc="features considered at each split",
        ),
    }

    def __init__(
        self,
        *,
        n_estimators: int = 30,
        max_depth: int | None = None,
        min_samples_split: int = 6,
        min_samples_leaf: int = 3,
        max_features: str | int | float | None = "sqrt",
        random_state: int | np.random.Generator | None = None,
        **params: Any,
    ) -> None:
        super().__init__(
            random_state=random_state,
            n_estimators=n_estimators,
            max_depth=max_depth,
            min_samples_split=min_samples_split,
            min_samples_leaf=min_samples_leaf,
            max_features=max_features,
            **params,
        )

    @classmethod
    def _fit_many(cls, models: list[RandomSurvivalForest], data: list[tuple]) -> None:
        """Fit one by one, sharing one scratch ``RandomState`` (always re-seeded before use)."""
        scratch = np.random.RandomState(0)
        for m, (X, time, event, w) in zip(models, data, strict=True):
            m._fit(X, time, event, w, scratch)

    def _fit(self, X, time, event, sample_weight, scratch: np.random.RandomState | None = None) -> None:
        if len(np.unique(time)) < 2:
            # scikit-survival's forest breaks on a single distinct time; no tree could split anyway
            self.estimator_ = None
            return
        seed = seed_from(self.random_state)
        rules = growth_rules(self.params, X.shape[1], ESTIMATOR_DEFAULTS)
        valid_times = bool(np.isfinite(time).all() and (time >= 0).all())  # else scikit-survival raises
        covered = rules is not None and valid_times and valid_bootstrap_weights(sample_weight)
        X32 = float32_rows(X) if covered else None
        if X32 is None:  # the estimator (which also raises its own errors)
            self.estimator_ = _SksurvRSF(n_jobs=1, random_state=seed, **self.params)
            self.estimator_.fit(X, survival_outcome(time, event), sample_weight=sample_weight)
            return
        died = np.asarray(event).astype(bool)
        unique_times, is_event_time = get_unique_times(time, died)
        outcome = np.column_stack([time, died.astype(np.float64)])
        n, n_times = len(time), len(unique_times)
        trees = grow_forest(
            X32, outcome, sample_weight, seed=seed, rules=rules,
            make_criterion=lambda: LogrankCriterion(n_times, n, unique_times, is_event_time),
            n_classes=np.full(n_times, 2, dtype=np.intp), scratch=scratch,
        )
        self.estimator_ = TreeForest(trees, unique_times)

    def _predict_survival(self, X, grid):
        forest = self.estimator_
        if forest is None:
            return np.tile(step_function(self.km_times_, self.km_surv_, grid), (len(X), 1))
        if isinstance(forest, TreeForest):
            surv, times = forest_mean(forest.trees, X, 1), forest.labels
        else:
            surv, times = forest.predict_survival_function(X, return_array=True), forest.unique_times_
        idx = np.searchsorted(times, grid, side="right")
        return np.concatenate([np.ones((len(X), 1)), surv], axis=1)[:, idx]
