"""Tests for joint composition (dpcondense.privacy.composition), the zCDP conversion and the
ledger's event records."""

from __future__ import annotations

import json
import math

import dp_accounting
import numpy as np
import pytest
from dp_accounting.pld import pld_privacy_accountant

from dpcondense.privacy import (
    PrivacyEvent,
    PrivacyLedger,
    PrivacyParameterError,
    calibrate_joint,
    calibrate_noise_multiplier,
    compute_epsilon,
    epsilon_gaussian,
    epsilon_to_zcdp,
    gaussian_event,
    gaussian_mechanism_sigma,
    joint_epsilon,
    laplace_event,
    subsampled_gaussian_event,
    zcdp_event,
    zcdp_to_epsilon,
)

ADD_REMOVE = dp_accounting.NeighboringRelation.ADD_OR_REMOVE_ONE

# The default DP-ZO plan on breast_cancer_wisconsin (426 training rows, batch 256, T = 200):
# 0.3 of (1, 1e-5) on the dp_mean warm start, 0.7 on the steps.
Q_DEFAULT, T_DEFAULT = 256 / 426, 200


@pytest.fixture(scope="module")
def default_plan() -> tuple[float, float]:
    """(warm start noise multiplier, steps noise multiplier) of the default split."""
    sigma_init = gaussian_mechanism_sigma(0.3, 3e-6)
    sigma_steps = calibrate_noise_multiplier(0.7, 7e-6, Q_DEFAULT, T_DEFAULT)
    return sigma_init, sigma_steps


def loose_zcdp_epsilon(rho: float, delta: float) -> float:
    return rho + 2 * math.sqrt(rho * math.log(1 / delta))


def loose_zcdp_rho(epsilon: float, delta: float) -> float:
    log_inv = math.log(1 / delta)
    return (math.sqrt(log_inv + epsilon) - math.sqrt(log_inv)) ** 2


# -------------------------------------------------------------------------------- events


def test_event_round_trips_through_its_dict_and_json():
    for event in (
        laplace_event(0.1),
        gaussian_event(12.5),
        subsampled_gaussian_event(3.0, 0.01, 100),
        zcdp_event(0.02),
    ):
        data = json.loads(json.dumps(event.to_dict()))
        assert PrivacyEvent.from_dict(data) == event
        assert set(data) == {"kind", *event.to_dict()} and data["kind"] == event.kind


@pytest.mark.parametrize(
    "data",
    [
        {"kind": "laplace"},
        {"kind": "gaussian", "noise_multiplier": 1.0, "steps": 3},
        {"kind": "subsampled_gaussian", "noise_multiplier": 1.0, "sampling_rate": 2.0, "steps": 3},
        {"kind": "zcdp", "rho": -1.0},
        {"kind": "exponential", "epsilon": 1.0},
        {"kind": "laplace", "epsilon": 0.0},
    ],
)
def test_invalid_event_is_rejected(data):
    with pytest.raises(PrivacyParameterError):
        PrivacyEvent.from_dict(data)


def test_edge_events_are_no_op_or_non_private():
    assert joint_epsilon([], 1e-5) == 0.0
    assert joint_epsilon([gaussian_event(math.inf), zcdp_event(0.0)], 1e-5, accountant="rdp") == 0.0
    assert joint_epsilon([gaussian_event(0.0), laplace_event(0.1)], 1e-5) == math.inf
    assert joint_epsilon([laplace_event(math.inf)], 1e-5, accountant="rdp") == math.inf


# -------------------------------------------------------------------------------- joint_epsilon


@pytest.mark.parametrize("accountant", ["pld", "rdp"])
@pytest.mark.parametrize(
    "sigma, q, steps, delta",
    [(1.1, 0.01, 1000, 1e-5), (44.955, Q_DEFAULT, T_DEFAULT, 7e-6), (0.8, 1.0, 10, 1e-6)],
)
def test_joint_of_the_steps_alone_is_compute_epsilon(sigma, q, steps, delta, accountant):
    got = joint_epsilon([subsampled_gaussian_event(sigma, q, steps)], delta, accountant=accountant)
    assert got == pytest.approx(
        compute_epsilon(sigma, q, steps, delta, accountant=accountant), rel=1e-12
    )


