"""Tests for dpcondense.privacy: accountant, calibration, analytic Gaussian, ledger."""

from __future__ import annotations

import json
import math

import dp_accounting
import numpy as np
import pytest
from dp_accounting.pld import pld_privacy_accountant
from dp_accounting.rdp import rdp_privacy_accountant
from scipy.stats import norm

from dpcondense import privacy
from dpcondense.privacy import (
    PrivacyBudgetExceededError,
    PrivacyLedger,
    PrivacyParameterError,
    calibrate_noise_multiplier,
    compute_epsilon,
    epsilon_gaussian,
    gaussian_mechanism_sigma,
    split_budget,
    validate_privacy_params,
)

ADD_REMOVE = dp_accounting.NeighboringRelation.ADD_OR_REMOVE_ONE


def reference_epsilon(sigma: float, q: float, steps: int, delta: float, accountant: str) -> float:
    """dp_accounting used directly: T-fold Poisson-subsampled Gaussian, add/remove-one."""
    event = dp_accounting.SelfComposedDpEvent(
        dp_accounting.PoissonSampledDpEvent(q, dp_accounting.GaussianDpEvent(sigma)), steps
    )
    if accountant == "pld":
        grid = privacy.pld_discretization_interval(sigma, q)
        acc = pld_privacy_accountant.PLDAccountant(ADD_REMOVE, value_discretization_interval=grid)
    else:
        acc = rdp_privacy_accountant.RdpAccountant(list(privacy.RDP_ORDERS), ADD_REMOVE)
    return acc.compose(event).get_epsilon(delta)


def reference_epsilon_fixed_grid(
    sigma: float, q: float, steps: int, delta: float, grid: float
) -> float:
    event = dp_accounting.SelfComposedDpEvent(
        dp_accounting.PoissonSampledDpEvent(q, dp_accounting.GaussianDpEvent(sigma)), steps
    )
    acc = pld_privacy_accountant.PLDAccountant(ADD_REMOVE, value_discretization_interval=grid)
    return acc.compose(event).get_epsilon(delta)


def analytic_gaussian_delta(epsilon: float, sigma: float, sensitivity: float) -> float:
    """Balle & Wang (2018) Thm 8, written out directly with the normal CDF."""
    a = sensitivity / (2 * sigma) - epsilon * sigma / sensitivity
    b = -sensitivity / (2 * sigma) - epsilon * sigma / sensitivity
    return norm.cdf(a) - math.exp(epsilon) * norm.cdf(b)


# ---------------------------------------------------------------------------------- accountant


@pytest.mark.parametrize("accountant", ["pld", "rdp"])
@pytest.mark.parametrize(
    "sigma, q, steps", [(1.0, 0.01, 100), (0.8, 0.05, 500), (2.0, 0.1, 50)]
)
def test_compute_epsilon_matches_dp_accounting(accountant, sigma, q, steps):
    expected = reference_epsilon(sigma, q, steps, 1e-5, accountant)
    got = compute_epsilon(sigma, q, steps, 1e-5, accountant=accountant)
    assert got == pytest.approx(expected, rel=1e-9)


@pytest.mark.parametrize("sigma, q, steps", [(1.1, 0.02, 300), (5.0, 0.01, 1)])
def test_rdp_order_grid_is_at_least_as_tight_as_dp_accounting_default(sigma, q, steps):
    event = dp_accounting.SelfComposedDpEvent(
        dp_accounting.PoissonSampledDpEvent(q, dp_accounting.GaussianDpEvent(sigma)), steps
    )
    default = rdp_privacy_accountant.RdpAccountant().compose(event).get_epsilon(1e-5)
    ours = compute_epsilon(sigma, q, steps, 1e-5, accountant="rdp")
    assert ours <= default * (1 + 1e-12)
    # Never below the tight (PLD) value: the grid changes looseness, not validity.
    assert ours >= compute_epsilon(sigma, q, steps, 1e-5, accountant="pld") * 0.99


@pytest.mark.parametrize("sigma, q, steps", [(20.0, 0.01, 2000), (1.0, 0.05, 300)])
def test_adaptive_pld_grid_is_close_to_a_fine_grid(sigma, q, steps):
    grid = privacy.pld_discretization_interval(sigma, q)
    assert privacy.PLD_MIN_DISCRETIZATION_INTERVAL <= grid
    assert grid <= privacy.PLD_MAX_DISCRETIZATION_INTERVAL
    fine = reference_epsilon_fixed_grid(sigma, q, steps, 1e-5, grid / 10)
    got = compute_epsilon(sigma, q, steps, 1e-5)
    assert fine <= got <= fine * 1.002


