"""Accounting for the Poisson-subsampled Gaussian mechanism composed T times, and zCDP.

Every DP-ZO step is a Poisson-subsampled Gaussian mechanism (sampling rate ``q``, L2
sensitivity ``C``, noise std ``sigma * C``) under add/remove-one adjacency; ``T`` steps compose.
:func:`compute_epsilon` and :func:`calibrate_noise_multiplier` account for that composition
with Google's ``dp_accounting`` (privacy loss distributions by default, Rényi DP on request).
:func:`zcdp_to_epsilon` and :func:`epsilon_to_zcdp` convert rho-zCDP to and from
(epsilon, delta) (Canonne, Kamath & Steinke, NeurIPS 2020, Prop. 12).
"""

from __future__ import annotations

import functools
import logging
import math
from contextlib import contextmanager
from typing import Any, Iterator

import dp_accounting
import numpy as np
from dp_accounting.rdp import rdp_privacy_accountant
from scipy.optimize import minimize_scalar

from dpcondense.privacy.mechanisms import epsilon_gaussian
from dpcondense.privacy.pld import (
    NEIGHBOURING,
    SharedStepsPLDAccountant,
    clear_shared_pld_cache,
)
from dpcondense.privacy.search import calibration_search
from dpcondense.privacy.validation import (
    Accountant,
    PrivacyParameterError,
    _as_real,
    _check_accountant,
    _check_delta,
    _check_noise_multiplier,
    _check_positive,
    _check_sampling_rate,
    _check_steps,
    parse_epsilon,
)

#: Largest width of the PLD accountant's privacy-loss grid. The PLD bound is pessimistic (a
#: valid upper bound) at any width, but per-step rounding adds up over T steps, so the width
#: must be small next to the per-step loss scale; see :func:`pld_discretization_interval`.
PLD_MAX_DISCRETIZATION_INTERVAL = 1e-2
#: Smallest width the adaptive rule picks (finer grids cost time for no visible gain).
PLD_MIN_DISCRETIZATION_INTERVAL = 1e-5

#: RDP orders: a superset of dp-accounting's default grid (every 0.1 in (1, 12), integers up to
#: 64, then 80-1024), the large orders mattering when epsilon is small.
#: Over T in [1, 2000], q in [0.005, 0.3], sigma in [0.5, 20] it is never more than 0.4% looser
#: than the best of several denser grids, never looser than the default grid, and up to 40%
#: tighter than it at small epsilon (e.g. 0.028 vs 0.045 for T=1, q=0.01, sigma=5).
RDP_ORDERS: tuple[float, ...] = (
    tuple(round(1 + i / 10, 1) for i in range(1, 110))
    + tuple(float(a) for a in range(12, 65))
    + (80.0, 96.0, 128.0, 192.0, 256.0, 512.0, 1024.0)
)

_NEIGHBOURING = NEIGHBOURING


class _DropRdpNonConvergence(logging.Filter):
    # dp_accounting warns once per fractional order it cannot evaluate and drops that order;
    # the result stays a valid bound, so the warnings are noise during calibration.
    def filter(self, record: logging.LogRecord) -> bool:
        return "_compute_log_a_frac failed to converge" not in str(record.msg)


@contextmanager
def _quiet_rdp() -> Iterator[None]:
    logger = logging.getLogger("absl")
    flt = _DropRdpNonConvergence()
    logger.addFilter(flt)
    try:
        yield
    finally:
        logger.removeFilter(flt)


def make_dp_event(
    noise_multiplier: float, sampling_rate: float, steps: int
) -> dp_accounting.DpEvent:
    """The ``dp_accounting`` event for T Poisson-subsampled Gaussian steps.

    Parameters
    ----------
    noise_multiplier : float
        Noise std divided by the L2 sensitivity.
    sampling_rate : float
        Poisson sampling rate ``q``; ``q = 1`` gives the plain (full-batch) Gaussian event.
    steps : int
        Number of compositions ``T``.

    Returns
    -------
    dp_accounting.DpEvent
        ``SelfComposedDpEvent(PoissonSampledDpEvent(q, GaussianDpEvent(sigma)), T)``.
    """
    step: dp_accounting.DpEvent = dp_accounting.GaussianDpEvent(noise_multiplier)
    if sampling_rate < 1:
        step = dp_accounting.PoissonSampledDpEvent(sampling_rate, step)
    return dp_accounting.SelfComposedDpEvent(step, steps)


