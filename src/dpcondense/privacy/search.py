"""Certified searches for the smallest noise multiplier whose epsilon meets a target.

Noise calibration (:func:`~dpcondense.privacy.accounting.calibrate_noise_multiplier`,
:func:`~dpcondense.privacy.composition.calibrate_joint`) looks for the crossing of a decreasing
``eps(sigma)`` (an accountant's epsilon at noise multiplier ``sigma``) with a target. Every search
here returns a *certified* ``sigma``: ``eps(sigma) <= target`` was evaluated, and so was
``eps(s) > target`` for some ``s >= sigma - tol`` (minimal to ``tol``). Only the evaluation at the
returned ``sigma`` carries the privacy guarantee; the others make it tight.

- :func:`exact_search`: a geometric bracket from ``sigma = 1``, Brent's method, then probes
  around its root; every step evaluates the accountant (~12 evaluations).
- :func:`guided_search`: the same bracket and Brent's method on a cheap ``surrogate`` (the
  accountant on a coarser grid), corrected by the accountant's value at its crossing, locate
  the crossing; the accountant is then evaluated next to it (:func:`certify_near`). Two to four
  evaluations of the accountant, for when one is expensive.

``eps`` may return ``inf`` (no noise) and is evaluated at ``sigma > 0`` only.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from scipy.optimize import brentq

from dpcondense.privacy.pld import subsampled_pld_span

Epsilon = Callable[[float], float]

#: Largest noise multiplier the searches try.
MAX_NOISE_MULTIPLIER = 2.0**30
#: Above this many points on one step's privacy-loss grid (at sigma = 1, where calibration starts),
#: one PLD evaluation takes ~0.2 s or more, and calibration locates the crossing on a coarser
#: grid first (:func:`calibration_search`). With the adaptive grid and a batch of 256 that is
#: beyond ~140,000 rows (q < ~0.0018; a million rows: ~190,000 points, ~1 s per evaluation);
#: below it (every dataset of the paper) calibration runs the exact search, as it always did.
EXACT_SEARCH_MAX_POINTS = 50_000
#: Points on one step's privacy-loss grid of the coarse surrogate (~15x cheaper at 1e6 rows).
SURROGATE_PLD_POINTS = 10_000


def bracket_from(eps: Epsilon, target: float, start: float, *, factor: float) -> tuple[float, float]:
    """(lo, hi) with eps(lo) > target >= eps(hi), searching geometrically from ``start``.

    ``lo`` is 0 (where epsilon is infinite) when even sigma = 1e-3 meets the target.
    """
    hi = start
    if eps(hi) > target:
        while True:
            lo, hi = hi, hi * factor
            if hi > MAX_NOISE_MULTIPLIER:
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


def _gap(eps: Epsilon, target: float) -> Epsilon:
    """``eps - target`` for Brent's method (finite; ``sigma <= 0`` counts as no noise)."""

    def gap(sigma: float) -> float:
        return min(eps(sigma), 1e12) - target if sigma > 0 else 1e12

    return gap


def certified_crossing(eps: Epsilon, target: float, lo: float, hi: float, tol: float) -> float:
    """Smallest sigma in (lo, hi] with eps(sigma) <= target, to ``tol``, given the bracket.

    Brent's method finds the crossing in few evaluations; probes at +-tol/2 around its root
    (and bisection if they fail) keep the invariant eps(lo) > target >= eps(hi).
    """
    if hi - lo > tol:
        root = brentq(_gap(eps, target), lo, hi, xtol=tol / 4)
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


def exact_search(eps: Epsilon, target: float, tol: float) -> float:
    """Certified sigma: bracket from 1 (factor 2), then :func:`certified_crossing`, all on ``eps``."""
    lo, hi = bracket_from(eps, target, 1.0, factor=2.0)
    return certified_crossing(eps, target, lo, hi, tol)


def _step_below(hi: float, step: float) -> float:
    """The float nearest ``hi - step`` from above, so that ``hi - lo <= step`` holds in floats."""
    lo = hi - step
    while hi - lo > step:
        lo = math.nextafter(lo, hi)
    return lo


def certify_near(eps: Epsilon, target: float, guess: float, tol: float) -> float:
    """Certified sigma, starting from a ``guess`` of the crossing (``guess > 0``).

    Evaluates ``eps`` at ``guess``, then ``tol`` below it (or above it, if ``guess`` misses the
    target), doubling the step until the crossing is bracketed; a bracket wider than ``tol`` is
    then narrowed by :func:`certified_crossing`. A guess within ``tol`` above the crossing costs
    two evaluations.
    """
    step = tol
    if eps(guess) <= target:
        hi = guess
        while True:
            lo = _step_below(hi, step)
            if lo <= 0:
                lo = 0.0  # no noise: epsilon is infinite
                break
            if eps(lo) > target:
                break
            hi, step = lo, 2.0 * step
    else:
        lo = guess
        while True:
            hi = lo + step
            if hi > MAX_NOISE_MULTIPLIER:
                raise RuntimeError(f"no noise_multiplier <= 2**30 reaches epsilon={target}")
            if eps(hi) <= target:
                break
            lo, step = hi, 2.0 * step
    return certified_crossing(eps, target, lo, hi, tol)


