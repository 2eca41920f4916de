"""L2-penalised logistic regression (scikit-learn ``LogisticRegression``, lbfgs)."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.linear_model import LogisticRegression as _SkLogisticRegression

from dpcondense.models._sklearn import proba_of_class_one
from dpcondense.models.base import ClassificationModel, register_model
from dpcondense.params import ParamSpec


@register_model("logistic_regression")
class LogisticRegression(ClassificationModel):
    """Logistic regression with an L2 penalty ``‖w‖²/2`` against ``C`` × the summed log-loss.

    Parameters
    ----------
    C : float
        Inverse regularisation strength (smaller = stronger ridge penalty).
    max_iter : int
        Maximum lbfgs iterations (non-convergence is silenced, the last iterate is used).
    random_state : int, Generator or None
        Unused (lbfgs is deterministic); accepted for the common interface.
    """

    label = "logistic regression"
    stochastic = False
    param_specs = {
        "C": ParamSpec(float, low=0.0, low_open=True, doc="inverse L2 regularisation strength"),
        "max_iter": ParamSpec(int, low=1, doc="maximum lbfgs iterations"),
    }

    def __init__(
        self,
        *,
        C: float = 1.0,
        max_iter: int = 200,
        random_state: int | np.random.Generator | None = None,
        **params: Any,
    ) -> None:
        super().__init__(random_state=random_state, C=C, max_iter=max_iter, **params)

    def _fit(self, X, y, sample_weight) -> None:
        # l1_ratio=0 is the pure L2 penalty (scikit-learn >= 1.8 spelling of penalty="l2")
        self.estimator_ = _SkLogisticRegression(l1_ratio=0.0, solver="lbfgs", **self.params)
        self.estimator_.fit(X, y, sample_weight=sample_weight)

    def _predict_proba(self, X):
        return proba_of_class_one(self.estimator_, X)
