"""Privacy accounting, noise calibration and the privacy ledger.

Every DP-ZO step is a Poisson-subsampled Gaussian mechanism (sampling rate ``q``, L2
sensitivity ``C``, noise std ``sigma * C``) under add/remove-one adjacency; ``T`` steps compose.
:func:`compute_epsilon` and :func:`calibrate_noise_multiplier` account for that composition
with Google's ``dp_accounting`` (privacy loss distributions by default, Rényi DP on request).
:func:`gaussian_mechanism_sigma` / :func:`epsilon_gaussian` handle one-shot Gaussian releases
(DP means, covariances, counts) exactly, with the analytic Gaussian mechanism.

A run records every use of the private data in a :class:`PrivacyLedger`. Entries compose by
**basic composition**: the release is ``(sum of entry epsilons, sum of entry deltas)``-DP. That
is loose across entries but always valid for adaptively chosen mechanisms; the tight
accounting happens inside an entry (the T ZO steps are one entry, accounted by PLD or RDP).
"""

from __future__ import annotations

import functools
import json
import logging
import math
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Literal, Mapping

import dp_accounting
import numpy as np
from dp_accounting.pld import pld_privacy_accountant
from dp_accounting.rdp import rdp_privacy_accountant
from scipy.optimize import brentq
from scipy.stats import norm

Accountant = Literal["pld", "rdp"]
ACCOUNTANTS: tuple[str, ...] = ("pld", "rdp")

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

#: Relative slack when checking a spend against the budget (absorbs float summation error).
BUDGET_TOLERANCE = 1e-9

_NEIGHBOURING = dp_accounting.NeighboringRelation.ADD_OR_REMOVE_ONE


class PrivacyParameterError(ValueError):
    """A privacy parameter outside its allowed range (the message names parameter and range)."""


class PrivacyBudgetExceededError(RuntimeError):
    """A spend that would take the ledger's total above its target (epsilon, delta)."""


# --------------------------------------------------------------------------------------------
# Parameter validation
# --------------------------------------------------------------------------------------------


def _fmt(x: float) -> str:
    return format(x, ".3g")


def parse_epsilon(value: Any, *, name: str = "epsilon") -> float:
    """Parse a privacy budget: a positive number, or infinity for a non-private run.

    Parameters
    ----------
    value : float, int or str
        ``float('inf')`` and the strings ``"inf"`` / ``"infinity"`` (any case) mean non-private.
    name : str, default="epsilon"
        Parameter name used in the error message.

    Returns
    -------
    float
        The budget, ``> 0`` or ``math.inf``.

    Raises
    ------
    PrivacyParameterError
        If the value is not a number, is NaN, or is ``<= 0``.
    """
    parsed: float
    if isinstance(value, bool):
        raise PrivacyParameterError(f"{name}={value!r} must be a number > 0 or inf")
    if isinstance(value, str):
        text = value.strip().lower()
        if text in ("inf", "+inf", "infinity", "+infinity"):
            return math.inf
        try:
            parsed = float(text)
        except ValueError:
            raise PrivacyParameterError(
                f"{name}={value!r} must be a number > 0 or 'inf'"
            ) from None
    else:
        try:
            parsed = float(value)
        except (TypeError, ValueError):
            raise PrivacyParameterError(
                f"{name}={value!r} must be a number > 0 or inf"
            ) from None
    if math.isnan(parsed) or parsed <= 0:
        raise PrivacyParameterError(f"{name}={value!r} must satisfy {name} > 0 (or be inf)")
    return parsed


def _as_real(value: Any, name: str) -> float:
    if isinstance(value, bool):
        raise PrivacyParameterError(f"{name}={value!r} must be a real number")
    try:
        out = float(value)
    except (TypeError, ValueError):
        raise PrivacyParameterError(f"{name}={value!r} must be a real number") from None
    if math.isnan(out):
        raise PrivacyParameterError(f"{name}={value!r} must be a real number, not NaN")
    return out


def _check_delta(delta: Any, n: int | None = None, *, name: str = "delta") -> float:
    d = _as_real(delta, name)
    if n is not None:
        if not 0 < d < 1.0 / n:
            raise PrivacyParameterError(
                f"{name}={delta!r} must satisfy 0 < {name} < 1/n = {_fmt(1.0 / n)} (n={n})"
            )
    elif not 0 < d < 1:
        raise PrivacyParameterError(f"{name}={delta!r} must satisfy 0 < {name} < 1")
    return d


