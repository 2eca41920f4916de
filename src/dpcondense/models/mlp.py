"""Small multilayer perceptron, scikit-learn ``MLPClassifier``'s model: the differentiable reference.

With the default L-BFGS solver the networks are trained by :mod:`~dpcondense.models._stacked_mlp`
(the same initialisation, objective and stopping rules as scikit-learn, with an Armijo line search;
``tests/unit/test_batched_fits.py`` compares the two), several at once for DP-ZO's candidate
fits, a network trained alone getting the same weights. ``solver="adam"`` fits scikit-learn's
``MLPClassifier`` one model at a time.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from scipy.special import expit
from sklearn.neural_network import MLPClassifier

from dpcondense.models import _stacked_mlp
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
    #: 2: L-BFGS fits by the stacked trainer (not scikit-learn's), predictions from its weights
    version = 2
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
        type(self)._fit_many([self], [(X, y, sample_weight)])

    @classmethod
    def _fit_many(cls, models: list["MLP"], data: list[tuple]) -> None:
        """Train the L-BFGS networks of equal-shaped data and equal hyperparameters together."""
        groups: dict[tuple, list[int]] = {}
        for i, (m, (X, _, _)) in enumerate(zip(models, data, strict=True)):
            if m.params["solver"] != "lbfgs":
                X, y, w = data[i]
                m.estimator_ = MLPClassifier(random_state=seed_from(m.random_state), **m.params)
                m.estimator_.fit(X, y, sample_weight=w)
                continue
            groups.setdefault((X.shape, repr(sorted(m.params.items()))), []).append(i)
        for members in groups.values():
            p = models[members[0]].params
            networks = _stacked_mlp.train_logistic_networks(
                np.stack([data[i][0] for i in members]),
                np.stack([data[i][1] for i in members]),
                np.stack([np.ones(len(data[i][1])) if data[i][2] is None else data[i][2] for i in members]),
                [seed_from(models[i].random_state) for i in members],
                hidden=tuple(p["hidden_layer_sizes"]),
                alpha=float(p["alpha"]),
                max_iter=int(p["max_iter"]),
            )
            for i, layers in zip(members, networks):
                models[i].layers_ = layers

    def _predict_proba(self, X):
        if self.params["solver"] != "lbfgs":
            return proba_of_class_one(self.estimator_, X)
        return expit(_stacked_mlp.predict(self.layers_, X))