def pld_discretization_interval(noise_multiplier: float, sampling_rate: float) -> float:
    """Default PLD grid width: 1/20 of the per-step privacy-loss scale, within [1e-5, 1e-2].

    One subsampled Gaussian step moves the privacy loss by about ``q * expm1(1 / sigma)``
    (a noise draw one standard deviation from the mean). A grid much coarser than that is
    rounded up at every step and inflates epsilon (a fixed 1e-3 grid gives 0.088 instead of
    0.066 for sigma = 20, q = 0.01, T = 2000), while a fine grid is cheap exactly in that
    regime because the loss distribution is narrow; at small sigma the distribution is wide
    and a coarser grid loses nothing. Measured over T in [1, 2000], q in [0.01, 0.1],
    sigma in [0.45, 50]: epsilon within 0.06% of a 10x finer grid
    (benchmarks/results/history/privacy.md).

    Parameters
    ----------
    noise_multiplier : float
        ``sigma > 0``.
    sampling_rate : float
        ``q`` in ``(0, 1]``.

    Returns
    -------
    float
        The grid width for ``value_discretization_interval``.
    """
    scale = sampling_rate * math.expm1(min(1.0 / noise_multiplier, 700.0))
    return min(PLD_MAX_DISCRETIZATION_INTERVAL, max(PLD_MIN_DISCRETIZATION_INTERVAL, scale / 20))


@functools.lru_cache(maxsize=4096)
def _epsilon(
    noise_multiplier: float,
    sampling_rate: float,
    steps: int,
    delta: float,
    accountant: str,
    value_discretization_interval: float,
) -> float:
    if noise_multiplier == 0:
        return math.inf
    if math.isinf(noise_multiplier):
        return 0.0
    if accountant == "pld" and sampling_rate == 1:
        # T full-batch Gaussian steps are exactly one Gaussian step with noise sigma / sqrt(T),
        # whose privacy loss distribution is known in closed form: no discretisation needed.
        return epsilon_gaussian(noise_multiplier / math.sqrt(steps), delta)
    event = make_dp_event(noise_multiplier, sampling_rate, steps)
    if accountant == "pld":
        acc: dp_accounting.PrivacyAccountant = SharedStepsPLDAccountant(
            _NEIGHBOURING, value_discretization_interval=value_discretization_interval
        )
        acc.compose(event)
        eps = acc.get_epsilon(delta)
    else:
        with _quiet_rdp():
            acc = rdp_privacy_accountant.RdpAccountant(list(RDP_ORDERS), _NEIGHBOURING)
            acc.compose(event)
            eps = acc.get_epsilon(delta)
    return max(float(eps), 0.0)


def clear_accounting_cache() -> None:
    """Forget memoised accountant results (they are cached per argument tuple; for timing)."""
    _epsilon.cache_clear()
    clear_shared_pld_cache()


def _check_grid(value_discretization_interval: float | None) -> float | None:
    if value_discretization_interval is None:
        return None
    return _check_positive(value_discretization_interval, "value_discretization_interval")


def _grid(sigma: float, q: float, accountant: str, fixed: float | None) -> float:
    """PLD grid width for one evaluation (a constant for RDP, where it is unused)."""
    if fixed is not None:
        return fixed
    if accountant == "rdp" or not 0 < sigma < math.inf:
        return PLD_MAX_DISCRETIZATION_INTERVAL
    return pld_discretization_interval(sigma, q)