def _check_sampling_rate(sampling_rate: Any) -> float:
    q = _as_real(sampling_rate, "sampling_rate")
    if not 0 < q <= 1:
        raise PrivacyParameterError(
            f"sampling_rate={sampling_rate!r} must satisfy 0 < sampling_rate <= 1"
        )
    return q


def _check_steps(steps: Any) -> int:
    is_integral = isinstance(steps, (int, np.integer)) and not isinstance(steps, bool)
    if not is_integral and isinstance(steps, (float, np.floating)) and float(steps).is_integer():
        is_integral = True
    if not is_integral or int(steps) < 1:
        raise PrivacyParameterError(f"steps={steps!r} must be an integer >= 1")
    return int(steps)


def _check_positive(value: Any, name: str) -> float:
    v = _as_real(value, name)
    if not 0 < v < math.inf:
        raise PrivacyParameterError(f"{name}={value!r} must satisfy 0 < {name} < inf")
    return v


def _check_noise_multiplier(noise_multiplier: Any) -> float:
    s = _as_real(noise_multiplier, "noise_multiplier")
    if s < 0:
        raise PrivacyParameterError(
            f"noise_multiplier={noise_multiplier!r} must satisfy noise_multiplier >= 0"
        )
    return s


def _check_accountant(accountant: Any) -> str:
    if accountant not in ACCOUNTANTS:
        raise PrivacyParameterError(
            f"accountant={accountant!r} must be one of {', '.join(map(repr, ACCOUNTANTS))}"
        )
    return accountant


def validate_privacy_params(
    *,
    epsilon: Any,
    delta: Any,
    sampling_rate: Any = None,
    clip: Any = None,
    steps: Any = None,
    n: int | None = None,
) -> dict[str, Any]:
    """Check a run's privacy parameters at the boundary and return them parsed.

    Parameters
    ----------
    epsilon : float or str
        Target epsilon, ``> 0``; ``inf`` / ``"inf"`` / ``"infinity"`` for a non-private run.
    delta : float
        Target delta: ``0 < delta < 1/n`` when ``n`` is given, else ``0 < delta < 1``.
    sampling_rate : float, optional
        Poisson sampling rate ``q`` in ``(0, 1]``.
    clip : float, optional
        Per-example clipping norm ``C``, finite and ``> 0``.
    steps : int, optional
        Number of steps ``T``, an integer ``>= 1``.
    n : int, optional
        Number of private rows (bounds delta).

    Returns
    -------
    dict
        ``epsilon``, ``delta`` and every other given parameter, parsed (epsilon as a float that
        may be ``inf``, steps as an int).

    Raises
    ------
    PrivacyParameterError
        Naming the first offending parameter, its value and the allowed range.
    """
    if n is not None:
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
            raise PrivacyParameterError(f"n={n!r} must be an integer >= 1")
        n = int(n)
    out: dict[str, Any] = {
        "epsilon": parse_epsilon(epsilon),
        "delta": _check_delta(delta, n),
    }
    if sampling_rate is not None:
        out["sampling_rate"] = _check_sampling_rate(sampling_rate)
    if clip is not None:
        out["clip"] = _check_positive(clip, "clip")
    if steps is not None:
        out["steps"] = _check_steps(steps)
    if n is not None:
        out["n"] = n
    return out


