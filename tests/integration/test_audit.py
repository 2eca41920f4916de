"""The privacy audit — the bounds, the canary, the white-box checks, and that it catches broken mechanisms."""

from __future__ import annotations

import itertools
import json
import math

import numpy as np
import pytest
from scipy.optimize import brentq
from scipy.stats import binom

from dpcondense.data import from_frame, train_test_split
from dpcondense.methods import METHODS
from dpcondense.methods.dpzo import PrivateRows
from dpcondense.privacy.audit import (
    choose_threshold,
    clopper_pearson,
    craft_canary,
    epsilon_lower_bound,
    guesses,
    max_certifiable_epsilon,
    one_run_bound,
    one_run_epsilon_lower_bound,
    one_run_guesses,
    one_run_p_value,
    run_audit,
    run_whitebox_audit,
)
from dpcondense.privacy.audit.mutants import scaled_step_noise

#: tiny runs: the audit is about the mechanism (one DP-ZO run ≈ 24 tree fits)
SMALL = {"steps": 6, "directions": 2}
DELTA = 1e-5


# ------------------------------------------------------------------------------ the statistics


def test_clopper_pearson_matches_the_closed_forms():
    # all successes / no successes have closed forms: (α/2)^(1/n) and 1 − (α/2)^(1/n)
    lo, hi = clopper_pearson(20, 20)
    assert hi == 1.0 and lo == pytest.approx(0.025 ** (1 / 20))
    lo, hi = clopper_pearson(0, 10)
    assert lo == 0.0 and hi == pytest.approx(1 - 0.025 ** (1 / 10))
    lo, hi = clopper_pearson(5, 10)
    assert lo == pytest.approx(0.187086, abs=1e-5) and hi == pytest.approx(0.812914, abs=1e-5)


def test_epsilon_lower_bound_perfect_attack_and_no_attack():
    perfect = epsilon_lower_bound(20, 20, 0, 20, delta=DELTA)
    tpr_lo = 0.025 ** (1 / 20)
    assert perfect == pytest.approx(math.log((tpr_lo - DELTA) / (1 - tpr_lo)))
    assert perfect == max_certifiable_epsilon(20, 20, delta=DELTA)
    assert epsilon_lower_bound(10, 20, 10, 20, delta=DELTA) == 0.0  # a coin flip certifies nothing


def test_epsilon_lower_bound_is_conservative_on_both_terms():
    # an attack that never guessed a member right proves nothing; taking FPR_lo / TPR_hi in the
    # second term (a common mis-statement) would certify ε ≈ 0.73 here
    assert epsilon_lower_bound(0, 5, 1, 5, delta=DELTA) == 0.0
    # all members flagged, half the non-members too: the second term (rates at their pessimistic
    # ends FPR_hi, TPR_lo) is the binding one
    tpr_lo, _ = clopper_pearson(20, 20)
    _, fpr_hi = clopper_pearson(10, 20)
    second = math.log((1 - fpr_hi - DELTA) / (1 - tpr_lo))
    assert second > math.log((tpr_lo - DELTA) / fpr_hi) > 0
    assert epsilon_lower_bound(20, 20, 10, 20, delta=DELTA) == pytest.approx(second)


def test_max_certifiable_grows_with_trials():
    values = [max_certifiable_epsilon(n, n, delta=DELTA) for n in (5, 10, 20, 50, 100)]
    assert values[0] == 0.0 and all(a < b for a, b in itertools.pairwise(values))
    assert 1.5 < max_certifiable_epsilon(20, 20, delta=DELTA) < 1.7


def test_choose_threshold_finds_a_reversed_statistic():
    scores = np.array([0.1, 0.2, 0.3, 0.9, 1.0, 1.1])
    members = np.array([True, True, True, False, False, False])  # members score *low*
    t, direction = choose_threshold(scores, members, delta=DELTA)
    assert direction == -1 and 0.3 < t < 0.9
    assert (guesses(scores, t, direction) == members).all()


# ------------------------------------------------------------------------------ the canary


def test_canary_is_a_valid_corner_row_with_the_rarer_label(datasets):
    ds = datasets["pima_diabetes"]
    train, _ = train_test_split(ds, seed=0)
    canary = craft_canary(train)
    row = from_frame(canary, ds.schema, source="canary")  # a row the schema accepts
    assert row.y[0] == int(train.y.mean() < 0.5)  # the rarer class (diabetes)
    for f in ds.schema.features:
        value = canary[f.name].iloc[0]
        if f.type == "numeric" and not np.isnan(value):
            assert value in f.bounds  # at a bound: a corner of the public domain
    # missing where the rows are mostly observed (its indicator is a direction the rows rarely use)
    assert np.isnan(canary["Glucose"].iloc[0]) and not np.isnan(canary["Pregnancies"].iloc[0])
    X = row.encoded()[0]
    enc = train.encoded()
    assert np.linalg.norm(enc - X, axis=1).min() > 1.0  # far from every audit row