def test_fixed_coarse_grid_overstates_epsilon_when_noise_is_large():
    # Why the grid adapts: at sigma = 20 a fixed 1e-3 grid inflates epsilon by > 20%.
    adaptive = compute_epsilon(20.0, 0.01, 2000, 1e-5)
    fixed = compute_epsilon(20.0, 0.01, 2000, 1e-5, value_discretization_interval=1e-3)
    assert fixed > 1.2 * adaptive


def test_rdp_is_looser_than_pld_in_a_typical_setting():
    pld = compute_epsilon(1.0, 0.01, 1000, 1e-5, accountant="pld")
    rdp = compute_epsilon(1.0, 0.01, 1000, 1e-5, accountant="rdp")
    assert pld < rdp < 1.5 * pld


def test_more_noise_less_epsilon_more_steps_more_epsilon():
    by_sigma = [compute_epsilon(s, 0.02, 200, 1e-5) for s in (0.7, 1.0, 1.5, 3.0)]
    assert all(a > b for a, b in zip(by_sigma, by_sigma[1:]))
    by_steps = [compute_epsilon(1.0, 0.02, t, 1e-5) for t in (50, 200, 800)]
    assert all(a < b for a, b in zip(by_steps, by_steps[1:]))


def test_full_batch_is_the_plain_gaussian_mechanism():
    # T Gaussian releases with noise multiplier s compose exactly to one with s / sqrt(T).
    sigma, steps, delta = 4.0, 16, 1e-5
    exact = dp_accounting.get_epsilon_gaussian(sigma / math.sqrt(steps), delta)
    pld = compute_epsilon(sigma, 1.0, steps, delta, accountant="pld")
    rdp = compute_epsilon(sigma, 1.0, steps, delta, accountant="rdp")
    assert pld == pytest.approx(exact, rel=1e-8)
    assert rdp > exact
    # The discretised PLD of the same event agrees, from above.
    event = dp_accounting.SelfComposedDpEvent(dp_accounting.GaussianDpEvent(sigma), steps)
    discretised = pld_privacy_accountant.PLDAccountant(
        ADD_REMOVE, value_discretization_interval=1e-3
    )
    assert exact <= discretised.compose(event).get_epsilon(delta) <= exact + 0.01
    assert epsilon_gaussian(sigma / math.sqrt(steps), delta) == pytest.approx(exact, rel=1e-8)


def test_no_noise_is_infinite_epsilon():
    assert compute_epsilon(0.0, 0.01, 100, 1e-5) == math.inf
    assert compute_epsilon(0.0, 0.01, 100, 1e-5, accountant="rdp") == math.inf


# --------------------------------------------------------------------------------- calibration


@pytest.mark.parametrize(
    "target, q, steps, accountant",
    [
        (1.0, 0.01, 200, "pld"),
        (4.0, 0.05, 100, "pld"),
        (8.0, 0.02, 1000, "pld"),
        (2.0, 0.02, 300, "rdp"),
    ],
)
def test_calibration_is_tight(target, q, steps, accountant):
    delta = 1e-5
    sigma = calibrate_noise_multiplier(target, delta, q, steps, accountant=accountant)
    assert compute_epsilon(sigma, q, steps, delta, accountant=accountant) <= target
    assert compute_epsilon(sigma - 0.01, q, steps, delta, accountant=accountant) > target
    assert compute_epsilon(sigma - 1e-3, q, steps, delta, accountant=accountant) > target


def test_calibration_infinite_budget_means_no_noise():
    assert calibrate_noise_multiplier(math.inf, 1e-5, 0.01, 100) == 0.0
    assert calibrate_noise_multiplier("inf", 1e-5, 0.01, 100) == 0.0


def test_calibration_full_batch_matches_analytic_gaussian():
    # q = 1, T = 1: calibration recovers the exact analytic sigma (to its tolerance 1e-4).
    sigma = calibrate_noise_multiplier(1.0, 1e-5, 1.0, 1)
    assert sigma == pytest.approx(dp_accounting.get_sigma_gaussian(1.0, 1e-5), abs=2e-4)


