"""Small multilayer perceptron (scikit-learn ``MLPClassifier``): the differentiable reference."""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from sklearn.neural_network import MLPClassifier

from dpcondense.models._sklearn import proba_of_class_one
from dpcondense.models.base import ClassificationModel, register_model, seed_from
from dpcondense.params import ParamSpec


@register_model("mlp")
class MLP(ClassificationModel):
    """One-hidden-layer ReLU network trained with full-batch L-BFGS on the log-loss.

    Parameters
    ----------
    hidden_layer_sizes : tuple of int
        Width of each hidden layer.
    alpha : float
        L2 penalty on the weights.
    max_iter : int
        Maximum L-BFGS iterations.
    solver : {"lbfgs", "adam"}
        Optimiser; L-BFGS suits the tiny synthetic sets and is deterministic given the init.
    random_state : int, Generator or None
        Seeds the weight initialisation.
    """

    label = "MLP"
    param_specs = {
        "hidden_layer_sizes": ParamSpec(
            list, low=1, item=ParamSpec(int, low=1, high=4096), doc="width of each hidden layer (weights grow as width squared)",
        ),
        "alpha": ParamSpec(float, low=0.0, doc="L2 penalty on the weights"),
        "max_iter": ParamSpec(int, low=1, doc="maximum optimiser iterations"),
        "solver": ParamSpec(str, choices=("lbfgs", "adam"), doc="the optimiser"),
    }

    def __init__(
        self,
        *,
        hidden_layer_sizes: tuple[int, ...] = (16,),
        alpha: float = 1e-3,
        max_iter: int = 200,
        solver: Literal["lbfgs", "adam"] = "lbfgs",
        random_state: int | np.random.Generator | None = None,
        **params: Any,
    ) -> None:
        super().__init__(
            random_state=random_state,
            hidden_layer_sizes=tuple(hidden_layer_sizes),
            alpha=alpha,
            max_iter=max_iter,
            solver=solver,
            **params,
        )

    def _fit(self, X, y, sample_weight) -> None:
        self.estimator_ = MLPClassifier(random_state=seed_from(self.random_state), **self.params)
        self.estimator_.fit(X, y, sample_weight=sample_weight)

    def _predict_proba(self, X):
        return proba_of_class_one(self.estimator_, X)
