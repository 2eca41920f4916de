"""Metrics and losses against brute-force and hand computations."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from sksurv.metrics import integrated_brier_score

from dpcondense.metrics import PRIMARY_METRIC, classification_metrics, evaluate, survival_metrics
from dpcondense.models import make_model
from dpcondense.models.base import P_MIN, classification_loss, survival_loss


def brute_auroc(y, p):
    pos, neg = p[y == 1], p[y == 0]
    wins = sum(1.0 if a > b else 0.5 if a == b else 0.0 for a in pos for b in neg)
    return wins / (len(pos) * len(neg))


def brute_harrell(time, event, risk):
    """Pairs (i, j) comparable when i has an event and j outlives i, or j is censored at t_i."""
    num = den = 0.0
    for i, j in itertools.permutations(range(len(time)), 2):
        if event[i] and (time[j] > time[i] or (time[j] == time[i] and not event[j])):
            den += 1
            num += 1.0 if risk[i] > risk[j] else 0.5 if risk[i] == risk[j] else 0.0
    return num / den


def test_primary_metrics():
    assert PRIMARY_METRIC == {"classification": "auroc", "survival": "c_index"}


def test_classification_metrics_against_brute_force_and_hand_values():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 60)
    p = np.round(rng.uniform(size=60), 1)  # coarse: many tied scores
    m = classification_metrics(y, p)
    assert m["auroc"] == pytest.approx(brute_auroc(y, p), abs=1e-12)
    assert m["brier"] == pytest.approx(np.mean([(pi - yi) ** 2 for pi, yi in zip(p, y)]), abs=1e-12)
    # hand case: threshold 0.5 counts as positive
    m = classification_metrics([0, 0, 1, 1, 1], [0.2, 0.5, 0.5, 0.9, 0.1])
    assert m["balanced_accuracy"] == pytest.approx(0.5 * (1 / 2 + 2 / 3))
    assert m["brier"] == pytest.approx((0.04 + 0.25 + 0.25 + 0.01 + 0.81) / 5)
    # AP: ranks 0.9(+), 0.5(+,-) tied, 0.2(-), 0.1(+) -> precision at each positive threshold
    assert m["auprc"] == pytest.approx(1 / 3 * 1 + 1 / 3 * 2 / 3 + 1 / 3 * 3 / 5)


def test_classification_metrics_degenerate_inputs_are_nan_not_errors():
    m = classification_metrics([1, 1, 1], [0.2, 0.7, 0.9])
    assert np.isnan(m["auroc"]) and np.isnan(m["balanced_accuracy"])
    assert m["auprc"] == 1.0
    assert np.isnan(classification_metrics([0, 0], [0.2, 0.7])["auprc"])
    with pytest.raises(ValueError, match="same length"):
        classification_metrics([0, 1], [0.5])


def survival_fixture(seed=0, n_train=150, n_test=80):
    rng = np.random.default_rng(seed)
    x_tr, x_te = rng.normal(size=n_train), rng.normal(size=n_test)
    t_tr = np.round(rng.exponential(np.exp(-x_tr)), 1) + 0.1
    t_te = np.round(rng.exponential(np.exp(-x_te)), 1) + 0.1  # rounded: tied times
    e_tr = rng.uniform(size=n_train) < 0.7
    e_te = rng.uniform(size=n_test) < 0.7
    grid = np.linspace(0.05, 2.5, 25)
    surv = np.exp(-np.outer(np.exp(x_te), grid))
    return t_tr, e_tr, t_te, e_te, x_te, surv, grid


def test_harrell_c_against_brute_force_with_ties():
    t_tr, e_tr, t_te, e_te, x_te, surv, grid = survival_fixture()
    risk = np.round(x_te, 1)  # tied risks too
    m = survival_metrics(t_tr, e_tr, t_te, e_te, risk, surv, grid)
    assert m["c_index"] == pytest.approx(brute_harrell(t_te, e_te, risk), abs=1e-12)
    assert 0.6 < m["c_index"] < 1.0


def test_uno_c_without_censoring_is_harrell_before_tau():
    t_tr, _, t_te, _, x_te, surv, grid = survival_fixture(1)
    e_tr, e_te = np.ones_like(t_tr, bool), np.ones_like(t_te, bool)  # censoring weights are all 1
    m = survival_metrics(t_tr, e_tr, t_te, e_te, x_te, surv, grid)
    tau = grid[grid < min(t_te.max(), t_tr.max())][-1]
    # Uno with tau: pairs whose earlier time is an event before tau, later time anything
    num = den = 0.0
    for i, j in itertools.permutations(range(len(t_te)), 2):
        if t_te[i] < tau and t_te[j] > t_te[i]:
            den += 1
            num += 1.0 if x_te[i] > x_te[j] else 0.5 if x_te[i] == x_te[j] else 0.0
    assert m["c_index_uno"] == pytest.approx(num / den, abs=1e-12)


def test_ibs_hand_computed_without_censoring():
    # no censoring anywhere: IPCW weights are 1 and the Brier score is plain squared error
    t_tr = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    e_tr = np.ones(5, bool)
    t_te = np.array([1.5, 2.5, 3.5, 4.5])
    e_te = np.ones(4, bool)
    grid = np.array([1.0, 2.0, 3.0, 4.0])
    surv = np.array([[0.9, 0.4, 0.3, 0.2], [0.9, 0.8, 0.3, 0.2], [0.95, 0.9, 0.8, 0.3], [1.0, 0.9, 0.8, 0.7]])
    m = survival_metrics(t_tr, e_tr, t_te, e_te, -surv.sum(1), surv, grid)
    usable = grid[(grid >= 1.5) & (grid < 4.5)]  # 2, 3, 4
    alive = t_te[:, None] > usable[None, :]
    bs = ((alive - surv[:, 1:]) ** 2).mean(axis=0)
    expected = np.trapezoid(bs, usable) / (usable[-1] - usable[0])
    assert m["ibs"] == pytest.approx(expected, abs=1e-12)
    assert m["c_index"] == 1.0


def test_ibs_matches_sksurv_and_rewards_better_curves():
    t_tr, e_tr, t_te, e_te, x_te, surv, grid = survival_fixture(2)
    m = survival_metrics(t_tr, e_tr, t_te, e_te, x_te, surv, grid)
    y_tr = np.array(list(zip(e_tr, t_tr)), dtype=[("event", bool), ("time", float)])
    # documented handling: test outcomes past the last training time are censored there
    horizon = t_tr.max()
    assert t_te.max() > horizon, "the fixture should exercise the truncation"
    y_te = np.array(
        list(zip(e_te & (t_te <= horizon), np.minimum(t_te, horizon))), dtype=[("event", bool), ("time", float)]
    )
    upper = min(t_te.max(), horizon)
    keep = (grid >= t_te.min()) & (grid < upper)
    assert m["ibs"] == pytest.approx(integrated_brier_score(y_tr, y_te, surv[:, keep], grid[keep]), abs=1e-12)
    flat = np.tile(surv.mean(axis=0), (len(x_te), 1))  # ignores the covariate
    assert survival_metrics(t_tr, e_tr, t_te, e_te, x_te, flat, grid)["ibs"] > m["ibs"]


def test_survival_metrics_degenerate_inputs_are_nan_not_errors():
    t_tr, e_tr, t_te, e_te, x_te, surv, grid = survival_fixture(3)
    none = survival_metrics(t_tr, e_tr, t_te, np.zeros_like(e_te), x_te, surv, grid)
    assert np.isnan(none["c_index"])
    no_train_events = survival_metrics(t_tr, np.zeros_like(e_tr), t_te, e_te, x_te, surv, grid)
    assert np.isnan(no_train_events["c_index_uno"]) and np.isnan(no_train_events["ibs"])
    assert np.isfinite(no_train_events["c_index"])
    # test follow-up beyond the training follow-up: truncated, not an error
    late = survival_metrics(t_tr, e_tr, t_te * 10, e_te, x_te, surv, grid * 10)
    assert np.isfinite(late["c_index_uno"]) and np.isfinite(late["ibs"])


def test_classification_loss_by_hand_and_bounds():
    p1 = np.array([0.8, 0.8, 0.0, 1.0])
    y = np.array([1, 0, 0, 0])
    np.testing.assert_allclose(
        classification_loss(p1, y), [-np.log(0.8), -np.log(0.2), -np.log(1 - P_MIN), -np.log(P_MIN)]
    )


def test_survival_loss_hand_computed():
    grid = np.array([1.0, 2.0, 3.0])
    surv = np.array([[0.9, 0.6, 0.5]] * 6)
    time = np.array([0.5, 1.5, 2.0, 2.5, 3.5, 0.5])
    event = np.array([1, 1, 1, 0, 1, 0])
    expected = [
        -np.log(1.0 - 0.9),  # event in (0, 1]
        -np.log(0.9 - 0.6),  # event in (1, 2]
        -np.log(0.9 - 0.6),  # event at exactly 2 belongs to (1, 2]
        -np.log(0.6),  # censored at 2.5: survived to the last grid point 2 <= 2.5
        -np.log(0.5),  # event after the horizon: survived the whole grid
        -np.log(1.0),  # censored before the first grid point: no information
    ]
    np.testing.assert_allclose(survival_loss(surv, time, event, grid), expected)
    # a flat curve gives the event probability 0 -> clipped at P_MIN
    assert survival_loss(np.ones((1, 3)), [1.5], [1], grid)[0] == pytest.approx(-np.log(P_MIN))


def test_evaluate_uses_the_models_predictions():
    rng = np.random.default_rng(0)
    X = rng.uniform(-1, 1, (80, 3))
    y = (X[:, 0] > 0).astype(int)
    model = make_model("logistic_regression").fit(X, y)
    assert evaluate(model, X, {"y": y}) == classification_metrics(y, model.predict_proba(X)[:, 1])
    t = rng.exponential(np.exp(-2 * X[:, 0]))
    e = np.ones(80, int)
    grid = np.linspace(0.05, 1.5, 12)
    cox = make_model("cox_ph").fit(X, t, e)
    got = evaluate(cox, X, {"time": t, "event": e}, train_outcome={"time": t, "event": e}, grid=grid)
    want = survival_metrics(t, e, t, e, cox.predict_risk(X, grid), cox.predict_survival(X, grid), grid)
    assert got == want and got["c_index"] > 0.7
    with pytest.raises(ValueError, match="train_outcome and grid"):
        evaluate(cox, X, {"time": t, "event": e})
