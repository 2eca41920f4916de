"""``random_subset``: m real rows, stratified by class (or event) — the reference condensation must beat."""

from __future__ import annotations

import numpy as np

from dpcondense.data import Dataset
from dpcondense.methods.base import CondensationMethod, register_method
from dpcondense.methods.full_data import _non_private_ledger


@register_method("random_subset")
class RandomSubset(CondensationMethod):
    """``size`` real rows per class (classification) or ``size`` rows stratified by event (survival).

    Not private: the ledger says ε = ∞.
    """

    label = "random subset"
    # 2: the ledger records where the noise came from
    version = 2
    param_specs = {}  # no hyperparameters

    def _fit(self, dataset: Dataset) -> "RandomSubset":
        rng = np.random.default_rng(self.random_state)
        m = self._n_synthetic(dataset.task)
        if dataset.task == "classification":
            idx = np.concatenate(
                [
                    rng.choice(np.flatnonzero(dataset.y == c), int(self.size), replace=int(self.size) > (dataset.y == c).sum())
                    for c in (0, 1)
                ]
            )
        else:
            ev = dataset.event.astype(bool)
            n_ev = int(round(m * ev.mean())) if 0 < ev.sum() < len(ev) else (m if ev.all() else 0)
            n_ev = min(max(n_ev, 1 if ev.any() else 0), m)
            idx = np.concatenate(
                [
                    rng.choice(np.flatnonzero(ev), n_ev, replace=n_ev > ev.sum()),
                    rng.choice(np.flatnonzero(~ev), m - n_ev, replace=(m - n_ev) > (~ev).sum()),
                ]
            )
        sub = dataset.subset(np.sort(idx))
        from dpcondense.methods.base import SyntheticSet

        self.synthetic_ = sub.to_frame()
        self.synthetic_encoded_ = SyntheticSet(X=sub.encoded(), y=sub.y, time=sub.time, event=sub.event)
        self.ledger_ = _non_private_ledger("random_subset", self.delta, f"{m} real rows")
        return self