# ------------------------------------------------------------------------ analytic Gaussian


@pytest.mark.parametrize(
    "epsilon, delta, sensitivity", [(0.5, 1e-5, 1.0), (1.0, 1e-6, 2.5), (5.0, 1e-3, 0.1)]
)
def test_gaussian_mechanism_sigma_is_exact(epsilon, delta, sensitivity):
    sigma = gaussian_mechanism_sigma(epsilon, delta, sensitivity)
    assert analytic_gaussian_delta(epsilon, sigma, sensitivity) <= delta * (1 + 1e-7)
    assert analytic_gaussian_delta(epsilon, sigma * (1 - 1e-6), sensitivity) > delta
    reference = sensitivity * dp_accounting.get_sigma_gaussian(epsilon, delta)
    assert sigma == pytest.approx(reference, rel=1e-8)
    assert epsilon_gaussian(sigma, delta, sensitivity) == pytest.approx(epsilon, rel=1e-8)


def test_analytic_gaussian_beats_classical_bound():
    epsilon, delta = 0.5, 1e-5
    classical = math.sqrt(2 * math.log(1.25 / delta)) / epsilon
    assert gaussian_mechanism_sigma(epsilon, delta) < classical


def test_epsilon_gaussian_edge_cases():
    assert epsilon_gaussian(0.0, 1e-5) == math.inf
    assert gaussian_mechanism_sigma("inf", 1e-5) == 0.0
    # Huge noise: already (0, delta)-DP.
    assert epsilon_gaussian(1e6, 1e-5) == 0.0


# ---------------------------------------------------------------------------------- validation


@pytest.mark.parametrize("value", [math.inf, "inf", "Infinity", " INF "])
def test_infinite_epsilon_parses(value):
    assert validate_privacy_params(epsilon=value, delta=1e-5)["epsilon"] == math.inf


def test_validate_returns_parsed_values():
    out = validate_privacy_params(
        epsilon="2.5", delta=1e-5, sampling_rate=1, clip=1.0, steps=100.0, n=9105
    )
    assert out == {
        "epsilon": 2.5, "delta": 1e-5, "sampling_rate": 1.0, "clip": 1.0, "steps": 100, "n": 9105
    }
    assert isinstance(out["steps"], int)


def test_delta_message_names_bound_from_n():
    with pytest.raises(PrivacyParameterError) as info:
        validate_privacy_params(epsilon=1.0, delta=0.01, n=9105)
    message = str(info.value)
    assert "delta=0.01" in message and "1/n" in message and "n=9105" in message
    assert "0.00011" in message


