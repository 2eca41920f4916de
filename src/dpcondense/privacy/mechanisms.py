"""One-shot Gaussian releases and budget splitting.

:func:`gaussian_mechanism_sigma` / :func:`epsilon_gaussian` handle one-shot Gaussian releases
(DP means, covariances, counts) exactly, with the analytic Gaussian mechanism of Balle & Wang
(ICML 2018). :func:`split_budget` shares an (epsilon, delta) budget across the purposes of a run
for basic composition on a :class:`~dpcondense.privacy.ledger.PrivacyLedger`.
"""

from __future__ import annotations

import math
from typing import Any, Mapping

from scipy.stats import norm

from dpcondense.privacy.validation import (
    PrivacyParameterError,
    _as_real,
    _check_delta,
    _check_positive,
    parse_epsilon,
)

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
# Budget splitting for basic composition
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