def _direct_pld(events: list[dp_accounting.DpEvent], delta: float, grid: float) -> float:
    acc = pld_privacy_accountant.PLDAccountant(ADD_REMOVE, value_discretization_interval=grid)
    for e in events:
        acc.compose(e)
    return acc.get_epsilon(delta)


def test_joint_matches_dp_accounting_and_beats_basic_composition():
    sigma_init, sigma_steps, q, steps, delta = 12.0, 33.0, Q_DEFAULT, T_DEFAULT, 1e-5
    events = [laplace_event(0.05), gaussian_event(sigma_init),
              subsampled_gaussian_event(sigma_steps, q, steps)]
    reference = _direct_pld(
        [
            dp_accounting.LaplaceDpEvent(1 / 0.05),
            dp_accounting.GaussianDpEvent(sigma_init),
            dp_accounting.SelfComposedDpEvent(
                dp_accounting.PoissonSampledDpEvent(q, dp_accounting.GaussianDpEvent(sigma_steps)),
                steps,
            ),
        ],
        delta,
        grid=1e-4,
    )
    # same events, same grid (composed in another order: floating-point noise only)
    assert joint_epsilon(events, delta, value_discretization_interval=1e-4) == pytest.approx(
        reference, rel=1e-9
    )
    pld = joint_epsilon(events, delta)  # default adaptive grid: close to the fine-grid answer
    assert reference <= pld <= reference * 1.005
    # basic composition with delta split in three is much looser
    basic = (
        0.05
        + epsilon_gaussian(sigma_init, delta / 3)
        + compute_epsilon(sigma_steps, q, steps, delta / 3)
    )
    assert pld < 0.85 * basic
    rdp = joint_epsilon(events, delta, accountant="rdp")
    assert rdp >= pld * (1 - 1e-3)
    assert rdp < basic


def test_full_batch_gaussians_merge_exactly():
    s1, s2, delta = 3.0, 4.0, 1e-6
    merged = (s1**-2 + s2**-2 + 5 / 6.0**2) ** -0.5
    events = [gaussian_event(s1), gaussian_event(s2), subsampled_gaussian_event(6.0, 1.0, 5)]
    assert joint_epsilon(events, delta) == pytest.approx(epsilon_gaussian(merged, delta), rel=1e-12)
    unmerged = _direct_pld(
        [dp_accounting.GaussianDpEvent(s) for s in (s1, s2)]
        + [dp_accounting.SelfComposedDpEvent(dp_accounting.GaussianDpEvent(6.0), 5)],
        delta,
        grid=1e-4,
    )
    assert joint_epsilon(events, delta) <= unmerged <= joint_epsilon(events, delta) * 1.01


def test_laplace_events_compose_under_both_accountants():
    events = [laplace_event(0.1), laplace_event(0.2), laplace_event(0.05)]
    reference = _direct_pld(
        [dp_accounting.LaplaceDpEvent(1 / e) for e in (0.1, 0.2, 0.05)], 1e-5, grid=1e-4
    )
    pld = joint_epsilon(events, 1e-5)
    assert pld <= 0.35 + 1e-12  # never above basic composition at delta = 0
    assert pld == pytest.approx(min(reference, 0.35), rel=2e-3)
    assert joint_epsilon(events, 1e-5, accountant="rdp") <= 0.35 + 1e-12
    # one Laplace event is epsilon-DP and no better at small delta
    assert joint_epsilon([laplace_event(0.7)], 1e-9) == pytest.approx(0.7, rel=1e-3)


def test_zcdp_events_need_the_rdp_accountant():
    with pytest.raises(PrivacyParameterError, match="rdp"):
        joint_epsilon([zcdp_event(0.02), gaussian_event(5.0)], 1e-5)
    rdp = joint_epsilon([zcdp_event(0.02)], 1e-5, accountant="rdp")
    assert zcdp_to_epsilon(0.02, 1e-5) <= rdp <= zcdp_to_epsilon(0.02, 1e-5) * 1.01