def _local_crossing(
    eps: Epsilon, target: float, start: float, xtol: float, *, factor: float = 1.05, reach: float = 2.0
) -> float | None:
    """Brent's root of ``eps - target`` (to ``xtol``) within a factor ``reach`` of ``start``.

    Steps geometrically (by ``factor``) from ``start`` towards the crossing; ``None`` when
    ``eps`` does not cross the target within ``[start / reach, start * reach]``.
    """
    gap = _gap(eps, target)
    a, gap_a = start, gap(start)
    while True:
        b = a * factor if gap_a > 0 else a / factor
        if not 1.0 / reach <= b / start <= reach:
            return None
        gap_b = gap(b)
        if (gap_a > 0) != (gap_b > 0):
            break
        a, gap_a = b, gap_b
    lo, hi = (a, b) if a < b else (b, a)
    return brentq(gap, lo, hi, xtol=xtol)


def guided_search(
    eps: Epsilon, surrogate: Epsilon, target: float, tol: float, *, corrections: int = 3
) -> float:
    """Certified sigma on ``eps``, the crossing located first on a cheap ``surrogate``.

    Brent's method finds the surrogate's crossing (to ``tol / 16``; the guess is ``tol / 8``
    above it). Then, at most ``corrections`` times, ``eps`` is evaluated at the guess and the
    surrogate is mapped onto it (shifted by its error there; from the second evaluation on,
    also scaled by the secant through the last two), and the mapped surrogate's crossing predicts
    the true one: the guess is kept once it meets the target within ``tol`` above the
    prediction, else it moves to ``tol / 4`` above the prediction.
    :func:`certify_near` then certifies on ``eps`` from the guess: two evaluations of ``eps`` in
    all when the surrogate is accurate, about four when it is off by 1%. The surrogate only
    steers: whatever it returns, ``eps(sigma) <= target`` was evaluated and ``sigma`` is minimal
    to ``tol`` on ``eps`` (a surrogate that never reaches the target: :func:`exact_search`).
    """
    try:
        lo, hi = bracket_from(surrogate, target, 1.0, factor=2.0)
    except RuntimeError:
        return exact_search(eps, target, tol)
    root = brentq(_gap(surrogate, target), lo, hi, xtol=tol / 16) if hi - lo > tol / 16 else hi
    guess, seen = root + tol / 8, []
    for _ in range(corrections):
        value, coarse = eps(guess), surrogate(guess)
        if not math.isfinite(value - coarse):
            break
        seen.append((coarse, value))
        scale = _secant_slope(seen[-2:]) if len(seen) > 1 else 1.0
        offset = value - scale * coarse

        def model(sigma: float, scale: float = scale, offset: float = offset) -> float:
            return scale * surrogate(sigma) + offset

        predicted = _local_crossing(model, target, guess, tol / 16)
        if predicted is None or (value <= target and guess - tol < predicted):
            break
        guess = predicted + tol / 4
    return certify_near(eps, target, guess, tol)


def _secant_slope(pairs: list[tuple[float, float]]) -> float:
    """d eps / d surrogate through two (surrogate, eps) pairs; 1 when undefined or not increasing."""
    (s1, e1), (s2, e2) = pairs
    slope = (e2 - e1) / (s2 - s1) if s1 != s2 else math.nan
    return slope if math.isfinite(slope) and slope > 0 else 1.0


def calibration_search(
    eps_on_grid: Callable[[float, float], float],
    grid: Callable[[float], float],
    sampling_rate: float,
    target: float,
    tol: float,
    accountant: str,
) -> float:
    """Certified smallest sigma with ``eps_on_grid(sigma, grid(sigma)) <= target``, to ``tol``.

    Runs :func:`exact_search` on the accountant, unless it is PLD with more than
    :data:`EXACT_SEARCH_MAX_POINTS` points per step at ``sigma = 1``: then :func:`guided_search`
    steers by the same accountant on a grid coarsened to :data:`SURROGATE_PLD_POINTS` points and
    certifies on ``grid`` (two to four full evaluations instead of ~12). Either way the result
    meets the target on ``grid``, evaluated.

    Parameters
    ----------
    eps_on_grid : callable
        ``(sigma, grid width) -> epsilon`` of the mechanism(s) with the steps at ``sigma``.
    grid : callable
        ``sigma -> `` the accountant's grid width (the one the guarantee is stated on).
    sampling_rate, target, tol, accountant
        The steps' ``q``, the target epsilon, the precision on sigma, ``"pld"`` or ``"rdp"``.
    """

    def eps(sigma: float) -> float:
        return eps_on_grid(sigma, grid(sigma))

    if (
        accountant != "pld"
        or sampling_rate == 1
        or subsampled_pld_span(1.0, sampling_rate) / grid(1.0) <= EXACT_SEARCH_MAX_POINTS
    ):
        return exact_search(eps, target, tol)

    def surrogate(sigma: float) -> float:
        coarse = subsampled_pld_span(sigma, sampling_rate) / SURROGATE_PLD_POINTS
        return eps_on_grid(sigma, max(grid(sigma), coarse))

    return guided_search(eps, surrogate, target, tol)
