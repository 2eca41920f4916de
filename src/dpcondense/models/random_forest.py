"""Random forest (scikit-learn ``RandomForestClassifier``), single-threaded.

The trees are grown by :mod:`dpcondense.models._tree_ensemble` straight from scikit-learn's tree
builder, bit-identical to ``RandomForestClassifier`` and without its per-tree overhead (which is
nearly all of a fit on DP-ZO's few dozen rows); settings it does not cover fit the estimator.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.ensemble import RandomForestClassifier
from sklearn.tree._criterion import Gini

from dpcondense.models._sklearn import proba_of_class_one
from dpcondense.models._tree_ensemble import (
    TreeForest,
    float32_rows,
    forest_mean,
    grow_forest,
    growth_rules,
    valid_bootstrap_weights,
)
from dpcondense.models.base import ClassificationModel, register_model, seed_from
from dpcondense.params import ParamSpec

#: ``RandomForestClassifier``'s defaults of the hyperparameters the fast path reads
ESTIMATOR_DEFAULTS: dict[str, Any] = {"n_estimators": 100, "max_depth": None, "min_samples_leaf": 1, "max_features": "sqrt"}


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

    @classmethod
    def _fit_many(cls, models: list[RandomForest], data: list[tuple]) -> None:
        """Fit one by one, sharing one scratch ``RandomState`` (always re-seeded before use)."""
        scratch = np.random.RandomState(0)
        for m, (X, y, w) in zip(models, data, strict=True):
            m._fit(X, y, w, scratch)

    def _fit(self, X, y, sample_weight, scratch: np.random.RandomState | None = None) -> None:
        seed = seed_from(self.random_state)
        rules = growth_rules(self.params, X.shape[1], ESTIMATOR_DEFAULTS)
        X32 = float32_rows(X) if rules is not None and valid_bootstrap_weights(sample_weight) else None
        if X32 is None:
            self.estimator_ = RandomForestClassifier(n_jobs=1, random_state=seed, **self.params)
            self.estimator_.fit(X, y, sample_weight=sample_weight)
            return
        classes, encoded = np.unique(y, return_inverse=True)
        outcome = np.ascontiguousarray(encoded.reshape(-1, 1), dtype=np.float64)
        n_classes = np.array([len(classes)], dtype=np.intp)
        trees = grow_forest(
            X32, outcome, sample_weight, seed=seed, rules=rules,
            make_criterion=lambda: Gini(1, n_classes), n_classes=n_classes, scratch=scratch,
        )
        self.estimator_ = TreeForest(trees, classes)

    def _predict_proba(self, X):
        forest = self.estimator_
        if not isinstance(forest, TreeForest):
            return proba_of_class_one(forest, X)
        hit = np.flatnonzero(forest.labels == 1)
        if not len(hit):
            return np.zeros(len(X))
        return forest_mean(forest.trees, X, int(hit[0]))
