"""CART decision tree (scikit-learn ``DecisionTreeClassifier``)."""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from sklearn.tree import DecisionTreeClassifier

from dpcondense.models._sklearn import proba_of_class_one
from dpcondense.models.base import ClassificationModel, register_model, seed_from
from dpcondense.params import ParamSpec


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

    def _fit(self, X, y, sample_weight) -> None:
        self.estimator_ = DecisionTreeClassifier(random_state=seed_from(self.random_state), **self.params)
        self.estimator_.fit(X, y, sample_weight=sample_weight)

    def _predict_proba(self, X):
        return proba_of_class_one(self.estimator_, X)
