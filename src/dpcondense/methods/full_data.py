"""``full_data``: the whole real training split (the upper reference; no privacy)."""

from __future__ import annotations

from dpcondense.data import Dataset
from dpcondense.methods.base import CondensationMethod, register_method
from dpcondense.privacy import PrivacyLedger


@register_method("full_data")
class FullData(CondensationMethod):
    """Release the real training split unchanged (``size`` is ignored). Never private."""

    label = "full data"
    # 2: the ledger records where the noise came from
    version = 2
    stochastic = False
    sized = False
    param_specs = {}  # no hyperparameters

    def _fit(self, dataset: Dataset) -> "FullData":
        self.synthetic_ = dataset.to_frame()
        from dpcondense.methods.base import SyntheticSet

        self.synthetic_encoded_ = SyntheticSet(X=dataset.encoded(), y=dataset.y, time=dataset.time, event=dataset.event)
        self.ledger_ = _non_private_ledger("full_data", self.delta, "the real training split itself")
        return self


def _non_private_ledger(purpose: str, delta: float, what: str) -> PrivacyLedger:
    ledger = PrivacyLedger(float("inf"), delta)
    ledger.spend(purpose, mechanism=f"none: releases {what}", epsilon=float("inf"), delta=0.0)
    return ledger
