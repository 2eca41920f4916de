"""A method that fails inside ``fit`` when asked to: a run-time failure for the sweep tests.

Every input check passes (the failure is not foreseeable from the config), so a sweep launches
both jobs and must record the failed one without stopping.
"""

from __future__ import annotations

from dpcondense.methods import SyntheticSet, balanced_labels, register_method
from dpcondense.methods.base import CondensationMethod
from dpcondense.privacy import PrivacyLedger


@register_method("flaky")
class Flaky(CondensationMethod):
    """Releases the box's centre, or raises ``RuntimeError`` in ``fit`` when ``fail`` is true."""

    tasks = ("classification",)
    stochastic = False

    def __init__(self, *, fail: bool = False) -> None:
        super().__init__()
        self.fail = fail

    def _fit(self, dataset):
        if self.fail:
            raise RuntimeError("flaky: failing on purpose inside fit")
        encoder = dataset.encoder()
        y = balanced_labels(int(self.size))
        centre = (encoder.lower_ + encoder.upper_) / 2
        self._set_release(SyntheticSet(X=centre[None, :].repeat(len(y), axis=0), y=y), dataset.schema)
        self.ledger_ = PrivacyLedger(float("inf"), self.delta)
        self.ledger_.spend("release", mechanism="none (not private)", epsilon=float("inf"), delta=0.0)
        return self