def test_default_plan_joint_epsilon_is_about_three_quarters(default_plan):
    sigma_init, sigma_steps = default_plan
    events = [gaussian_event(sigma_init), subsampled_gaussian_event(sigma_steps, Q_DEFAULT, T_DEFAULT)]
    joint = joint_epsilon(events, 1e-5)
    assert joint == pytest.approx(0.7507, abs=0.003)
    # the ledger, with the same two entries, keeps reporting basic composition as total_epsilon
    ledger = PrivacyLedger(1.0, 1e-5, n_public=426)
    ledger.spend("dpzo_steps", mechanism="poisson_subsampled_gaussian", epsilon=0.7, delta=7e-6,
                 event=events[1])
    ledger.spend("init_dp_means", mechanism="gaussian", epsilon=0.3, delta=3e-6, event=events[0])
    assert ledger.total_epsilon == pytest.approx(1.0)
    assert ledger.joint_epsilon == pytest.approx(joint, rel=1e-12)


# -------------------------------------------------------------------------------- calibrate_joint


@pytest.fixture(scope="module")
def calibrated(default_plan):
    fixed = [gaussian_event(default_plan[0])]
    result = calibrate_joint(fixed, 1e-5, 1.0, sampling_rate=Q_DEFAULT, steps=T_DEFAULT)
    return fixed, result


def _joint_with_steps(fixed, sigma: float) -> float:
    return joint_epsilon([*fixed, subsampled_gaussian_event(sigma, Q_DEFAULT, T_DEFAULT)], 1e-5)


def test_calibrate_joint_meets_the_target_minimally(calibrated, default_plan):
    fixed, (sigma, eps) = calibrated
    assert eps == _joint_with_steps(fixed, sigma) <= 1.0
    assert _joint_with_steps(fixed, sigma * (1 - 1e-3)) > 1.0
    assert eps > 0.999
    # joint accounting needs less noise than the basic split
    assert sigma < 0.8 * default_plan[1]


def test_halving_the_calibrated_noise_breaks_the_target(calibrated):
    fixed, (sigma, _) = calibrated
    assert _joint_with_steps(fixed, sigma / 2) > 1.0


def test_more_spent_elsewhere_needs_more_steps_noise(calibrated):
    _, (sigma, _) = calibrated
    bigger = [gaussian_event(gaussian_mechanism_sigma(0.5, 3e-6)), laplace_event(0.05)]
    sigma_bigger, eps = calibrate_joint(bigger, 1e-5, 1.0, sampling_rate=Q_DEFAULT, steps=T_DEFAULT)
    assert sigma_bigger > sigma * 1.05
    assert eps <= 1.0


def test_calibrate_joint_rejects_fixed_events_over_the_target():
    with pytest.raises(PrivacyParameterError, match="fixed_events.*target_epsilon=0.5"):
        calibrate_joint([laplace_event(0.6)], 1e-5, 0.5, sampling_rate=0.1, steps=10)


def test_calibrate_joint_without_fixed_events_is_calibrate_noise_multiplier():
    sigma, eps = calibrate_joint([], 1e-5, 1.0, sampling_rate=0.05, steps=300)
    reference = calibrate_noise_multiplier(1.0, 1e-5, 0.05, 300)
    assert sigma == pytest.approx(reference, abs=2e-4)
    assert eps <= 1.0
    assert calibrate_joint([], 1e-5, "inf", sampling_rate=0.05, steps=3) == (0.0, math.inf)


# -------------------------------------------------------------------------------- zCDP


RHOS = [1e-6, 1e-4, 1e-3, 0.01, 0.0208, 0.1, 1.0, 10.0, 100.0]
DELTAS = [1e-2, 1e-5, 1e-8, 1e-12]


@pytest.mark.parametrize("delta", DELTAS)
def test_zcdp_conversion_is_below_the_classical_bound(delta):
    for rho in RHOS:
        assert zcdp_to_epsilon(rho, delta) <= loose_zcdp_epsilon(rho, delta)


