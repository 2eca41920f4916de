"""CART decision tree (scikit-learn ``DecisionTreeClassifier``).

The tree is grown by :mod:`dpcondense.models._tree_ensemble` straight from scikit-learn's tree
builder, bit-identical to ``DecisionTreeClassifier`` and without its per-fit overhead (nearly all
of a fit on DP-ZO's few dozen rows); settings it does not cover fit the estimator.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from sklearn.tree import DecisionTreeClassifier
from sklearn.tree._criterion import Entropy, Gini

from dpcondense.models._sklearn import proba_of_class_one
from dpcondense.models._tree_ensemble import (
    TreeForest,
    float32_rows,
    grow_tree,
    growth_rules,
    leaf_values,
    valid_tree_weights,
)
from dpcondense.models.base import ClassificationModel, register_model, seed_from
from dpcondense.params import ParamSpec

#: ``DecisionTreeClassifier``'s defaults of the hyperparameters the fast path reads
ESTIMATOR_DEFAULTS: dict[str, Any] = {
    "criterion": "gini", "max_depth": None, "min_samples_split": 2, "min_samples_leaf": 1, "max_features": None,
}
#: the split criterion each ``criterion`` names, as ``DecisionTreeClassifier`` maps them
CRITERIA = {"gini": Gini, "entropy": Entropy, "log_loss": Entropy}


@register_model("decision_tree")
class DecisionTree(ClassificationModel):
    """CART classifier; leaf class frequencies are the predicted probabilities.

    Parameters
    ----------
    max_depth : int or None
        Maximum tree depth (shallow trees are the clinically interpretable ones).
    min_samples_leaf : int
        Minimum number of training rows in a leaf.
    criterion : {"gini", "entropy", "log_loss"}
        Split quality measure.
    random_state : int, Generator or None
        Seeds the tie-breaking between equally good splits.
    """

    label = "decision tree"
    stochastic = False

    piecewise_constant = True
    param_specs = {
        "max_depth": ParamSpec(int, low=1, allow_none=True, doc="maximum tree depth (null: grow until leaves are pure)"),
        "min_samples_leaf": ParamSpec(int, low=1, doc="minimum training rows in a leaf"),
        "criterion": ParamSpec(str, choices=("gini", "entropy", "log_loss"), doc="split quality measure"),
    }

    def __init__(
        self,
        *,
        max_depth: int | None = 4,
        min_samples_leaf: int = 1,
        criterion: Literal["gini", "entropy", "log_loss"] = "gini",
        random_state: int | np.random.Generator | None = None,
        **params: Any,
    ) -> None:
        super().__init__(
            random_state=random_state,
            max_depth=max_depth,
            min_samples_leaf=min_samples_leaf,
            criterion=criterion,
            **params,
        )

    @classmethod
    def _fit_many(cls, models: list[DecisionTree], data: list[tuple]) -> None:
        """Fit one by one, sharing one scratch ``RandomState`` (always re-seeded before use)."""
        scratch = np.random.RandomState(0)
        for m, (X, y, w) in zip(models, data, strict=True):
            m._fit(X, y, w, scratch)

    def _fit(self, X, y, sample_weight, scratch: np.random.RandomState | None = None) -> None:
        seed = seed_from(self.random_state)
        criterion = self.params.get("criterion", ESTIMATOR_DEFAULTS["criterion"])
        covered = isinstance(criterion, str) and criterion in CRITERIA and valid_tree_weights(sample_weight, len(X))
        rules = growth_rules(self.params, X.shape[1], ESTIMATOR_DEFAULTS) if covered else None
        X32 = float32_rows(X) if rules is not None else None
        if X32 is None:
            self.estimator_ = DecisionTreeClassifier(random_state=seed, **self.params)
            self.estimator_.fit(X, y, sample_weight=sample_weight)
            return
        classes, encoded = np.unique(y, return_inverse=True)
        outcome = np.ascontiguousarray(encoded.reshape(-1, 1), dtype=np.float64)
        n_classes = np.array([len(classes)], dtype=np.intp)
        tree = grow_tree(
            X32, outcome, sample_weight, seed=seed, rules=rules,
            criterion=CRITERIA[criterion](1, n_classes), n_classes=n_classes, scratch=scratch,
        )
        self.estimator_ = TreeForest([tree], classes)

    def _predict_proba(self, X):
        fitted = self.estimator_
        if not isinstance(fitted, TreeForest):
            return proba_of_class_one(fitted, X)
        hit = np.flatnonzero(fitted.labels == 1)
        if not len(hit):
            return np.zeros(len(X))
        return leaf_values(fitted.trees[0], X, int(hit[0]))
