"""The canary membership-inference audit — the bound, the canary, and that it catches a broken mechanism."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from dpcondense.privacy.audit import (
    choose_threshold,
    clopper_pearson,
    craft_canary,
    epsilon_lower_bound,
    guesses,
    max_certifiable_epsilon,
    run_audit,
)
from dpcondense.data import from_frame, train_test_split
from dpcondense.methods import METHODS

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
    assert values[0] == 0.0 and all(a < b for a, b in zip(values[1:], values[2:]))
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
        method_params=SMALL,
    )
    assert res.public_randomness_fixed and res.evaluation_trials == 30
    # the audit could have certified more than the claim (not vacuous) but did not
    assert res.max_certifiable_epsilon > res.epsilon_claimed
    assert res.epsilon_lower_bound <= res.epsilon_claimed
    assert res.ledger_label == "(0.5, 1e-05)-DP"


def test_audit_catches_dpzo_with_noise_disabled():
    """The ledger still claims ε = 1, but with no noise (and no clipping) the canary's influence is
    deterministic: every IN release differs from every OUT release and the audit certifies ε > 1.5."""
    res = run_audit(
        method="dpzo", dataset="pima_diabetes", epsilon=1.0, trials=60, calibration_fraction=0.2, size=3,
        method_params={**SMALL, "_unsafe_disable_noise": True},
    )
    assert res.ledger_label == "(1, 1e-05)-DP"  # the broken run still claims ε = 1
    assert res.true_positives == res.members_evaluated and res.false_positives == 0
    assert res.epsilon_lower_bound > 1.5 > res.epsilon_claimed


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


def test_audit_rejects_bad_settings():
    with pytest.raises(ValueError, match="trials"):
        run_audit(method="dpzo", dataset="pima_diabetes", epsilon=1.0, trials=3)
    with pytest.raises(ValueError, match="no parameter"):
        run_audit(method="dpzo", dataset="pima_diabetes", epsilon=1.0, trials=8, method_params={"stepz": 2})
    with pytest.raises(ValueError, match="epsilon"):
        run_audit(method="dpzo", dataset="pima_diabetes", epsilon=0.0, trials=8)
    with pytest.raises(ValueError, match="fixed"):
        run_audit(method="dpzo", dataset="pima_diabetes", epsilon=1.0, trials=8, statistic="distance", threshold="fixed")


OTHER_DP_METHODS = [n for n in METHODS.names() if METHODS.get(n).private and n != "dpzo"]


@pytest.mark.slow
@pytest.mark.parametrize("method", OTHER_DP_METHODS)
def test_dp_baselines_audit_below_claimed_epsilon(method):
    res = run_audit(method=method, dataset="pima_diabetes", epsilon=0.5, trials=40, calibration_fraction=0.25, size=3)
    assert res.max_certifiable_epsilon > res.epsilon_claimed
    assert res.epsilon_lower_bound <= res.epsilon_claimed
