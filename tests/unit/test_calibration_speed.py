"""Fast noise calibration (dpcondense.privacy.search): certified, tight, and unchanged where cheap.

At a tiny sampling rate (a custodian's million rows) one PLD evaluation composes ~300,000 grid
points, and calibration steers on a coarser grid before certifying on the accountant's own
(:func:`~dpcondense.privacy.search.guided_search`). These tests check that the result still
meets the target on the accountant (recomputed from scratch), is minimal to the tolerance, stays
within the tolerance of the exact search, costs few full evaluations, and that the exact search
(the paper's datasets, the golden cases) returns the very sigma it returned before.
"""

from __future__ import annotations

import pytest
from dp_accounting.pld import pld_privacy_accountant

from dpcondense.privacy import (
    calibrate_joint,
    calibrate_noise_multiplier,
    clear_accounting_cache,
    clear_composition_cache,
    composition,
    compute_epsilon,
    gaussian_event,
    gaussian_mechanism_sigma,
    joint_epsilon,
    laplace_event,
    pld,
    pure_event,
    search,
    subsampled_gaussian_event,
)
from dpcondense.privacy.pld import NEIGHBOURING
from dpcondense.privacy.search import certify_near, exact_search, guided_search

TOL = 1e-4


# ------------------------------------------------------------------ the searches, on known curves


class Counted:
    """A decreasing epsilon curve ``scale / sigma`` that records where it is evaluated.

    The accountants are memoised, so the cost of a search is its number of distinct points.
    """

    def __init__(self, scale: float) -> None:
        self.scale, self.points = scale, set()

    def __call__(self, sigma: float) -> float:
        self.points.add(sigma)
        return self.scale / sigma

    @property
    def calls(self) -> int:
        return len(self.points)


def _assert_certified(eps: Counted, sigma: float, target: float = 1.0) -> None:
    assert eps.scale / sigma <= target  # meets the target (the crossing is at sigma = scale)
    assert sigma - TOL < eps.scale  # minimal to TOL


@pytest.mark.parametrize("bias, calls", [(1.0, 2), (1.00002, 2), (0.99998, 3)])
def test_guided_search_with_a_close_surrogate_certifies_with_two_or_three_evaluations(bias, calls):
    # a pessimistic surrogate (bias > 1, as a coarser PLD grid is) puts the first guess above
    # the crossing: it meets the target, and one evaluation below it certifies
    eps = Counted(0.7371)
    sigma = guided_search(eps, lambda s: 0.7371 * bias / s, 1.0, TOL)
    _assert_certified(eps, sigma)
    assert eps.calls == calls


@pytest.mark.parametrize("bias", [1.01, 0.99, 1.3, 0.7])
def test_guided_search_corrects_a_surrogate_off_by_a_factor(bias):
    # an optimistic surrogate (bias < 1) puts its crossing below the true one: returning it
    # uncertified would give too little noise. Shifting it by its error at the guess predicts
    # the true crossing, so a surrogate off by 1% still costs few evaluations.
    eps = Counted(0.7371)
    sigma = guided_search(eps, lambda s: 0.7371 * bias / s, 1.0, TOL)
    _assert_certified(eps, sigma)
    assert eps.calls <= 4


@pytest.mark.parametrize("surrogate", [lambda s: 5.0 / s, lambda s: 0.1 / s, lambda s: 1.0, lambda s: 0.0])
def test_guided_search_with_a_useless_surrogate_is_still_certified(surrogate):
    eps = Counted(0.7371)
    _assert_certified(eps, guided_search(eps, surrogate, 1.0, TOL))


@pytest.mark.parametrize("guess", [1e-6, 0.3, 0.73705, 0.7371, 0.73715, 2.0, 1e4])
def test_certify_near_from_any_guess(guess):
    eps = Counted(0.7371)
    _assert_certified(eps, certify_near(eps, 1.0, guess, TOL))


def test_certify_near_when_no_noise_is_needed():
    # epsilon is finite everywhere above 0 and always below target: the bracket reaches 0
    eps = Counted(1e-9)
    sigma = certify_near(eps, 1.0, 0.5, TOL)
    assert 0 < sigma <= TOL and eps(sigma) <= 1.0