def compute_epsilon(
    noise_multiplier: float,
    sampling_rate: float,
    steps: int,
    delta: float,
    *,
    accountant: Accountant = "pld",
    value_discretization_interval: float | None = None,
) -> float:
    """Epsilon of T composed Poisson-subsampled Gaussian steps (add/remove-one adjacency).

    Parameters
    ----------
    noise_multiplier : float
        ``sigma`` = noise std / L2 sensitivity, ``>= 0``. ``0`` means no noise (epsilon = inf).
    sampling_rate : float
        Poisson sampling rate ``q`` in ``(0, 1]``. ``q = 1`` is the plain Gaussian mechanism:
        RDP accounts ``GaussianDpEvent``; PLD uses the exact closed form (analytic Gaussian
        with noise multiplier ``sigma / sqrt(T)``, see :func:`epsilon_gaussian`).
    steps : int
        Number of steps ``T >= 1``.
    delta : float
        Target delta in ``(0, 1)``.
    accountant : {"pld", "rdp"}, default="pld"
        Privacy loss distributions (tight, pessimistic discretisation) or Rényi DP over
        :data:`RDP_ORDERS` (looser, converted with the improved RDP-to-DP bound).
    value_discretization_interval : float, optional
        PLD grid width; smaller is tighter and slower. Default: the adaptive
        :func:`pld_discretization_interval`. Ignored by RDP.

    Returns
    -------
    float
        An upper bound on epsilon at ``delta`` (``inf`` when ``noise_multiplier == 0``).

    Raises
    ------
    PrivacyParameterError
        If any argument is outside its range.
    """
    sigma = _check_noise_multiplier(noise_multiplier)
    q = _check_sampling_rate(sampling_rate)
    t = _check_steps(steps)
    d = _check_delta(delta)
    acc = _check_accountant(accountant)
    fixed = _check_grid(value_discretization_interval)
    return _epsilon(sigma, q, t, d, acc, _grid(sigma, q, acc, fixed))


def calibrate_noise_multiplier(
    target_epsilon: Any,
    delta: float,
    sampling_rate: float,
    steps: int,
    *,
    accountant: Accountant = "pld",
    tol: float = 1e-4,
    value_discretization_interval: float | None = None,
) -> float:
    """Smallest noise multiplier whose T-step epsilon meets the target.

    Brent's method on ``compute_epsilon(sigma) - target`` finds the crossing, and the result is
    certified: the returned ``sigma`` satisfies ``compute_epsilon(sigma) <= target`` and
    ``compute_epsilon(s) > target`` for an evaluated ``s >= sigma - tol``, so it is minimal to
    ``tol``. Those evaluations use the same accountant and grid as :func:`compute_epsilon`; when
    one is expensive (PLD at a tiny ``q``), a coarser grid steers the search first
    (:func:`~dpcondense.privacy.search.calibration_search`).

    Parameters
    ----------
    target_epsilon : float or str
        Target epsilon ``> 0``; ``inf`` returns ``0.0`` (no noise).
    delta : float
        Target delta in ``(0, 1)``.
    sampling_rate : float
        Poisson sampling rate ``q`` in ``(0, 1]``.
    steps : int
        Number of steps ``T >= 1``.
    accountant : {"pld", "rdp"}, default="pld"
        Accountant used for every evaluation (see :func:`compute_epsilon`).
    tol : float, default=1e-4
        Absolute precision on ``sigma``.
    value_discretization_interval : float, optional
        PLD grid width; default: adaptive, as in :func:`compute_epsilon`.

    Returns
    -------
    float
        The noise multiplier.

    Raises
    ------
    PrivacyParameterError
        If any argument is outside its range.
    RuntimeError
        If no ``sigma <= 2**30`` meets the target.
    """
    target = parse_epsilon(target_epsilon, name="target_epsilon")
    q = _check_sampling_rate(sampling_rate)
    t = _check_steps(steps)
    d = _check_delta(delta)
    acc = _check_accountant(accountant)
    tol = _check_positive(tol, "tol")
    fixed = _check_grid(value_discretization_interval)
    if math.isinf(target):
        return 0.0

    def eps_on_grid(sigma: float, width: float) -> float:
        return _epsilon(sigma, q, t, d, acc, width)

    return calibration_search(eps_on_grid, lambda s: _grid(s, q, acc, fixed), q, target, tol, acc)


# --------------------------------------------------------------------------------------------
# zCDP <-> (epsilon, delta)
# --------------------------------------------------------------------------------------------

#: Orders searched by :func:`zcdp_to_epsilon` before local refinement: alpha - 1 log-spaced
#: over [1e-6, 1e8], which holds the optimal order ~ 1 + sqrt(log(1/delta) / rho) for every
#: rho in [1e-12, 1e6] and delta in [1e-300, 0.5].
_ALPHA_GRID = 1.0 + np.logspace(-6.0, 8.0, 1401)


def _check_rho(rho: Any) -> float:
    r = _as_real(rho, "rho")
    if r < 0:
        raise PrivacyParameterError(f"rho={rho!r} must satisfy rho >= 0 (or be inf)")
    return r


