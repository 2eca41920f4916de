"""DP-ZO's survival options and optimiser options, each against an independent computation.

- the time-stratified start: every patient in exactly one stratum (so the release's sensitivity
  is the plain start's), the synthetic events allocated to bins by the released counts with
  times inside their bins;
- the concordance loss: equal to a brute-force pairwise computation;
- the step-size schedule and tail averaging;
- the options change nothing of the privacy accounting (same ledger as the plain run).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from dpcondense.data import train_test_split
from dpcondense.methods.dpzo import DPZOCondenser, PrivateRows, privatized_class_means
from dpcondense.methods.dpzo import estimator as estimator_mod
from dpcondense.methods.dpzo.labels import public_targets
from dpcondense.methods.dpzo.optimiser import learning_rate
from dpcondense.methods.dpzo.survival import (
    concordance_loss,
    shrink_bin_means,
    stratified_start,
    tail_average_start,
    time_bin,
    time_strata,
    time_unit,
)
from dpcondense.privacy import gaussian_mechanism_sigma


def _targets(ds, m=40, policy="all_events", fraction=1.0):
    return public_targets("survival", ds.schema, m, m, policy, fraction)


def test_time_strata_partition_each_patient_once(datasets):
    ds = datasets["gbsg"]
    t = _targets(ds)
    strata = time_strata(5, t.log_lo, t.log_hi)({"time": ds.time, "event": ds.event})
    # independent: censored -> 0; event -> 1 + floor of the position on the public log scale
    u = (np.log(ds.time) - t.log_lo) / (t.log_hi - t.log_lo)
    expected = np.where(ds.event == 1, 1 + np.clip(np.floor(u * 5), 0, 4), 0)
    assert np.array_equal(strata, expected)
    assert set(np.unique(strata)) <= set(range(6))


def test_time_stratified_release_has_the_plain_sensitivity(datasets):
    ds = datasets["gbsg"].subset(np.arange(300))
    enc, t = ds.encoder(), _targets(ds)
    strata_of = time_strata(5, t.log_lo, t.log_hi)
    kw = dict(epsilon=0.5, delta=1e-5, strata_of=strata_of, n_strata=6)
    a = privatized_class_means(PrivateRows(ds), enc.lower_, enc.upper_, noise_rng=np.random.default_rng(3), **kw)
    # remove each of a few patients: the pre-noise change (same noise draws) is within the sensitivity
    for drop in (0, 7, 123):
        keep = np.delete(np.arange(ds.n_rows), drop)
        b = privatized_class_means(PrivateRows(ds.subset(keep)), enc.lower_, enc.upper_,
                                   noise_rng=np.random.default_rng(3), **kw)
        sens = a[3]
        radius = sens / math.sqrt(2)
        diff = np.concatenate([(a[0] - b[0]).ravel(), radius * (a[1] - b[1])])
        assert 0 < np.linalg.norm(diff) <= sens + 1e-9
        # exactly one stratum changed, by one count
        assert np.count_nonzero(np.abs(a[1] - b[1]) > 1e-9) == 1
    assert a[2] == pytest.approx(gaussian_mechanism_sigma(0.5, 1e-5, a[3]))


def test_stratified_start_follows_the_released_counts(datasets):
    ds = datasets["metabric"]
    t = _targets(ds, m=50)
    means = np.arange(6 * 3, dtype=float).reshape(6, 3)
    counts = np.array([10.0, 40.0, 30.0, 20.0, 10.0, -5.0])  # a negative noisy count gets no row
    theta = stratified_start(means, counts, t, 5, 0.0, np.random.default_rng(0))
    bins = time_bin(theta[:, -1], 5)
    assert np.array_equal(np.bincount(bins, minlength=5), [20, 15, 10, 5, 0])
    # each event row starts at its bin's mean (spread 0), its time inside the bin
    assert np.array_equal(theta[:, :3], means[1 + bins])
    unit_edges = -1.0 + 0.4 * bins
    assert np.all((theta[:, -1] >= unit_edges) & (theta[:, -1] <= unit_edges + 0.4))


def test_stratified_start_censored_rows_take_the_censored_mean(datasets):
    ds = datasets["metabric"]
    t = _targets(ds, m=20, policy="fraction", fraction=0.5)
    means = np.vstack([np.full(3, -7.0), np.ones((5, 3))])
    theta = stratified_start(means, np.ones(6), t, 5, 0.0, np.random.default_rng(0))
    assert np.all(theta[t.event == 0, :3] == -7.0) and np.all(theta[t.event == 1, :3] == 1.0)


class _FixedRisk:
    """A stand-in fitted model: risk = first feature (the loss reads only predict_risk and synthetic_)."""

    def __init__(self, Xs, ts, es):
        self.synthetic_ = (Xs, ts, es)

    def predict_risk(self, X, grid):
        return np.asarray(X)[:, 0]


def test_concordance_loss_equals_a_pairwise_computation():
    rng = np.random.default_rng(0)
    Xs, ts, es = rng.normal(size=(15, 2)), rng.exponential(size=15), rng.integers(0, 2, 15)
    X, time, event = rng.normal(size=(30, 2)), rng.exponential(size=30), rng.integers(0, 2, 30)
    tau = 0.7
    got = concordance_loss(_FixedRisk(Xs, ts, es), X, time, event, np.ones(3), tau)
    mu, sd = Xs[:, 0].mean(), Xs[:, 0].std()
    r_syn, r_real = (Xs[:, 0] - mu) / sd, (X[:, 0] - mu) / sd
    for i in range(30):
        terms = []
        for j in range(15):
            if event[i] and ts[j] > time[i]:
                terms.append(1 / (1 + math.exp(-(r_syn[j] - r_real[i]) / tau)))
            elif not event[i] and es[j] == 1 and ts[j] < time[i]:
                terms.append(1 / (1 + math.exp(-(r_real[i] - r_syn[j]) / tau)))
        assert got[i] == pytest.approx(np.mean(terms) if terms else 0.0, abs=1e-12)
    assert np.all((got >= 0) & (got <= 1))


def test_concordance_loss_rewards_the_right_ordering():
    # synthetic rows: later times have lower risk; a real early event with high risk is concordant
    Xs, ts, es = np.array([[2.0], [1.0], [0.0], [-1.0]]), np.array([1.0, 2.0, 3.0, 4.0]), np.ones(4)
    model = _FixedRisk(Xs, ts, es)
    good = concordance_loss(model, np.array([[3.0]]), np.array([0.5]), np.array([1]), np.ones(1), 0.1)
    bad = concordance_loss(model, np.array([[-3.0]]), np.array([0.5]), np.array([1]), np.ones(1), 0.1)
    assert good[0] < 0.05 and bad[0] > 0.95


def test_learning_rate_schedules():
    assert learning_rate(0.05, "constant", 7, 100) == 0.05
    assert learning_rate(0.05, "cosine", 0, 100) == pytest.approx(0.05)
    assert learning_rate(0.05, "cosine", 99, 100) == pytest.approx(0.005)
    lrs = [learning_rate(0.05, "cosine", s, 100) for s in range(100)]
    assert all(a >= b for a, b in zip(lrs, lrs[1:]))


def test_tail_average_releases_the_mean_of_the_last_iterates(monkeypatch):
    assert tail_average_start(200, 0.0) == 200 and tail_average_start(200, 0.25) == 150
    assert tail_average_start(3, 0.01) == 2  # at least the last iterate
    est = DPZOCondenser(steps=10, average=0.3)

    class _Run:
        class optimiser:
            lr = 0.0

    monkeypatch.setattr(estimator_mod, "zo_step", lambda run, theta: theta + 1.0)
    out = est._optimise(_Run(), np.zeros(2), "test")
    assert np.allclose(out, np.mean([8.0, 9.0, 10.0]))  # iterates 8, 9, 10 of 10


@pytest.mark.parametrize("options", [
    {"time_bins": 0}, {"time_bins": 3}, {"survival_loss": "curve_nll"}, {"survival_loss": "mixed", "rank_weight": 2.0},
    {"lr_schedule": "cosine", "average": 0.5}, {"init_spread": 0.3}, {"time_shrinkage": "none"},
])
def test_options_keep_the_ledger_and_change_the_release(datasets, options):
    train, _ = train_test_split(datasets["gbsg"], seed=0)
    kw = dict(model="cox_ph", size=20, epsilon=1.0, delta=1e-5, random_state=0, noise="seeded")
    base = DPZOCondenser(steps=6, directions=2).fit(train, **kw)
    est = DPZOCondenser(steps=6, directions=2, **options).fit(train, **kw)
    assert est.ledger_.to_dict() == base.ledger_.to_dict()
    assert not est.synthetic_.equals(base.synthetic_)
    again = DPZOCondenser(steps=6, directions=2, **options).fit(train, **kw)
    assert again.synthetic_.equals(est.synthetic_)


@pytest.mark.parametrize("options, field", [
    ({"survival_loss": "ranking"}, "survival_loss"),
    ({"lr_schedule": "step"}, "lr_schedule"),
    ({"average": 1.5}, "average"),
    ({"time_bins": -1}, "time_bins"),
    ({"time_shrinkage": "james_stein"}, "time_shrinkage"),
    ({"survival_loss": "concordance", "bagging": 2}, "survival_loss"),
])
def test_bad_options_name_the_field(datasets, options, field):
    train, _ = train_test_split(datasets["gbsg"], seed=0)
    with pytest.raises(ValueError, match=field):
        DPZOCondenser(steps=2, **options).fit(train, model="cox_ph", size=10, epsilon=1.0, delta=1e-5, random_state=0)


def test_time_unit_is_the_public_log_scale():
    assert np.allclose(time_unit(np.exp([0.0, 1.0, 2.0]), 0.0, 2.0), [-1.0, 0.0, 1.0])
    assert time_unit(np.array([1e9]), 0.0, 2.0)[0] == 1.0


def _shrunk_by_hand(means, counts, sigma):
    """Empirical-Bayes shrinkage written out bin by bin, coordinate by coordinate (loops)."""
    n_bins, d = means.shape[0] - 1, means.shape[1]
    n = [max(float(c), 1.0) for c in counts[1:]]
    pooled = [sum(means[1 + b][k] * n[b] for b in range(n_bins)) / sum(n) for k in range(d)]
    num = 0.0
    for b in range(n_bins):
        gap = sum((means[1 + b][k] - pooled[k]) ** 2 for k in range(d)) / d
        num += n[b] ** 2 * (gap - (sigma / n[b]) ** 2)
    tau2 = max(0.0, num / sum(c**2 for c in n))
    out = [list(row) for row in means]
    for b in range(n_bins):
        v = (sigma / n[b]) ** 2
        lam = tau2 / (tau2 + v) if tau2 + v > 0 else 1.0
        out[1 + b] = [pooled[k] + lam * (means[1 + b][k] - pooled[k]) for k in range(d)]
    return np.array(out)


@pytest.mark.parametrize("sigma", [0.0, 5.0, 40.0, 1e4])
def test_bin_shrinkage_equals_a_hand_computation(sigma):
    rng = np.random.default_rng(3)
    means = rng.normal(0.0, 0.4, size=(6, 4))
    counts = np.array([900.0, 30.0, 80.0, 200.0, 400.0, 0.3])
    out, lam = shrink_bin_means(means, counts, sigma)
    assert np.allclose(out, _shrunk_by_hand(means, counts, sigma), rtol=0, atol=1e-12)
    assert np.array_equal(out[0], means[0])  # the censored stratum is left as released
    assert np.all((lam >= 0) & (lam <= 1))
    if sigma == 0.0:  # no noise: the bins as released
        assert np.array_equal(out, means) and np.all(lam == 1.0)
    if sigma == 1e4:  # noise swamps the gaps: every bin at the count-weighted pooled mean
        pooled = (means[1:] * np.maximum(counts[1:], 1.0)[:, None]).sum(0) / np.maximum(counts[1:], 1.0).sum()
        assert np.allclose(out[1:], pooled[None, :], atol=1e-9)
    # the noisier (smaller) bin is pulled at least as hard as a bigger one
    assert lam[0] <= lam[3] + 1e-15


def test_bin_shrinkage_changes_only_the_start_and_leaves_epsilon_inf_alone(datasets):
    train, _ = train_test_split(datasets["flchain"], seed=0)
    kw = dict(model="cox_ph", size=20, delta=1e-5, random_state=0, noise="seeded")
    for eps in (1.0, math.inf):
        plain = DPZOCondenser(steps=1, directions=2, time_shrinkage="none").fit(train, epsilon=eps, **kw)
        shrunk = DPZOCondenser(steps=1, directions=2).fit(train, epsilon=eps, **kw)
        assert shrunk.ledger_.to_dict() == plain.ledger_.to_dict()  # post-processing: the same spend
        assert plain.bin_shrinkage_ is None
        if eps == math.inf:
            assert np.all(shrunk.bin_shrinkage_ == 1.0) and shrunk.synthetic_.equals(plain.synthetic_)
        else:  # the released means of the plain run, shrunk, are the shrunk run's start
            sigma = shrunk.ledger_.entries[0].noise_multiplier * shrunk.ledger_.entries[0].sensitivity
            expect, lam = shrink_bin_means(plain.start_means_, plain.start_counts_, sigma)
            assert np.allclose(shrunk.start_means_, expect, rtol=0, atol=1e-12)
            assert np.array_equal(lam, shrunk.bin_shrinkage_) and np.all(lam < 1.0)