BAD_PARAMETERS = [
    ("epsilon", lambda: validate_privacy_params(epsilon=0, delta=1e-5)),
    ("epsilon", lambda: validate_privacy_params(epsilon=-1.0, delta=1e-5)),
    ("epsilon", lambda: validate_privacy_params(epsilon=float("nan"), delta=1e-5)),
    ("epsilon", lambda: validate_privacy_params(epsilon="lots", delta=1e-5)),
    ("epsilon", lambda: validate_privacy_params(epsilon=None, delta=1e-5)),
    ("delta", lambda: validate_privacy_params(epsilon=1.0, delta=0.0)),
    ("delta", lambda: validate_privacy_params(epsilon=1.0, delta=1.0)),
    ("delta", lambda: validate_privacy_params(epsilon=1.0, delta=1e-3, n=2000)),
    ("sampling_rate", lambda: validate_privacy_params(epsilon=1, delta=1e-5, sampling_rate=0)),
    ("sampling_rate", lambda: validate_privacy_params(epsilon=1, delta=1e-5, sampling_rate=1.5)),
    ("clip", lambda: validate_privacy_params(epsilon=1, delta=1e-5, clip=0.0)),
    ("clip", lambda: validate_privacy_params(epsilon=1, delta=1e-5, clip=-2.0)),
    ("clip", lambda: validate_privacy_params(epsilon=1, delta=1e-5, clip=math.inf)),
    ("steps", lambda: validate_privacy_params(epsilon=1, delta=1e-5, steps=0)),
    ("steps", lambda: validate_privacy_params(epsilon=1, delta=1e-5, steps=2.5)),
    ("steps", lambda: validate_privacy_params(epsilon=1, delta=1e-5, steps="10")),
    ("n", lambda: validate_privacy_params(epsilon=1, delta=1e-5, n=0)),
    ("noise_multiplier", lambda: compute_epsilon(-1.0, 0.01, 10, 1e-5)),
    ("sampling_rate", lambda: compute_epsilon(1.0, 0.0, 10, 1e-5)),
    ("steps", lambda: compute_epsilon(1.0, 0.01, 0, 1e-5)),
    ("delta", lambda: compute_epsilon(1.0, 0.01, 10, 0.0)),
    ("accountant", lambda: compute_epsilon(1.0, 0.01, 10, 1e-5, accountant="moments")),
    ("target_epsilon", lambda: calibrate_noise_multiplier(0.0, 1e-5, 0.01, 10)),
    ("tol", lambda: calibrate_noise_multiplier(1.0, 1e-5, 0.01, 10, tol=0.0)),
    ("sensitivity", lambda: gaussian_mechanism_sigma(1.0, 1e-5, sensitivity=0.0)),
    ("epsilon", lambda: gaussian_mechanism_sigma(-1.0, 1e-5)),
    ("sigma", lambda: epsilon_gaussian(-1.0, 1e-5)),
    ("target_delta", lambda: split_budget(1.0, 2.0, {"a": 1.0})),
    ("shares['a']", lambda: split_budget(1.0, 1e-5, {"a": -1.0, "b": 1.0})),
    ("shares", lambda: split_budget(1.0, 1e-5, {"a": 0.0})),
    ("delta", lambda: PrivacyLedger(1.0, 1e-3, n_public=2000)),
    ("epsilon", lambda: PrivacyLedger(1.0, 1e-5).spend("x", mechanism="m", epsilon=-1, delta=0)),
    ("delta", lambda: PrivacyLedger(1.0, 1e-5).spend("x", mechanism="m", epsilon=0, delta=-1)),
]


@pytest.mark.parametrize("name, call", BAD_PARAMETERS)
def test_bad_parameter_raises_naming_it(name, call):
    with pytest.raises(PrivacyParameterError) as info:
        call()
    assert f"{name}=" in str(info.value)
    assert isinstance(info.value, ValueError)


# -------------------------------------------------------------------------------------- ledger


def test_spend_over_budget_raises_and_records_nothing():
    ledger = PrivacyLedger(1.0, 1e-5)
    ledger.spend("init", mechanism="gaussian", epsilon=0.4, delta=0.0)
    with pytest.raises(PrivacyBudgetExceededError, match="zo_steps"):
        ledger.spend("zo_steps", mechanism="subsampled_gaussian", epsilon=0.7, delta=1e-5)
    assert len(ledger.entries) == 1
    assert ledger.total_epsilon == pytest.approx(0.4)
    assert ledger.remaining_epsilon == pytest.approx(0.6)


def test_spend_over_delta_raises():
    ledger = PrivacyLedger(1.0, 1e-5)
    with pytest.raises(PrivacyBudgetExceededError, match="delta"):
        ledger.spend("zo_steps", mechanism="subsampled_gaussian", epsilon=0.5, delta=2e-5)


def test_infinite_spend_in_a_private_ledger_raises():
    with pytest.raises(PrivacyBudgetExceededError):
        PrivacyLedger(1.0, 1e-5).spend("x", mechanism="none", epsilon=math.inf, delta=0.0)


@pytest.mark.parametrize(
    "shares",
    [
        {"init": 0.1, "zo_steps": 0.9},
        {"count": 1.0, "init": 3.0, "zo_steps": 7.0},
        {"a": 1 / 3, "b": 1 / 7, "unused": 0.0, "c": 0.5},
    ],
)
@pytest.mark.parametrize("target_epsilon", [0.3, 1.0, 7.7])
def test_split_budget_sums_to_target_and_fits_the_ledger(shares, target_epsilon):
    delta = 1e-5
    parts = split_budget(target_epsilon, delta, shares)
    assert list(parts) == list(shares)
    assert math.fsum(e for e, _ in parts.values()) == pytest.approx(target_epsilon, rel=1e-14)
    assert math.fsum(d for _, d in parts.values()) == pytest.approx(delta, rel=1e-14)
    total = sum(shares.values())
    for name, (e, d) in parts.items():
        assert e == pytest.approx(target_epsilon * shares[name] / total, rel=1e-12, abs=1e-15)
        assert d == pytest.approx(delta * shares[name] / total, rel=1e-12, abs=1e-20)
    ledger = PrivacyLedger(target_epsilon, delta)
    for name, (e, d) in parts.items():
        ledger.spend(name, mechanism="gaussian", epsilon=e, delta=d)
    assert ledger.remaining_epsilon == pytest.approx(0.0, abs=1e-12)
    with pytest.raises(PrivacyBudgetExceededError):
        ledger.spend("one_more", mechanism="gaussian", epsilon=1e-6, delta=0.0)