def _cks_epsilon(alpha: Any, rho: float, log_inv_delta: float) -> Any:
    """Canonne, Kamath & Steinke (2020) Prop. 12 at order alpha, with RDP ``rho * alpha``."""
    return rho * alpha + (log_inv_delta - np.log(alpha)) / (alpha - 1.0) + np.log1p(-1.0 / alpha)


def zcdp_to_epsilon(rho: float, delta: float) -> float:
    """Epsilon at ``delta`` implied by rho-zCDP (Canonne, Kamath & Steinke 2020, Prop. 12).

    ``epsilon = inf over alpha > 1 of rho*alpha + (log(1/delta) - log(alpha)) / (alpha - 1)
    + log(1 - 1/alpha)`` ("The Discrete Gaussian for Differential Privacy", NeurIPS 2020,
    Prop. 12 / Cor. 13; also ``dp_accounting``'s RDP-to-DP conversion). Every alpha gives a
    valid bound, so the search (a grid of orders, then Brent's method around its best) can only
    err on the safe side; it also tries the order behind the classical bound
    ``rho + 2 sqrt(rho log(1/delta))``, which it therefore never exceeds. It is zero when
    ``delta >= sqrt(1 - exp(-rho))`` (total variation bounded through KL <= rho).

    The bound holds for every rho-zCDP mechanism, not only the Gaussian: it lies above the
    Gaussian mechanism's exact epsilon (by ~9% at rho = 0.021, delta = 1e-5), and a two-point
    rho-zCDP mechanism comes within 0.2% of it there.

    Parameters
    ----------
    rho : float
        zCDP parameter ``>= 0`` (``inf`` gives ``inf``).
    delta : float
        Target delta in ``(0, 1)``.

    Returns
    -------
    float
        An upper bound on epsilon, ``>= 0``.

    Raises
    ------
    PrivacyParameterError
        If an argument is out of range.
    """
    r = _check_rho(rho)
    d = _check_delta(delta)
    if r == 0:
        return 0.0
    if math.isinf(r):
        return math.inf
    if d >= math.sqrt(-math.expm1(-r)):
        return 0.0
    log_inv_delta = -math.log(d)
    values = _cks_epsilon(_ALPHA_GRID, r, log_inv_delta)
    i = int(np.argmin(values))
    lo, hi = _ALPHA_GRID[max(i - 1, 0)], _ALPHA_GRID[min(i + 1, _ALPHA_GRID.size - 1)]
    refined = minimize_scalar(
        lambda a: float(_cks_epsilon(a, r, log_inv_delta)),
        bounds=(lo, hi),
        method="bounded",
        options={"xatol": 1e-10 * (hi - 1.0)},
    )
    classical_order = 1.0 + math.sqrt(log_inv_delta / r)
    best = min(
        float(values[i]), float(refined.fun), float(_cks_epsilon(classical_order, r, log_inv_delta))
    )
    return max(best, 0.0)


def epsilon_to_zcdp(epsilon: Any, delta: float) -> float:
    """Largest rho whose :func:`zcdp_to_epsilon` at ``delta`` is at most ``epsilon``.

    Bisection (relative precision 1e-12) from the classical inverse
    ``(sqrt(log(1/delta) + epsilon) - sqrt(log(1/delta))) ** 2``, which always meets the target;
    the returned rho meets it too (``zcdp_to_epsilon(rho, delta) <= epsilon``).

    Parameters
    ----------
    epsilon : float or str
        Target epsilon ``> 0`` (``inf`` gives ``inf``).
    delta : float
        Target delta in ``(0, 1)``.

    Returns
    -------
    float
        rho ``> 0``.

    Raises
    ------
    PrivacyParameterError
        If an argument is out of range.
    """
    eps = parse_epsilon(epsilon)
    d = _check_delta(delta)
    if math.isinf(eps):
        return math.inf
    log_inv_delta = -math.log(d)
    lo = (math.sqrt(log_inv_delta + eps) - math.sqrt(log_inv_delta)) ** 2
    while zcdp_to_epsilon(lo, d) > eps:  # never in exact arithmetic: a guard against rounding
        lo /= 2.0
    hi = 2.0 * lo
    while zcdp_to_epsilon(hi, d) <= eps:
        lo, hi = hi, 2.0 * hi
    while hi - lo > 1e-12 * hi:
        mid = 0.5 * (lo + hi)
        if zcdp_to_epsilon(mid, d) <= eps:
            lo = mid
        else:
            hi = mid
    return lo
