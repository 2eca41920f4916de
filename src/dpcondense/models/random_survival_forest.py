"""Random survival forest (scikit-survival ``RandomSurvivalForest``), single-threaded."""

from __future__ import annotations

from typing import Any

import numpy as np
from sksurv.ensemble import RandomSurvivalForest as _SksurvRSF

from dpcondense.models.base import SurvivalModel, register_model, seed_from, step_function
from dpcondense.params import ParamSpec


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

    def _fit(self, X, time, event, sample_weight) -> None:
        if len(np.unique(time)) < 2:
            # scikit-survival's forest breaks on a single distinct time; no tree could split anyway
            self.estimator_ = None
            return
        self.estimator_ = _SksurvRSF(n_jobs=1, random_state=seed_from(self.random_state), **self.params)
        self.estimator_.fit(X, survival_outcome(time, event), sample_weight=sample_weight)

    def _predict_survival(self, X, grid):
        if self.estimator_ is None:
            return np.tile(step_function(self.km_times_, self.km_surv_, grid), (len(X), 1))
        surv = self.estimator_.predict_survival_function(X, return_array=True)
        idx = np.searchsorted(self.estimator_.unique_times_, grid, side="right")
        return np.concatenate([np.ones((len(X), 1)), surv], axis=1)[:, idx]