def test_split_infinite_budget():
    parts = split_budget("inf", 1e-5, {"init": 0.2, "zo_steps": 0.8})
    assert parts["init"][0] == parts["zo_steps"][0] == math.inf
    assert parts["init"][1] + parts["zo_steps"][1] == pytest.approx(1e-5)


def _example_ledger() -> PrivacyLedger:
    ledger = PrivacyLedger(2.0, 1e-5, n_public=9105)
    ledger.spend("dp_count", mechanism="laplace", epsilon=0.1, delta=0.0, sensitivity=1.0)
    ledger.spend(
        "zo_steps",
        mechanism="subsampled_gaussian",
        epsilon=1.8,
        delta=1e-5,
        noise_multiplier=1.23,
        sampling_rate=0.02,
        steps=500,
        accountant="pld",
        sensitivity=1.0,
        clip=1.0,
        directions=4,
    )
    return ledger


def test_to_dict_reports_main_mechanism():
    d = _example_ledger().to_dict()
    assert d["epsilon"] == pytest.approx(1.9)
    assert d["target_epsilon"] == 2.0
    assert d["delta"] == 1e-5
    assert (d["noise_multiplier"], d["sampling_rate"], d["steps"], d["accountant"]) == (
        1.23, 0.02, 500, "pld"
    )
    assert d["private"] is True
    assert d["composition"] == "basic"
    assert [e["purpose"] for e in d["entries"]] == ["dp_count", "zo_steps"]
    assert d["entries"][1]["directions"] == 4


def test_json_round_trip(tmp_path):
    ledger = _example_ledger()
    path = tmp_path / "sub" / "ledger.json"
    text = ledger.to_json(path)
    assert path.read_text().strip() == text
    assert list(json.loads(text)) == sorted(json.loads(text))
    restored = PrivacyLedger.from_json(path)
    assert restored.to_dict() == ledger.to_dict()
    assert restored.entries == ledger.entries


def _reject_constant(name: str):
    raise AssertionError(f"non-standard JSON constant {name}")


def test_non_private_ledger_serialises_inf_as_string(tmp_path):
    ledger = PrivacyLedger("inf", 1e-5)
    ledger.spend("zo_steps", mechanism="none", epsilon=math.inf, delta=0.0, noise_multiplier=0.0)
    d = ledger.to_dict()
    assert d["private"] is False
    assert d["label"] == "non-private (epsilon=inf)"
    text = ledger.to_json(tmp_path / "ledger.json")
    parsed = json.loads(text, parse_constant=_reject_constant)  # strict JSON: no bare Infinity
    assert parsed["epsilon"] == "inf" and parsed["target_epsilon"] == "inf"
    assert parsed["entries"][0]["epsilon"] == "inf"
    restored = PrivacyLedger.from_dict(parsed)
    assert restored.target_epsilon == math.inf and restored.total_epsilon == math.inf
    assert restored.to_dict() == d


def test_mark_not_dp_survives_round_trip():
    ledger = _example_ledger()
    ledger.mark_not_dp("feature bounds derived from the private data")
    assert ledger.private is False
    assert "feature bounds derived" in ledger.label
    restored = PrivacyLedger.from_dict(json.loads(ledger.to_json()))
    assert restored.private is False
    assert restored.not_dp_reasons == ledger.not_dp_reasons


def test_from_dict_rejects_an_overspent_ledger():
    d = _example_ledger().to_dict()
    d["target_epsilon"] = 1.0
    with pytest.raises(PrivacyBudgetExceededError):
        PrivacyLedger.from_dict(d)


def test_empty_ledger_summary():
    d = PrivacyLedger(1.0, 1e-5).to_dict()
    assert d["epsilon"] == 0.0 and d["entries"] == [] and d["noise_multiplier"] is None
    assert np.isfinite(d["remaining_epsilon"])