def test_survival_canary_is_an_early_event(datasets):
    ds = datasets["gbsg"]
    canary = craft_canary(train_test_split(ds, seed=0)[0])
    row = from_frame(canary, ds.schema, source="canary")
    assert row.event[0] == 1 and row.time[0] < ds.schema.outcome.time_grid()[0]


# ------------------------------------------------------------------------------ the audit end to end


def test_dpzo_audit_stays_below_the_claimed_epsilon():
    res = run_audit(
        method="dpzo", dataset="pima_diabetes", epsilon=0.5, trials=40, calibration_fraction=0.25, size=3,
        method_params=SMALL, canaries=500,
    )
    assert res.public_randomness_fixed and res.evaluation_trials == 30
    assert res.audit_rows == 200 and res.sampling_rate == pytest.approx(64 / 200)  # subsampled runs
    # the audit could have certified more than the claim (not vacuous) but did not
    assert res.max_certifiable_epsilon > res.epsilon_claimed
    assert res.epsilon_lower_bound <= res.epsilon_claimed
    assert res.ledger_label.startswith("(0.5, 1e-05)-DP")  # seeded noise: labelled not for release
    white = res.whitebox
    assert white is not None and white["passed"] and white["fits"] == 40
    assert white["claim"]["sampling_rate"] == pytest.approx(0.32)
    assert white["one_run"]["canaries"] == 40 * 500
    assert white["one_run"]["max_certifiable_epsilon"] > res.epsilon_claimed


def test_audit_catches_dpzo_with_noise_disabled():
    """The ledger still claims ε = 1, but with no noise (and no clipping) and every row in every batch
    (50 audit rows, q = 1) the canary's influence is deterministic: every IN release differs from every
    OUT release and the black-box audit certifies ε > 1.5; the white-box checks fail as well."""
    res = run_audit(
        method="dpzo", dataset="pima_diabetes", epsilon=1.0, trials=60, calibration_fraction=0.2, size=3,
        n_rows=50, method_params={**SMALL, "_unsafe_disable_noise": True}, canaries=200,
    )
    assert res.ledger_label.startswith("(1, 1e-05)-DP")  # the broken run still claims ε = 1
    assert res.sampling_rate == 1.0
    assert res.true_positives == res.members_evaluated and res.false_positives == 0
    assert res.epsilon_lower_bound > 1.5 > res.epsilon_claimed
    white = res.whitebox
    assert not white["passed"] and not white["noise"]["passed"] and not white["parameters"]["passed"]
    assert white["one_run"]["epsilon_lower_bound"] > res.epsilon_claimed


def test_audit_cli_json(capsys):
    from dpcondense.cli import main

    rc = main([
        "audit", "--method", "dpzo", "--dataset", "breast_cancer_wisconsin", "--epsilon", "1", "--trials", "8",
        "--size", "2", "--rows", "20", "--param", "steps=2", "--param", "directions=2", "--json",
    ])
    out = json.loads(capsys.readouterr().out)
    assert rc == 0
    for key in ("epsilon_claimed", "epsilon_lower_bound", "trials", "dcr_train_median", "dcr_test_median"):
        assert key in out
    assert out["epsilon_claimed"] == 1.0 and out["trials"] == 8 and out["audit_rows"] == 20
    assert out["dcr_train_median"] > 0 and out["dcr_test_median"] > 0
    assert out["whitebox"]["passed"] and out["whitebox"]["noise"]["passed"]


def test_whitebox_only_cli_reports_and_fails_on_halved_noise(capsys):
    from dpcondense.cli import main

    argv = ["audit", "--method", "dpzo", "--dataset", "pima_diabetes", "--epsilon", "1", "--trials", "1",
            "--whitebox-only", "--canaries", "500", "--no-progress"]
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert "q = 0.32" in text and "one-run bound" in text and "FAIL" not in text
    with scaled_step_noise(0.5):
        assert main(argv) == 1
    assert "noise: measured std / claimed σC = 0.5" in capsys.readouterr().out


