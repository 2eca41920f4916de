"""DeepSurv: a small MLP trained on the Cox partial likelihood (pycox ``CoxPH`` + torchtuples).

The survival curve uses the Breslow baseline on the network's training log-risks — the same
estimate as pycox's ``compute_baseline_hazards``, computed without pandas.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from dpcondense.models._breslow import breslow_baseline
from dpcondense.models._pycox_compat import import_pycox, torch_isolated
from dpcondense.models.base import SurvivalModel, register_model, seed_from
from dpcondense.params import ParamSpec


@register_model("deepsurv")
class DeepSurv(SurvivalModel):
    """Cox model whose log-risk is a ReLU MLP, trained with Adam (Breslow-style ties).

    Deterministic for a fixed integer ``random_state``: weights and batch order come from a
    seeded torch RNG forked from (and not leaking into) the global one, on one thread.
    ``sample_weight`` is used by the Breslow baseline only (pycox's loss is unweighted).

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
        torch, tt, pycox_models = import_pycox()
        p = self.params
        with torch_isolated(seed_from(self.random_state)):
            net = tt.practical.MLPVanilla(
                X.shape[1],
                list(p["hidden_layer_sizes"]),
                1,
                batch_norm=False,  # batch norm breaks on the 1–2-row batches of tiny synthetic sets
                dropout=p["dropout"] or None,
            )
            optimizer = tt.optim.Adam(lr=p["learning_rate"], weight_decay=p["weight_decay"])
            model = pycox_models.CoxPH(net, optimizer, loss=_safe_cox_loss(pycox_models.loss.CoxPHLoss()))
            x = X.astype(np.float32)
            target = (time.astype(np.float32), event.astype(np.float32))
            model.fit(x, target, batch_size=min(int(p["batch_size"]), len(X)), epochs=int(p["epochs"]), verbose=False)
        self.net_ = net.eval()
        self.baseline_ = breslow_baseline(time, event, self.predict_log_risk(X), sample_weight)

    def predict_log_risk(self, X: np.ndarray) -> np.ndarray:
        """The network output η(x) (log hazard ratio up to a constant)."""
        torch, _, _ = import_pycox()
        with torch_isolated(None), torch.no_grad():
            out = self.net_(torch.from_numpy(np.asarray(X, dtype=np.float32)))
        return out.numpy().astype(float).ravel()

    def _predict_survival(self, X, grid):
        return self.baseline_.survival(self.predict_log_risk(X), grid)


def _safe_cox_loss(loss):
    """pycox's Cox loss divides by the batch's event count: a batch without events gives 0, not NaN."""

    def safe(log_h, durations, events):
        if float(events.sum()) == 0.0:
            return log_h.sum() * 0.0
        return loss(log_h, durations, events)

    return safe