# --------------------------------------------------------------------------------------------
# Accounting for the Poisson-subsampled Gaussian mechanism composed T times
# --------------------------------------------------------------------------------------------


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
    (benchmarks/results/privacy.md).

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
        acc: dp_accounting.PrivacyAccountant = pld_privacy_accountant.PLDAccountant(
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
    ``tol``. Evaluations use the same accountant and grid as :func:`compute_epsilon`.

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

    def eps(sigma: float) -> float:
        return _epsilon(sigma, q, t, d, acc, _grid(sigma, q, acc, fixed))

    lo, hi = _bracket_from(eps, target, 1.0, factor=2.0)
    return _certified_crossing(eps, target, lo, hi, tol)


def _bracket_from(eps: Any, target: float, start: float, *, factor: float) -> tuple[float, float]:
    """(lo, hi) with eps(lo) > target >= eps(hi), searching geometrically from ``start``.

    ``lo`` is 0 (where epsilon is infinite) when even sigma = 1e-3 meets the target.
    """
    hi = start
    if eps(hi) > target:
        while True:
            lo, hi = hi, hi * factor
            if hi > 2.0**30:
                raise RuntimeError(f"no noise_multiplier <= 2**30 reaches epsilon={target}")
            if eps(hi) <= target:
                return lo, hi
    while True:
        lo = hi / factor
        if lo < 1e-3:  # a budget this large needs (almost) no noise
            return 0.0, hi
        if eps(lo) > target:
            return lo, hi
        hi = lo


def _certified_crossing(eps: Any, target: float, lo: float, hi: float, tol: float) -> float:
    """Smallest sigma in (lo, hi] with eps(sigma) <= target, to ``tol``, given the bracket.

    Brent's method finds the crossing in few evaluations; probes at +-tol/2 around its root
    (and bisection if they fail) keep the invariant eps(lo) > target >= eps(hi).
    """

    def gap(sigma: float) -> float:
        return min(eps(sigma), 1e12) - target if sigma > 0 else 1e12

    if hi - lo > tol:
        root = brentq(gap, lo, hi, xtol=tol / 4)
        for probe in (min(hi, root + tol / 2), max(lo, root - tol / 2)):
            if lo < probe < hi:
                if eps(probe) <= target:
                    hi = probe
                else:
                    lo = probe
    while hi - lo > tol:
        mid = 0.5 * (lo + hi)
        if eps(mid) <= target:
            hi = mid
        else:
            lo = mid
    return hi


# --------------------------------------------------------------------------------------------
# One-shot Gaussian mechanism: exact (analytic) calibration, Balle & Wang (ICML 2018)
# --------------------------------------------------------------------------------------------


def _log_delta_gaussian(epsilon: float, sigma_over_sensitivity: float) -> float:
    """log of the tight delta(epsilon) of the Gaussian mechanism (Balle & Wang 2018, Thm 8).

    delta = Phi(1/(2s) - eps*s) - exp(eps) * Phi(-1/(2s) - eps*s), with s = sigma / sensitivity,
    evaluated in log space so it stays accurate when delta is tiny.
    """
    s = sigma_over_sensitivity
    log_a = float(norm.logcdf(0.5 / s - epsilon * s))
    log_b = epsilon + float(norm.logcdf(-0.5 / s - epsilon * s))
    if log_b >= log_a:
        return -math.inf
    return log_a + math.log1p(-math.exp(log_b - log_a))


def _bisect_monotone(
    feasible: Any, lo: float, hi: float, *, rel_tol: float = 1e-12, max_iter: int = 200
) -> float:
    """Smallest x in (lo, hi] with feasible(x), given feasible is monotone and feasible(hi)."""
    for _ in range(max_iter):
        if hi - lo <= rel_tol * hi:
            break
        mid = 0.5 * (lo + hi)
        if feasible(mid):
            hi = mid
        else:
            lo = mid
    return hi


def gaussian_mechanism_sigma(epsilon: Any, delta: float, sensitivity: float = 1.0) -> float:
    """Noise std of the analytic Gaussian mechanism for one (epsilon, delta)-DP release.

    Exact: the smallest ``sigma`` (to relative precision 1e-12, rounded up) such that
    ``Phi(D/(2 sigma) - eps sigma/D) - e^eps Phi(-D/(2 sigma) - eps sigma/D) <= delta`` with
    ``D = sensitivity`` — the necessary and sufficient condition of Balle & Wang (2018),
    valid for any ``epsilon > 0`` (not only ``epsilon < 1`` like the classical bound).

    Parameters
    ----------
    epsilon : float or str
        Target epsilon ``> 0``; ``inf`` returns ``0.0``.
    delta : float
        Target delta in ``(0, 1)``.
    sensitivity : float, default=1.0
        L2 sensitivity of the released statistic (same adjacency as the caller's statistic).

    Returns
    -------
    float
        The noise standard deviation.

    Raises
    ------
    PrivacyParameterError
        If any argument is outside its range.
    """
    eps = parse_epsilon(epsilon)
    d = _check_delta(delta)
    sens = _check_positive(sensitivity, "sensitivity")
    if math.isinf(eps):
        return 0.0
    log_delta = math.log(d)

    def feasible(s: float) -> bool:
        return _log_delta_gaussian(eps, s) <= log_delta

    hi = 1.0
    while not feasible(hi):
        hi *= 2.0
    lo = hi / 2.0
    while feasible(lo):
        hi, lo = lo, lo / 2.0
    return sens * _bisect_monotone(feasible, lo, hi)


def epsilon_gaussian(sigma: float, delta: float, sensitivity: float = 1.0) -> float:
    """Exact epsilon of one Gaussian release with noise std ``sigma`` (analytic Gaussian).

    Parameters
    ----------
    sigma : float
        Noise standard deviation, ``>= 0`` (``0`` gives ``inf``).
    delta : float
        Target delta in ``(0, 1)``.
    sensitivity : float, default=1.0
        L2 sensitivity of the released statistic.

    Returns
    -------
    float
        The smallest epsilon (to relative precision 1e-12, rounded up) at which the release is
        (epsilon, delta)-DP; ``0.0`` if it is already (0, delta)-DP.

    Raises
    ------
    PrivacyParameterError
        If any argument is outside its range.
    """
    s = _as_real(sigma, "sigma")
    if s < 0:
        raise PrivacyParameterError(f"sigma={sigma!r} must satisfy sigma >= 0")
    d = _check_delta(delta)
    sens = _check_positive(sensitivity, "sensitivity")
    if s == 0:
        return math.inf
    if math.isinf(s):
        return 0.0
    ratio = s / sens
    log_delta = math.log(d)

    def feasible(e: float) -> bool:
        return _log_delta_gaussian(e, ratio) <= log_delta

    if feasible(0.0):
        return 0.0
    hi = 1.0
    while not feasible(hi):
        hi *= 2.0
    return _bisect_monotone(feasible, 0.0, hi)


# --------------------------------------------------------------------------------------------
# Budget splitting and the ledger
# --------------------------------------------------------------------------------------------


def split_budget(
    target_epsilon: Any, target_delta: float, shares: Mapping[str, float]
) -> dict[str, tuple[float, float]]:
    """Split an (epsilon, delta) budget across purposes for basic composition.

    Each purpose gets ``share / sum(shares)`` of both epsilon and delta; the last purpose with
    a positive share takes the remainder, so the parts add up to the target to floating-point
    precision (spending all of them on one :class:`PrivacyLedger` never exceeds it).

    Parameters
    ----------
    target_epsilon : float or str
        Total epsilon ``> 0`` or ``inf`` (then every positive share gets ``inf``).
    target_delta : float
        Total delta in ``(0, 1)``.
    shares : mapping of str to float
        Non-negative weights, at least one positive, e.g. ``{"init": 0.1, "zo_steps": 0.9}``.

    Returns
    -------
    dict of str to (float, float)
        ``{purpose: (epsilon, delta)}`` in the order of ``shares``. Zero shares get ``(0, 0)``.

    Raises
    ------
    PrivacyParameterError
        If the budget or a share is invalid.
    """
    eps = parse_epsilon(target_epsilon, name="target_epsilon")
    delta = _check_delta(target_delta, name="target_delta")
    if not shares:
        raise PrivacyParameterError("shares={} must name at least one purpose")
    weights = {k: _as_real(v, f"shares[{k!r}]") for k, v in shares.items()}
    for k, w in weights.items():
        if not 0 <= w < math.inf:
            raise PrivacyParameterError(f"shares[{k!r}]={w!r} must satisfy 0 <= share < inf")
    total = math.fsum(weights.values())
    if total <= 0:
        raise PrivacyParameterError(f"shares={dict(shares)!r} must have a positive sum")
    last = [k for k, w in weights.items() if w > 0][-1]
    out: dict[str, tuple[float, float]] = {}
    eps_used = delta_used = 0.0
    for k, w in weights.items():
        if w == 0:
            out[k] = (0.0, 0.0)
        elif k == last:
            out[k] = (math.inf if math.isinf(eps) else eps - eps_used, delta - delta_used)
        else:
            e_k = math.inf if math.isinf(eps) else eps * (w / total)
            d_k = delta * (w / total)
            out[k] = (e_k, d_k)
            eps_used += e_k
            delta_used += d_k
    return out


_ENTRY_FIELDS = (
    "purpose",
    "mechanism",
    "epsilon",
    "delta",
    "noise_multiplier",
    "sampling_rate",
    "steps",
    "accountant",
    "sensitivity",
)


@dataclass(frozen=True)
class LedgerEntry:
    """One use of the private data: what for, by which mechanism, at what (epsilon, delta)."""

    purpose: str
    mechanism: str
    epsilon: float
    delta: float
    noise_multiplier: float | None = None
    sampling_rate: float | None = None
    steps: int | None = None
    accountant: str | None = None
    sensitivity: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Plain dict: the named fields, then the ``extra`` keys flattened in."""
        out = {k: getattr(self, k) for k in _ENTRY_FIELDS}
        out.update(self.extra)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LedgerEntry:
        """Inverse of :meth:`to_dict` (accepts ``"inf"`` strings for numeric fields)."""
        known = {k: data.get(k) for k in _ENTRY_FIELDS}
        for k in ("epsilon", "delta", "noise_multiplier", "sampling_rate", "sensitivity"):
            if known[k] is not None:
                known[k] = _from_json_number(known[k])
        if known["steps"] is not None:
            known["steps"] = int(known["steps"])
        extra = {k: v for k, v in data.items() if k not in _ENTRY_FIELDS}
        return cls(**known, extra=extra)


def _from_json_number(value: Any) -> float:
    # to_json writes non-finite floats as "inf" / "-inf" / "nan"; float() parses all three.
    return float(value.strip()) if isinstance(value, str) else float(value)


def _to_json_safe(obj: Any) -> Any:
    """Recursively convert to JSON-native types; non-finite floats become strings."""
    if isinstance(obj, Mapping):
        return {str(k): _to_json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_to_json_safe(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return [_to_json_safe(v) for v in obj.tolist()]
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        x = float(obj)
        if math.isnan(x):
            return "nan"
        if math.isinf(x):
            return "inf" if x > 0 else "-inf"
        return x
    return obj


class PrivacyLedger:
    """Record of every use of the private data in one run, checked against a budget.

    Entries compose by basic composition: the run is ``(total_epsilon, total_delta)``-DP, and
    since every spend is checked, ``total_epsilon <= target_epsilon`` and
    ``total_delta <= target_delta``. A ledger with ``target_epsilon = inf`` is non-private: it
    records entries (typically with ``epsilon = inf``) but guarantees nothing.

    Parameters
    ----------
    target_epsilon : float or str
        Budget ``> 0``, or ``inf`` / ``"inf"`` for a non-private run.
    delta : float
        Target delta: ``0 < delta < 1/n_public`` if ``n_public`` is given, else ``0 < delta < 1``.
    n_public : int, optional
        Number of private rows when it is declared public (bounds delta; recorded).

    Raises
    ------
    PrivacyParameterError
        If the budget is invalid.

    Examples
    --------
    >>> ledger = PrivacyLedger(1.0, 1e-5)
    >>> parts = split_budget(1.0, 1e-5, {"init": 0.1, "zo_steps": 0.9})
    >>> _ = ledger.spend("init", mechanism="gaussian", epsilon=parts["init"][0],
    ...                  delta=parts["init"][1])
    >>> round(ledger.remaining_epsilon, 6)
    0.9
    """

    def __init__(self, target_epsilon: Any, delta: float, *, n_public: int | None = None) -> None:
        params = validate_privacy_params(epsilon=target_epsilon, delta=delta, n=n_public)
        self.target_epsilon: float = params["epsilon"]
        self.target_delta: float = params["delta"]
        self.n_public: int | None = params.get("n")
        self._entries: list[LedgerEntry] = []
        self._not_dp_reasons: list[str] = []

    # -- spending -----------------------------------------------------------------------------

    def spend(
        self,
        purpose: str,
        *,
        mechanism: str,
        epsilon: float,
        delta: float,
        noise_multiplier: float | None = None,
        sampling_rate: float | None = None,
        steps: int | None = None,
        accountant: str | None = None,
        sensitivity: float | None = None,
        **extra: Any,
    ) -> LedgerEntry:
        """Record one use of the private data.

        Parameters
        ----------
        purpose : str
            What the release is for, e.g. ``"zo_steps"``, ``"dp_count"``, ``"init_means"``.
        mechanism : str
            E.g. ``"subsampled_gaussian"``, ``"gaussian"``, ``"laplace"``, ``"none"``.
        epsilon, delta : float
            The entry's privacy cost (``epsilon >= 0`` may be ``inf``; ``0 <= delta <= 1``).
        noise_multiplier, sampling_rate, steps, accountant, sensitivity : optional
            Mechanism parameters, recorded for the report.
        **extra
            Any further JSON-serialisable details (recorded flattened into the entry).

        Returns
        -------
        LedgerEntry
            The recorded entry.

        Raises
        ------
        PrivacyParameterError
            If ``epsilon`` or ``delta`` is out of range.
        PrivacyBudgetExceededError
            If the new totals would exceed the target epsilon or delta (relative slack
            :data:`BUDGET_TOLERANCE`); nothing is recorded then.
        """
        eps = _as_real(epsilon, "epsilon")
        if eps < 0:
            raise PrivacyParameterError(f"epsilon={epsilon!r} must satisfy epsilon >= 0")
        d = _as_real(delta, "delta")
        if not 0 <= d <= 1:
            raise PrivacyParameterError(f"delta={delta!r} must satisfy 0 <= delta <= 1")
        new_eps = self.total_epsilon + eps
        new_delta = self.total_delta + d
        if new_eps > self.target_epsilon * (1 + BUDGET_TOLERANCE) + BUDGET_TOLERANCE:
            raise PrivacyBudgetExceededError(
                f"spending epsilon={_fmt(eps)} on {purpose!r} would bring the total to "
                f"{_fmt(new_eps)} > target_epsilon={_fmt(self.target_epsilon)} "
                f"(already spent {_fmt(self.total_epsilon)})"
            )
        if new_delta > self.target_delta * (1 + BUDGET_TOLERANCE):
            raise PrivacyBudgetExceededError(
                f"spending delta={_fmt(d)} on {purpose!r} would bring the total to "
                f"{_fmt(new_delta)} > target delta={_fmt(self.target_delta)} "
                f"(already spent {_fmt(self.total_delta)})"
            )
        entry = LedgerEntry(
            purpose=str(purpose),
            mechanism=str(mechanism),
            epsilon=eps,
            delta=d,
            noise_multiplier=None if noise_multiplier is None else float(noise_multiplier),
            sampling_rate=None if sampling_rate is None else float(sampling_rate),
            steps=None if steps is None else int(steps),
            accountant=accountant,
            sensitivity=None if sensitivity is None else float(sensitivity),
            extra=dict(extra),
        )
        self._entries.append(entry)
        return entry

    def mark_not_dp(self, reason: str) -> None:
        """Declare the run not differentially private (e.g. data-derived bounds were used).

        Parameters
        ----------
        reason : str
            Why; recorded in the ledger and its label.
        """
        self._not_dp_reasons.append(str(reason))

    # -- totals -------------------------------------------------------------------------------

    @property
    def entries(self) -> tuple[LedgerEntry, ...]:
        """Recorded entries, in spending order."""
        return tuple(self._entries)

    @property
    def total_epsilon(self) -> float:
        """Sum of the entries' epsilons (basic composition)."""
        return math.fsum(e.epsilon for e in self._entries) if self._entries else 0.0

    @property
    def total_delta(self) -> float:
        """Sum of the entries' deltas (basic composition)."""
        return math.fsum(e.delta for e in self._entries) if self._entries else 0.0

    @property
    def remaining_epsilon(self) -> float:
        """Epsilon still available (``inf`` for a non-private ledger), never negative."""
        if math.isinf(self.target_epsilon):
            return math.inf
        return max(self.target_epsilon - self.total_epsilon, 0.0)

    @property
    def remaining_delta(self) -> float:
        """Delta still available, never negative."""
        return max(self.target_delta - self.total_delta, 0.0)

    @property
    def private(self) -> bool:
        """Whether the run carries a DP guarantee (finite target, not marked otherwise)."""
        return math.isfinite(self.target_epsilon) and not self._not_dp_reasons

    @property
    def not_dp_reasons(self) -> tuple[str, ...]:
        """Reasons recorded by :meth:`mark_not_dp`."""
        return tuple(self._not_dp_reasons)

    @property
    def label(self) -> str:
        """Short human-readable statement of the guarantee."""
        if math.isinf(self.target_epsilon):
            base = "non-private (epsilon=inf)"
            return base if not self._not_dp_reasons else f"{base}; " + "; ".join(
                self._not_dp_reasons
            )
        if self._not_dp_reasons:
            return "not DP: " + "; ".join(self._not_dp_reasons)
        return f"({_fmt(self.total_epsilon)}, {_fmt(self.target_delta)})-DP"

    def main_entry(self) -> LedgerEntry | None:
        """The entry with the largest epsilon (the first one on ties), or None if empty."""
        if not self._entries:
            return None
        return max(self._entries, key=lambda e: e.epsilon)

    # -- serialisation ------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """Plain-dict summary and entries.

        Returns
        -------
        dict
            ``epsilon`` (total spent), ``target_epsilon``, ``delta`` (the target delta, which
            bounds the spent ``total_delta``), ``total_delta``, ``noise_multiplier``,
            ``sampling_rate``, ``steps``, ``accountant`` (from :meth:`main_entry`, ``None`` if
            empty), ``remaining_epsilon``, ``n_public``, ``composition`` (``"basic"``),
            ``private``, ``label``, ``not_dp_reasons`` and ``entries`` (list of dicts).
        """
        main = self.main_entry()
        return {
            "epsilon": self.total_epsilon,
            "target_epsilon": self.target_epsilon,
            "delta": self.target_delta,
            "total_delta": self.total_delta,
            "remaining_epsilon": self.remaining_epsilon,
            "noise_multiplier": main.noise_multiplier if main else None,
            "sampling_rate": main.sampling_rate if main else None,
            "steps": main.steps if main else None,
            "accountant": main.accountant if main else None,
            "n_public": self.n_public,
            "composition": "basic",
            "private": self.private,
            "label": self.label,
            "not_dp_reasons": list(self._not_dp_reasons),
            "entries": [e.to_dict() for e in self._entries],
        }

    def to_json(self, path: str | Path | None = None) -> str:
        """Serialise :meth:`to_dict` as valid JSON (sorted keys; ``inf`` written as ``"inf"``).

        Parameters
        ----------
        path : str or Path, optional
            If given, the JSON is also written there (parent directories created).

        Returns
        -------
        str
            The JSON text.
        """
        text = json.dumps(_to_json_safe(self.to_dict()), sort_keys=True, indent=2, allow_nan=False)
        if path is not None:
            p = Path(path)
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_text(text + "\n", encoding="utf-8")
        return text

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PrivacyLedger:
        """Rebuild a ledger from :meth:`to_dict` output (or its JSON form).

        Entries are re-spent in order, so a ledger whose entries exceed its target raises
        :class:`PrivacyBudgetExceededError`.
        """
        ledger = cls(
            _from_json_number(data["target_epsilon"]),
            _from_json_number(data["delta"]),
            n_public=data.get("n_public"),
        )
        for raw in data.get("entries", []):
            entry = LedgerEntry.from_dict(raw)
            ledger.spend(
                entry.purpose,
                mechanism=entry.mechanism,
                epsilon=entry.epsilon,
                delta=entry.delta,
                noise_multiplier=entry.noise_multiplier,
                sampling_rate=entry.sampling_rate,
                steps=entry.steps,
                accountant=entry.accountant,
                sensitivity=entry.sensitivity,
                **entry.extra,
            )
        for reason in data.get("not_dp_reasons", []):
            ledger.mark_not_dp(reason)
        return ledger

    @classmethod
    def from_json(cls, path: str | Path) -> PrivacyLedger:
        """Read a ledger written by :meth:`to_json`."""
        return cls.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))

    def __repr__(self) -> str:
        return (
            f"PrivacyLedger(target_epsilon={self.target_epsilon}, delta={self.target_delta}, "
            f"spent={self.total_epsilon}, entries={len(self._entries)}, private={self.private})"
        )
