"""Random forest (scikit-learn ``RandomForestClassifier``), single-threaded."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.ensemble import RandomForestClassifier

from dpcondense.models._sklearn import proba_of_class_one
from dpcondense.models.base import ClassificationModel, register_model, seed_from
from dpcondense.params import ParamSpec


@register_model("random_forest")
class RandomForest(ClassificationModel):
    """Bagged CART trees with feature subsampling; probabilities are averaged over trees.

    Parameters
    ----------
    n_estimators : int
        Number of trees (modest: DP-ZO refits the forest thousands of times).
    max_depth : int or None
        Maximum depth of each tree (None: grow until leaves are pure or too small).
    min_samples_leaf : int
        Minimum number of training rows in a leaf.
    max_features : {"sqrt", "log2"}, int, float or None
        Features considered at each split.
    random_state : int, Generator or None
        Seeds the bootstrap samples and feature subsets.
    """

    label = "random forest"

    piecewise_constant = True
    param_specs = {
        "n_estimators": ParamSpec(int, low=1, high=10_000, doc="number of trees (each one is stored)"),
        "max_depth": ParamSpec(int, low=1, allow_none=True, doc="maximum depth of each tree (null: unlimited)"),
        "min_samples_leaf": ParamSpec(int, low=1, doc="minimum training rows in a leaf"),
        "max_features": ParamSpec(
            int, low=1, choices=("sqrt", "log2"), allow_none=True,
            alternative=ParamSpec(float, low=0.0, high=1.0, low_open=True), doc="features considered at each split",
        ),
    }

    def __init__(
        self,
        *,
        n_estimators: int = 50,
        max_depth: int | None = None,
        min_samples_leaf: int = 1,
        max_features: str | int | float | None = "sqrt",
        random_state: int | np.random.Generator | None = None,
        **params: Any,
    ) -> None:
        super().__init__(
            random_state=random_state,
            n_estimators=n_estimators,
            max_depth=max_depth,
            min_samples_leaf=min_samples_leaf,
            max_features=max_features,
            **params,
        )

    def _fit(self, X, y, sample_weight) -> None:
        self.estimator_ = RandomForestClassifier(n_jobs=1, random_state=seed_from(self.random_state), **self.params)
        self.estimator_.fit(X, y, sample_weight=sample_weight)

    def _predict_proba(self, X):
        return proba_of_class_one(self.estimator_, X)