def test_audit_rejects_bad_settings():
    with pytest.raises(ValueError, match="trials"):
        run_audit(method="dpzo", dataset="pima_diabetes", epsilon=1.0, trials=3)
    with pytest.raises(ValueError, match="no parameter"):
        run_audit(method="dpzo", dataset="pima_diabetes", epsilon=1.0, trials=8, method_params={"stepz": 2})
    with pytest.raises(ValueError, match="epsilon"):
        run_audit(method="dpzo", dataset="pima_diabetes", epsilon=0.0, trials=8)
    with pytest.raises(ValueError, match="fixed"):
        run_audit(method="dpzo", dataset="pima_diabetes", epsilon=1.0, trials=8, statistic="distance", threshold="fixed")


# ------------------------------------------------------------------------------ the one-run bound


def _p_value_direct(m, r, v, eps, delta):
    """Theorem 5.2 of Steinke, Nasr & Jagielski (2023) written out with tail probabilities only."""
    acc = math.exp(eps) / (1 + math.exp(eps))

    def f(w):  # P[Binomial(r, acc) >= w]
        return 1.0 if w <= 0 else float(binom.sf(w - 1, r, acc))

    gap = max(((f(v - i) - f(v)) / i for i in range(1, m + 1)), default=0.0)
    return min(1.0, f(v) + 2 * m * delta * gap)


@pytest.mark.parametrize("m, r, v, eps, delta", [
    (1000, 100, 80, 0.5, 1e-5), (1000, 100, 80, 1.0, 1e-3), (10000, 200, 170, 1.2, 1e-5), (50, 50, 50, 2.0, 0.0),
    (100, 20, 0, 0.3, 1e-5),
])
def test_one_run_p_value_matches_the_theorem_computed_directly(m, r, v, eps, delta):
    assert one_run_p_value(m, r, v, eps, delta) == pytest.approx(_p_value_direct(m, r, v, eps, delta), rel=1e-9, abs=1e-15)


def test_one_run_bound_against_binomial_tails():
    # δ = 0, every guess right: P[Binomial(r, a) >= r] = a^r = p gives a = p^(1/r), ε = log(a / (1 − a))
    for r in (10, 50, 200):
        a = 0.05 ** (1 / r)
        assert one_run_epsilon_lower_bound(1000, r, r, delta=0.0, p=0.05) == pytest.approx(math.log(a / (1 - a)), abs=1e-6)
    # δ = 0 in general: the ε at which the binomial tail equals p
    r, v = 300, 230
    direct = brentq(lambda e: binom.sf(v - 1, r, 1 / (1 + math.exp(-e))) - 0.05, 0.0, 10.0)
    assert one_run_epsilon_lower_bound(1000, r, v, delta=0.0, p=0.05) == pytest.approx(direct, abs=1e-6)
    # δ > 0 only lowers it; chance accuracy certifies nothing
    assert one_run_epsilon_lower_bound(10000, r, v, delta=1e-5, p=0.05) < direct
    assert one_run_epsilon_lower_bound(1000, 100, 50, delta=1e-5) == 0.0


def test_one_run_bound_is_valid_and_nearly_tight_on_randomized_response():
    """ε-randomized response over m independent canaries is exactly ε-DP per canary: the 95 % bound
    may exceed ε in at most ~5 % of repetitions, and with many canaries it comes close to ε."""
    eps, m, reps = 1.0, 2000, 300
    rng = np.random.default_rng(5)
    bounds = []
    for _ in range(reps):
        members = rng.random(m) < 0.5
        truthful = rng.random(m) < math.exp(eps) / (1 + math.exp(eps))
        said = np.where(truthful, members, ~members)
        bounds.append(one_run_epsilon_lower_bound(m, m, int((said == members).sum()), delta=0.0))
    bounds = np.array(bounds)
    assert (bounds > eps).mean() <= 0.05 + 3 * math.sqrt(0.05 * 0.95 / reps)
    assert np.median(bounds) > 0.85 * eps


def test_one_run_guesses_and_bound_from_scores():
    scores = np.array([5.0, 4.0, 3.0, 2.0, 1.0, 0.0])
    assert one_run_guesses(scores, 2, 1).tolist() == [1, 1, 0, 0, 0, -1]
    rng = np.random.default_rng(0)
    members = rng.random(4000) < 0.5
    perfect = one_run_bound(members.astype(float) + rng.random(4000) * 0.1, members, delta=1e-5)
    assert perfect.correct == perfect.guesses and perfect.epsilon_lower_bound == perfect.max_certifiable_epsilon > 2
    blind = one_run_bound(rng.random(4000), members, delta=1e-5)
    assert blind.epsilon_lower_bound < 0.5 and blind.candidates == 3