def test_exact_search_on_a_known_curve():
    eps = Counted(3.25)
    _assert_certified(eps, exact_search(eps, 1.0, TOL))


# ------------------------------------------------- the accountant: exact where cheap, as before

# sigma returned by the calibration before the guided search existed (same accountant, grid, tol):
# the paper's runs (batch 256 of n, T = 200, dp_mean start on 0.3 of (epsilon, 1e-5)) and two
# direct calibrations. The exact search must keep returning them bit for bit.
PAPER_JOINT = [
    # (n, epsilon, sigma)
    (1786, 10.0, 1.31179397204122),
    (6299, 1.0, 2.4641513158606285),
]
DIRECT = [
    # (epsilon, delta, q, T, sigma)
    ((1.0, 1e-5, 0.05, 300), 3.3969339794693894),
    ((2.0, 1e-6, 256 / 1786, 200), 4.688328207174889),
]


def _paper_fixed(eps: float) -> tuple:
    """The dp_mean start's event (DP-ZO's ``gaussian_multiplier`` on 0.3 of (eps, 1e-5))."""
    return (gaussian_event(gaussian_mechanism_sigma(0.3 * eps, 0.3e-5, 1.0)),)


@pytest.mark.parametrize("n, eps, sigma", PAPER_JOINT)
def test_paper_scale_joint_calibration_is_unchanged(n, eps, sigma):
    clear_composition_cache()
    result = calibrate_joint(_paper_fixed(eps), 1e-5, eps, sampling_rate=256 / n, steps=200)
    assert result.noise_multiplier == sigma


@pytest.mark.parametrize("args, sigma", DIRECT)
def test_paper_scale_direct_calibration_is_unchanged(args, sigma):
    clear_accounting_cache()
    assert calibrate_noise_multiplier(*args) == sigma


# --------------------------------------------------- the accountant: guided where expensive


def _count_full_evaluations(monkeypatch, grid_of) -> list[float]:
    """Record the sigma of every joint evaluation made on the accountant's own grid."""
    full: list[float] = []
    inner = composition._joint

    def joint(events, delta, accountant, grid):
        if events[-1].kind == "subsampled_gaussian" and grid == grid_of(events):
            full.append(events[-1].noise_multiplier)
        return inner(events, delta, accountant, grid)

    monkeypatch.setattr(composition, "_joint", joint)
    return full


@pytest.mark.parametrize("surrogate_points, full_evaluations", [(2000, 3), (300, 4)])
def test_guided_joint_calibration_meets_the_target_and_matches_the_exact_search(
    monkeypatch, surrogate_points, full_evaluations
):
    fixed, delta, target, q, steps = (pure_event(0.02), gaussian_event(12.0)), 1e-6, 1.0, 0.01, 50
    clear_composition_cache()
    exact = calibrate_joint(fixed, delta, target, sampling_rate=q, steps=steps).noise_multiplier
    # force the guided search on this cheap case (~13,000 grid points per step) with a surrogate
    # 6.5x coarser (as at the threshold) or 44x (sigma off by 1.5%: the corrections are needed)
    monkeypatch.setattr(search, "EXACT_SEARCH_MAX_POINTS", 0)
    monkeypatch.setattr(search, "SURROGATE_PLD_POINTS", surrogate_points)
    clear_composition_cache()
    full = _count_full_evaluations(monkeypatch, lambda evs: composition._grid_for(evs, None))
    sigma, eps = calibrate_joint(fixed, delta, target, sampling_rate=q, steps=steps)
    assert len(set(full)) <= full_evaluations  # instead of ~12 for the exact search
    monkeypatch.undo()
    clear_composition_cache()  # recompute from scratch: the returned sigma meets the target
    steps_event = subsampled_gaussian_event(sigma, q, steps)
    assert eps == joint_epsilon([*fixed, steps_event], delta) <= target
    below = subsampled_gaussian_event(sigma - TOL, q, steps)
    assert joint_epsilon([*fixed, below], delta) > target  # minimal to the tolerance
    assert abs(sigma - exact) <= TOL


