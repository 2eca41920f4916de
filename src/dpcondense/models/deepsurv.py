"""DeepSurv: a small MLP trained on the Cox partial likelihood (pycox ``CoxPH``'s network and loss).

The networks are trained by :mod:`~dpcondense.models._stacked_mlp`, which trains several at once
(DP-ZO's 2K candidate fits of a step) and gives a network trained alone the same weights. It
reproduces pycox ``CoxPH`` on a torchtuples ``MLPVanilla`` (same initialisation for the same seed,
same loss, same Adam; ``tests/unit/test_batched_fits.py`` compares the two), except that tied
times share one risk set (Breslow) where pycox orders them at random. The survival curve uses the
Breslow baseline on the network's training log-risks — the same estimate as pycox's
``compute_baseline_hazards``, computed without pandas.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from dpcondense.models import _stacked_mlp
from dpcondense.models._breslow import breslow_baseline
from dpcondense.models.base import SurvivalModel, register_model, seed_from
from dpcondense.params import ParamSpec


@register_model("deepsurv")
class DeepSurv(SurvivalModel):
    """Cox model whose log-risk is a ReLU MLP, trained with Adam (Breslow-style ties).

    Deterministic for a fixed integer ``random_state``: weights, batch order and dropout come from
    a ``torch.Generator`` of the model's own (the global RNG is neither read nor seeded), on one
    thread. ``sample_weight`` is used by the Breslow baseline only (pycox's loss is unweighted).

    Parameters
    ----------
    hidden_layer_sizes : tuple of int
        Width of each hidden layer.
    dropout : float
        Dropout probability after each hidden layer (0 = none).
    learning_rate : float
        Adam step size.
    weight_decay : float
        L2 penalty added to the gradient (torch ``Adam(weight_decay=...)``).
    epochs : int
        Passes over the training rows.
    batch_size : int
        Rows per Adam step; sets smaller than this train full-batch.
    random_state : int, Generator or None
        Seeds weight initialisation, dropout and batch order.
    """

    label = "DeepSurv"
    #: 2: trained by the stacked trainer (not pycox's fit loop); predictions in float64
    version = 2
    param_specs = {
        "hidden_layer_sizes": ParamSpec(
            list, low=1, item=ParamSpec(int, low=1, high=4096), doc="width of each hidden layer (weights grow as width squared)",
        ),
        "dropout": ParamSpec(float, low=0.0, high=1.0, high_open=True, doc="dropout probability after each hidden layer"),
        "learning_rate": ParamSpec(float, low=0.0, low_open=True, doc="Adam step size"),
        "weight_decay": ParamSpec(float, low=0.0, doc="L2 penalty added to the gradient"),
        "epochs": ParamSpec(int, low=1, doc="passes over the training rows"),
        "batch_size": ParamSpec(int, low=1, doc="rows per Adam step"),
    }

    def __init__(
        self,
        *,
        hidden_layer_sizes: tuple[int, ...] = (16, 16),
        dropout: float = 0.0,
        learning_rate: float = 0.01,
        weight_decay: float = 1e-4,
        epochs: int = 50,
        batch_size: int = 256,
        random_state: int | np.random.Generator | None = None,
        **params: Any,
    ) -> None:
        super().__init__(
            random_state=random_state,
            hidden_layer_sizes=tuple(hidden_layer_sizes),
            dropout=dropout,
            learning_rate=learning_rate,
            weight_decay=weight_decay,
            epochs=epochs,
            batch_size=batch_size,
            **params,
        )

    def _fit(self, X, time, event, sample_weight) -> None:
        type(self)._fit_many([self], [(X, time, event, sample_weight)])

    @classmethod
    def _fit_many(cls, models: list["DeepSurv"], data: list[tuple]) -> None:
        """Train the networks of equal-shaped data sets and equal hyperparameters together."""
        groups: dict[tuple, list[int]] = {}
        for i, (m, (X, _, _, _)) in enumerate(zip(models, data, strict=True)):
            groups.setdefault((X.shape, repr(sorted(m.params.items()))), []).append(i)
        for members in groups.values():
            p = models[members[0]].params
            networks = _stacked_mlp.train_cox_networks(
                np.stack([data[i][0] for i in members]),
                np.stack([data[i][1] for i in members]),
                np.stack([data[i][2] for i in members]),
                [seed_from(models[i].random_state) for i in members],
                hidden=tuple(p["hidden_layer_sizes"]),
                dropout=float(p["dropout"]),
                learning_rate=float(p["learning_rate"]),
                weight_decay=float(p["weight_decay"]),
                epochs=int(p["epochs"]),
                batch_size=int(p["batch_size"]),
            )
            for i, layers in zip(members, networks):
                X, time, event, w = data[i]
                models[i].layers_ = layers
                models[i].baseline_ = breslow_baseline(time, event, models[i].predict_log_risk(X), w)

    def predict_log_risk(self, X: np.ndarray) -> np.ndarray:
        """The network output η(x) (log hazard ratio up to a constant)."""
        return _stacked_mlp.predict(self.layers_, X)

    def _predict_survival(self, X, grid):
        return self.baseline_.survival(self.predict_log_risk(X), grid)