# ------------------------------------------------------------------------------ the white-box audit

#: one DP-ZO fit at ε = 1 on 200 rows (q = 0.32, 20 steps, 4 directions) with 2000 gradient canaries
WHITEBOX = {"dataset": "pima_diabetes", "epsilon": 1.0, "runs": 1, "canaries": 2000}


def test_whitebox_audit_passes_correct_dpzo():
    audit = run_whitebox_audit(**WHITEBOX)
    r = audit.result
    assert audit.sampling_rate == pytest.approx(0.32) and r.claim.sampling_rate == pytest.approx(0.32)  # q < 1
    assert r.steps == 20 and r.noise.coordinates == 20 * 4
    assert r.noise.passed and 0.7 < r.noise.ratio < 1.3
    assert r.sampling.passed and r.sampling.canaries_tracked > 900 and r.parameters.passed
    assert r.one_run.epsilon_lower_bound <= r.claim.epsilon < r.one_run.max_certifiable_epsilon
    assert audit.passed


def test_whitebox_audit_flags_halved_noise():
    with scaled_step_noise(0.5):
        audit = run_whitebox_audit(**WHITEBOX)
    r = audit.result
    # the steps are handed the ledger's σ (parameters agree) but draw half the noise
    assert r.parameters.passed and not r.noise.passed
    assert 0.35 < r.noise.ratio < 0.65 and r.noise.p_value < 1e-6
    assert not audit.passed


def test_whitebox_audit_flags_noise_off():
    audit = run_whitebox_audit(**WHITEBOX, method_params={"_unsafe_disable_noise": True})
    r = audit.result
    assert r.noise.ratio == 0.0 and not r.noise.passed and not r.parameters.passed
    assert r.one_run.epsilon_lower_bound > 2 * r.claim.epsilon  # canaries never clipped nor hidden
    assert not audit.passed


@pytest.mark.parametrize("broken", ["double_rate", "fixed_prefix"])
def test_whitebox_audit_flags_broken_sampling(monkeypatch, broken):
    def double_rate(self, sampling_rate, rng):
        X, t = self._arrays()
        mask = rng.random(len(X)) < 2 * sampling_rate
        return X[mask], {k: v[mask] for k, v in t.items()}

    def fixed_prefix(self, sampling_rate, rng):
        X, t = self._arrays()
        mask = np.arange(len(X)) < int(sampling_rate * len(X))
        return X[mask], {k: v[mask] for k, v in t.items()}

    monkeypatch.setattr(PrivateRows, "poisson_batch", {"double_rate": double_rate, "fixed_prefix": fixed_prefix}[broken])
    r = run_whitebox_audit(**{**WHITEBOX, "canaries": 1000}).result
    assert not r.sampling.passed and abs(r.sampling.z_inclusion_dispersion) > 20
    assert r.noise.passed and r.parameters.passed  # nothing else is wrong


def test_tap_without_canaries_leaves_the_fit_unchanged():
    from dpcondense.datasets import load_dataset
    from dpcondense.methods.dpzo import DPZOCondenser
    from dpcondense.privacy.audit import ZOStepTap, audit_data

    rows, _ = audit_data(load_dataset("pima_diabetes"), n_rows=200, seed=0)
    kw = {"model": "decision_tree", "size": 3, "epsilon": 1.0, "random_state": 4, "noise": "seeded"}
    plain = DPZOCondenser(**SMALL, batch_size=64, n_public=200).fit(rows, **kw)
    with ZOStepTap() as tap:
        tapped = DPZOCondenser(**SMALL, batch_size=64, n_public=200).fit(rows, **kw)
    assert len(tap.records) == SMALL["steps"]
    assert plain.synthetic_.equals(tapped.synthetic_)
    assert plain.ledger_.to_dict() == tapped.ledger_.to_dict()


OTHER_DP_METHODS = [n for n in METHODS.names() if METHODS.get(n).private and n != "dpzo"]


@pytest.mark.slow
@pytest.mark.parametrize("method", OTHER_DP_METHODS)
def test_dp_baselines_audit_below_claimed_epsilon(method):
    res = run_audit(method=method, dataset="pima_diabetes", epsilon=0.5, trials=40, calibration_fraction=0.25, size=3)
    assert res.max_certifiable_epsilon > res.epsilon_claimed
    assert res.epsilon_lower_bound <= res.epsilon_claimed