def test_guided_direct_calibration_meets_the_target(monkeypatch):
    clear_accounting_cache()
    exact = calibrate_noise_multiplier(0.5, 1e-5, 0.01, 100)
    monkeypatch.setattr(search, "EXACT_SEARCH_MAX_POINTS", 0)
    monkeypatch.setattr(search, "SURROGATE_PLD_POINTS", 300)
    clear_accounting_cache()
    sigma = calibrate_noise_multiplier(0.5, 1e-5, 0.01, 100)
    clear_accounting_cache()
    assert compute_epsilon(sigma, 0.01, 100, 1e-5) <= 0.5 < compute_epsilon(sigma - TOL, 0.01, 100, 1e-5)
    assert abs(sigma - exact) <= TOL


def test_million_row_cohort_calibration_is_guided_certified_and_close_to_the_exact_search():
    # the custodian benchmark's release (benchmarks/scale_cohort.py): a DP count, the dp_mean
    # start, then T = 200 steps at q = 256 / 999,993. The exact search gave 0.5912186913774949
    # in ~12 full evaluations of ~1.5 s each.
    fixed = (pure_event(0.02), gaussian_event(15.674858568774654))
    q, delta = 0.0002560017920125441, 1e-7
    run_grid = composition._grid_for((*fixed, subsampled_gaussian_event(1.0, q, 200)), None)
    assert search.subsampled_pld_span(1.0, q) / run_grid > search.EXACT_SEARCH_MAX_POINTS
    clear_composition_cache()
    sigma, eps = calibrate_joint(fixed, delta, 1.0, sampling_rate=q, steps=200)
    assert abs(sigma - 0.5912186913774949) <= TOL
    # the ledger entry of the steps (their own epsilon at their share of delta) reuses the PLD
    # the certification built, although the search evaluated other sigmas after it
    built = pld._subsampled_gaussian_pld.cache_info()
    compute_epsilon(sigma, q, 200, 7e-8)
    after = pld._subsampled_gaussian_pld.cache_info()
    assert (after.hits, after.misses) == (built.hits + 1, built.misses)
    clear_composition_cache()
    assert joint_epsilon([*fixed, subsampled_gaussian_event(sigma, q, 200)], delta) == eps <= 1.0


# ------------------------------------------ the steps' PLD, shared by calibration and the ledger

SHARED_CASES = [
    # (fixed events, steps' sigma, q, T, delta, grid)
    ((), 1.3, 0.05, 300, 1e-5, None),
    ((gaussian_event(4.0),), 0.9, 0.01, 100, 1e-6, None),
    ((gaussian_event(2.5), laplace_event(0.1)), 2.0, 0.2, 20, 1e-5, 3e-4),
]


def _stock(events, delta: float, grid: float) -> float:
    acc = pld_privacy_accountant.PLDAccountant(NEIGHBOURING, value_discretization_interval=grid)
    for event in composition._merge_gaussians(tuple(events)):
        acc.compose(event.to_dp_event())
    return float(acc.get_epsilon(delta))


@pytest.mark.parametrize("fixed, sigma, q, steps, delta, grid", SHARED_CASES)
def test_shared_steps_accountant_gives_dp_accountings_epsilon_to_the_bit(fixed, sigma, q, steps, delta, grid):
    run = (*fixed, subsampled_gaussian_event(sigma, q, steps))
    grid = grid or composition._grid_for(run, None)
    clear_composition_cache()
    assert joint_epsilon(run, delta, value_discretization_interval=grid) == _stock(run, delta, grid)
    # the steps alone, then again from the memoised PLD
    steps_only = (subsampled_gaussian_event(sigma, q, steps),)
    want = _stock(steps_only, delta, grid)
    assert compute_epsilon(sigma, q, steps, delta, value_discretization_interval=grid) == want
    clear_accounting_cache()
    assert compute_epsilon(sigma, q, steps, delta, value_discretization_interval=grid) == want


def test_the_ledger_entry_reuses_the_calibrations_steps_pld():
    fixed, q, steps = (gaussian_event(8.0),), 0.01, 100
    clear_composition_cache()
    sigma, _ = calibrate_joint(fixed, 1e-6, 1.0, sampling_rate=q, steps=steps)
    built = pld._subsampled_gaussian_pld.cache_info()
    compute_epsilon(sigma, q, steps, 5e-7)  # the steps' own entry, at their share of delta
    after = pld._subsampled_gaussian_pld.cache_info()
    assert (after.hits, after.misses) == (built.hits + 1, built.misses)
