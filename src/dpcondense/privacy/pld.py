"""Privacy loss distributions as ``dp_accounting``'s PLD accountant builds them, and their cost.

- :class:`SharedStepsPLDAccountant`: the PLD accountant, sharing the PLD of T subsampled
  Gaussian steps between accountants (a run's calibration and its ledger need the same one).
- :func:`subsampled_pld_span`: the privacy-loss range one subsampled step discretises (divided
  by the grid width: the number of points, which sets what an evaluation costs).
"""

from __future__ import annotations

import functools
from typing import Any

import dp_accounting
from dp_accounting.pld import pld_privacy_accountant, privacy_loss_distribution
from dp_accounting.pld.privacy_loss_mechanism import AdjacencyType, GaussianPrivacyLoss

#: Adjacency of every accountant in the package: add or remove one patient.
NEIGHBOURING = dp_accounting.NeighboringRelation.ADD_OR_REMOVE_ONE


@functools.lru_cache(maxsize=16)
def _subsampled_gaussian_pld(
    noise_multiplier: float, sampling_rate: float, steps: int, grid: float
) -> privacy_loss_distribution.PrivacyLossDistribution:
    """The PLD of T Poisson-subsampled Gaussian steps, built as ``PLDAccountant`` builds it."""
    return privacy_loss_distribution.from_gaussian_mechanism(
        standard_deviation=noise_multiplier,
        value_discretization_interval=grid,
        sampling_prob=sampling_rate,
        neighboring_relation=NEIGHBOURING,
    ).self_compose(steps)


class SharedStepsPLDAccountant(pld_privacy_accountant.PLDAccountant):
    """``dp_accounting``'s PLD accountant, sharing the subsampled steps' PLD between accountants.

    Building the PLD of T subsampled Gaussian steps dominates an evaluation at a small sampling
    rate (~1 s at q = 2.6e-4); the run's calibration and its ledger entry for the steps
    (:func:`~dpcondense.privacy.accounting.compute_epsilon` at the calibrated sigma, on the same
    grid) need the same one. It is built by the same call as the parent's and memoised (the
    last few), so every epsilon is the parent's to the bit (tests/unit/test_calibration_speed.py).
    """

    def _maybe_compose(self, event: Any, count: int, do_compose: bool) -> Any:
        if (
            do_compose
            and isinstance(event, dp_accounting.PoissonSampledDpEvent)
            and isinstance(event.event, dp_accounting.GaussianDpEvent)
            and event.sampling_probability > 0
            and event.event.noise_multiplier > 0
            and self.neighboring_relation == NEIGHBOURING
        ):
            steps = _subsampled_gaussian_pld(
                event.event.noise_multiplier,
                event.sampling_probability,
                count,
                self._value_discretization_interval,
            )
            self._pld = self._pld.compose(steps)
            return None
        return super()._maybe_compose(event, count, do_compose)


def clear_shared_pld_cache() -> None:
    """Forget the memoised steps' PLDs (for timing)."""
    _subsampled_gaussian_pld.cache_clear()


@functools.lru_cache(maxsize=4096)
def subsampled_pld_span(noise_multiplier: float, sampling_rate: float) -> float:
    """Width of the privacy-loss range the PLD accountant discretises for one subsampled step.

    The sum over the add and the remove adjacency of ``dp_accounting``'s connect-the-dots range
    for a Poisson-subsampled Gaussian (noise multiplier ``sigma``, rate ``q``): divided by the
    grid width, the number of points whose construction dominates an evaluation's cost.
    """
    span = 0.0
    for adjacency in (AdjacencyType.ADD, AdjacencyType.REMOVE):
        bounds = GaussianPrivacyLoss(
            noise_multiplier, sampling_prob=sampling_rate, adjacency_type=adjacency
        ).connect_dots_bounds()
        span += bounds.epsilon_upper - bounds.epsilon_lower
    return span