def test_zcdp_conversion_gains_a_fifth_at_epsilon_one():
    rho = loose_zcdp_rho(1.0, 1e-5)  # the rho MST uses today for (1, 1e-5)
    assert rho == pytest.approx(0.02082, abs=1e-5)
    assert zcdp_to_epsilon(rho, 1e-5) == pytest.approx(0.8118, abs=2e-4)
    # the other way round, (1, 1e-5) allows half as much rho again
    assert epsilon_to_zcdp(1.0, 1e-5) == pytest.approx(0.03056, abs=1e-5)


@pytest.mark.parametrize("delta", [1e-5, 1e-8])
def test_zcdp_conversion_upper_bounds_the_gaussian_mechanism(delta):
    # A Gaussian with sigma = 1/sqrt(2 rho) is rho-zCDP: the conversion must be at least its
    # exact epsilon. It cannot be within 2% of it: the conversion holds for every rho-zCDP
    # mechanism, some of which are worse than the Gaussian (see the two-point test below).
    for rho in RHOS[1:]:
        exact = epsilon_gaussian(1 / math.sqrt(2 * rho), delta)
        converted = zcdp_to_epsilon(rho, delta)
        assert exact <= converted <= 1.15 * exact


def _renyi(p: np.ndarray, q: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    log_terms = alpha[:, None] * np.log(p)[None] + (1 - alpha[:, None]) * np.log(q)[None]
    return np.logaddexp.reduce(log_terms, axis=1) / (alpha - 1)


def test_zcdp_conversion_is_tight_for_a_two_point_mechanism():
    # P = (a, 1-a), Q = (b, 1-b): rho-zCDP (checked over a dense range of orders) yet its exact
    # epsilon at delta is 9% above the Gaussian's; the conversion must cover it, and does so
    # within 0.5%.
    rho, delta = 0.020851, 1e-5
    b = math.exp(-9.1)
    a = b * math.exp(0.85)
    p, q = np.array([a, 1 - a]), np.array([b, 1 - b])
    alphas = 1 + np.logspace(-6, 6, 20000)
    assert np.all(_renyi(p, q, alphas) <= rho * alphas)
    assert np.all(_renyi(q, p, alphas) <= rho * alphas)
    exact_two_point = math.log((a - delta) / b)  # the only binding event is the first outcome
    assert exact_two_point > 1.08 * epsilon_gaussian(1 / math.sqrt(2 * rho), delta)
    assert exact_two_point <= zcdp_to_epsilon(rho, delta) <= 1.005 * exact_two_point


@pytest.mark.parametrize("delta", [1e-3, 1e-5, 1e-10])
@pytest.mark.parametrize("epsilon", [0.05, 0.5, 1.0, 4.0, 20.0])
def test_epsilon_to_zcdp_inverts_the_conversion(epsilon, delta):
    rho = epsilon_to_zcdp(epsilon, delta)
    assert rho > loose_zcdp_rho(epsilon, delta)
    assert epsilon * (1 - 1e-9) <= zcdp_to_epsilon(rho, delta) <= epsilon
    assert zcdp_to_epsilon(rho * (1 + 1e-6), delta) > epsilon


def test_zcdp_edge_cases():
    assert zcdp_to_epsilon(0.0, 1e-5) == 0.0
    assert zcdp_to_epsilon(math.inf, 1e-5) == math.inf
    assert epsilon_to_zcdp("inf", 1e-5) == math.inf
    # KL <= rho bounds total variation: tiny rho is (0, delta)-DP, as for the Gaussian
    assert zcdp_to_epsilon(1e-12, 1e-5) == 0.0 == epsilon_gaussian(1 / math.sqrt(2e-12), 1e-5)
    with pytest.raises(PrivacyParameterError):
        zcdp_to_epsilon(-1.0, 1e-5)


# -------------------------------------------------------------------------------- ledger


def test_ledger_without_events_serialises_as_before():
    ledger = PrivacyLedger(1.0, 1e-5)
    ledger.spend("count", mechanism="laplace", epsilon=0.1, delta=0.0)
    entry = json.loads(ledger.to_json())["entries"][0]
    assert "event" not in entry
    assert ledger.joint_epsilon == ledger.total_epsilon == 0.1


def test_ledger_events_round_trip_and_compose():
    ledger = PrivacyLedger(2.0, 1e-5)
    ledger.spend("count", mechanism="laplace", epsilon=0.1, delta=0.0, event=laplace_event(0.1))
    ledger.spend("init", mechanism="gaussian", epsilon=0.4, delta=3e-6,
                 event={"kind": "gaussian", "noise_multiplier": gaussian_mechanism_sigma(0.4, 3e-6)})
    ledger.spend("steps", mechanism="poisson_subsampled_gaussian", epsilon=0.8, delta=6e-6,
                 event=subsampled_gaussian_event(20.0, 0.1, 500), noise_multiplier=20.0)
    ledger.spend("other", mechanism="exponential", epsilon=0.2, delta=0.0)
    ledger.spend("marginals", mechanism="zcdp", epsilon=0.3, delta=1e-6, event=zcdp_event(0.004))
    events = [e.event for e in ledger.entries[:3]]
    # entries without an event, and the zCDP one, are added
    expected = joint_epsilon(events, 3e-6 + 6e-6) + 0.2 + 0.3
    assert ledger.joint_epsilon == pytest.approx(expected, rel=1e-12)
    assert ledger.joint_epsilon < ledger.total_epsilon
    data = json.loads(ledger.to_json())
    assert data["entries"][2]["event"] == {
        "kind": "subsampled_gaussian", "noise_multiplier": 20.0, "sampling_rate": 0.1, "steps": 500
    }
    assert "event" not in data["entries"][3]
    again = PrivacyLedger.from_dict(data)
    assert [e.event for e in again.entries] == [e.event for e in ledger.entries]
    assert again.to_json() == ledger.to_json()
    assert again.joint_epsilon == ledger.joint_epsilon


def test_ledger_rejects_a_malformed_event():
    ledger = PrivacyLedger(1.0, 1e-5)
    with pytest.raises(PrivacyParameterError):
        ledger.spend("x", mechanism="gaussian", epsilon=0.1, delta=1e-6, event={"kind": "gaussian"})
    assert ledger.entries == ()


def test_pld_ledger_reports_and_enforces_the_joint_epsilon():
    """A ledger with composition='pld' totals its entries jointly and refuses a spend past the joint target."""
    import dp_accounting
    from dp_accounting.pld import pld_privacy_accountant

    from dpcondense.privacy import PrivacyBudgetExceededError, PrivacyLedger
    from dpcondense.privacy.composition import gaussian_event, subsampled_gaussian_event

    ledger = PrivacyLedger(1.0, 1e-5, composition="pld")
    ledger.spend("init", mechanism="gaussian", epsilon=0.3, delta=3e-6, event=gaussian_event(12.0))
    ledger.spend("steps", mechanism="subsampled_gaussian", epsilon=0.7, delta=7e-6,
                 event=subsampled_gaussian_event(40.0, 0.6, 200))
    acc = pld_privacy_accountant.PLDAccountant(value_discretization_interval=1e-4)
    acc.compose(dp_accounting.GaussianDpEvent(12.0))
    acc.compose(dp_accounting.PoissonSampledDpEvent(0.6, dp_accounting.GaussianDpEvent(40.0)), 200)
    independent = acc.get_epsilon(1e-5)
    assert ledger.total_epsilon == pytest.approx(independent, rel=2e-3)
    assert ledger.total_epsilon < ledger.basic_epsilon == pytest.approx(1.0)
    data = ledger.to_dict()
    assert data["composition"] == "pld" and data["epsilon"] == ledger.total_epsilon
    assert PrivacyLedger.from_dict(data).total_epsilon == ledger.total_epsilon
    with pytest.raises(PrivacyBudgetExceededError):  # a spend whose joint ε passes the target
        ledger.spend("more", mechanism="gaussian", epsilon=0.5, delta=0.0, event=gaussian_event(1.0))
    with pytest.raises(PrivacyParameterError, match="needs the event"):
        ledger.spend("blind", mechanism="gaussian", epsilon=0.01, delta=0.0)
