"""The O(n log² n) concordance, the censoring Kaplan–Meier and the IBS against scikit-survival.

scikit-survival's quadratic functions are the reference: Harrell's C must be bit-identical,
Uno's C and the IBS too (the same sums formed in the same order: the golden releases pin every
metric to its last digit), and every input scikit-survival refuses must give NaN.
"""

from __future__ import annotations

import numpy as np
import pytest
from sksurv.metrics import concordance_index_censored, concordance_index_ipcw, integrated_brier_score
from sksurv.nonparametric import CensoringDistributionEstimator

from dpcondense.concordance import CensoringKM, harrell_c, uno_c
from dpcondense.data import train_test_split
from dpcondense.datasets import load_dataset
from dpcondense.metrics import survival_metrics
from dpcondense.models import make_model

SKSURV_ERRORS = (ValueError, ZeroDivisionError, FloatingPointError)


def structured(time, event):
    y = np.empty(len(time), dtype=[("event", bool), ("time", float)])
    y["event"], y["time"] = event, time
    return y


def sksurv_or_nan(fn, *args, **kwargs) -> float:
    try:
        with np.errstate(all="ignore"):
            return float(fn(*args, **kwargs)[0] if fn is not integrated_brier_score else fn(*args, **kwargs))
    except SKSURV_ERRORS:
        return np.nan


def reference_survival_metrics(train_time, train_event, test_time, test_event, risk, surv, grid) -> dict[str, float]:
    """The metrics as scikit-survival's functions give them (the quadratic reference)."""
    train_event, test_event = train_event.astype(bool), test_event.astype(bool)
    out = {"c_index": np.nan, "c_index_uno": np.nan, "ibs": np.nan}
    if len(test_time) >= 2 and test_event.any():
        out["c_index"] = sksurv_or_nan(concordance_index_censored, test_event, test_time, risk)
    if not train_event.any() or len(test_time) < 2:
        return out
    horizon = train_time.max()
    y_train = structured(train_time, train_event)
    y_test = structured(np.minimum(test_time, horizon), test_event & (test_time <= horizon))
    upper = min(test_time.max(), horizon)
    below = grid[grid < upper]
    if len(below):
        out["c_index_uno"] = sksurv_or_nan(concordance_index_ipcw, y_train, y_test, risk, tau=float(below[-1]))
    usable = (grid >= test_time.min()) & (grid < upper)
    if usable.sum() >= 2:
        value = sksurv_or_nan(integrated_brier_score, y_train, y_test, surv[:, usable], grid[usable])
        out["ibs"] = value if np.isfinite(value) else np.nan
    return out


def assert_same(got: dict[str, float], want: dict[str, float]) -> None:
    assert got.keys() == want.keys()
    for key in ("c_index", "c_index_uno", "ibs"):
        assert np.isnan(got[key]) == np.isnan(want[key]), (key, got[key], want[key])
        assert np.isnan(want[key]) or got[key] == want[key], (key, got[key], want[key])  # bit-identical


def random_outcome(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Small outcomes full of ties: few distinct times, events and censorings at the same time."""
    time = rng.integers(1, int(rng.integers(2, 9)), n).astype(float)
    event = rng.random(n) < rng.uniform(0.1, 0.95)
    return time, event


def random_risk(rng: np.random.Generator, n: int) -> np.ndarray:
    """Risks with exact ties, near-ties inside and just outside the 1e-8 tolerance, and plain values."""
    kind = rng.integers(0, 3)
    if kind == 0:
        return rng.integers(0, 4, n) * 0.5
    if kind == 1:
        return rng.integers(0, 3, n) + rng.choice([0.0, 5e-9, 1e-8, 1.5e-8, -1e-8], n)
    return rng.normal(size=n)


# ---------------------------------------------------------------------------------- properties


def test_harrell_is_bit_identical_to_scikit_survival_on_random_tied_inputs():
    rng = np.random.default_rng(0)
    defined = 0
    for _ in range(1000):
        n = int(rng.integers(2, 30))
        time, event = random_outcome(rng, n)
        risk = random_risk(rng, n)
        want = sksurv_or_nan(concordance_index_censored, event, time, risk) if event.any() else np.nan
        got = harrell_c(event, time, risk)
        assert (np.isnan(got) and np.isnan(want)) or got == want, (time, event, risk, got, want)
        defined += not np.isnan(want)
    assert defined > 600  # most draws have comparable pairs: the comparison is not vacuous


def test_uno_is_bit_identical_to_scikit_survival_on_random_tied_inputs_and_truncations():
    rng = np.random.default_rng(1)
    defined = 0
    for _ in range(1000):
        n = int(rng.integers(2, 30))
        time, event = random_outcome(rng, n)
        train_time, train_event = random_outcome(rng, int(rng.integers(2, 40)))
        if not train_event.any():
            continue
        time = np.minimum(time, train_time.max())  # as survival_metrics admin-censors the test set
        risk = random_risk(rng, n)
        tau = float(rng.choice(np.r_[time, train_time, np.inf]))
        want = sksurv_or_nan(concordance_index_ipcw, structured(train_time, train_event), structured(time, event), risk, tau=tau)
        got = uno_c(CensoringKM.fit(train_time, train_event), time, event, risk, tau)
        assert np.isnan(got) == np.isnan(want), (time, event, train_time, train_event, risk, tau, got, want)
        assert np.isnan(want) or got == want  # bit-identical
        defined += not np.isnan(want)
    assert defined > 300


def test_censoring_km_is_bit_identical_to_scikit_survival():
    rng = np.random.default_rng(2)
    for _ in range(300):
        time, event = random_outcome(rng, int(rng.integers(1, 40)))
        time = time + rng.choice([0.0, 0.25], len(time))
        event[0] = True  # scikit-survival refuses an outcome without events (survival_metrics never fits one)
        if rng.random() < 0.1:
            event[:] = True  # no censoring: Ĝ ≡ 1
        ours = CensoringKM.fit(time, event)
        ref = CensoringDistributionEstimator().fit(structured(time, event))
        np.testing.assert_array_equal(ours.times, ref.unique_time_)
        np.testing.assert_array_equal(ours.prob, ref.prob_)
        at = np.r_[time, time + 0.1, time - 0.1, 0.0]
        at = at[at <= time.max()] if ref.prob_[-1] > 0 else np.r_[at, time.max() + 1]
        np.testing.assert_array_equal(ours.at(at), ref.predict_proba(at))
        if ref.prob_[-1] > 0:
            with pytest.raises(ValueError, match="smaller than largest observed time"):
                ours.at([time.max() + 1])


def test_survival_metrics_are_bit_identical_to_scikit_survival_on_random_small_sets():
    rng = np.random.default_rng(3)
    for _ in range(300):
        n = int(rng.integers(2, 25))
        test_time, test_event = random_outcome(rng, n)
        train_time, train_event = random_outcome(rng, int(rng.integers(2, 40)))
        grid = np.unique(rng.uniform(0.5, 8.5, int(rng.integers(1, 8))))
        surv = np.clip(rng.uniform(0, 1, (n, len(grid))), 0, 1)
        if rng.random() < 0.3:
            surv = np.round(surv, 1)
        risk = -surv.sum(axis=1)
        args = (train_time, train_event, test_time, test_event, risk, surv, grid)
        assert_same(survival_metrics(*args), reference_survival_metrics(*args))


def test_degenerate_inputs_are_nan():
    t, e = np.array([1.0, 2.0, 3.0]), np.array([True, False, True])
    assert np.isnan(harrell_c(e[:1], t[:1], t[:1]))  # one row
    assert np.isnan(harrell_c(np.zeros(3, bool), t, t))  # no events
    assert np.isnan(harrell_c(e, t, np.array([0.0, np.nan, 1.0])))  # non-finite risk
    assert np.isnan(harrell_c(np.array([True, True]), np.array([2.0, 2.0]), np.array([0.0, 1.0])))  # tied events only
    assert harrell_c(e, t, -t) == 1.0 and harrell_c(e, t, t) == 0.0 and harrell_c(e, t, np.zeros(3)) == 0.5
    km = CensoringKM.fit(t, e)
    assert np.isnan(uno_c(km, t, e, -t, tau=0.5))  # no event before tau
    zero = CensoringKM.fit(np.array([1.0, 2.0]), np.array([True, False]))  # Ĝ drops to 0 at 2
    assert np.isnan(uno_c(zero, np.array([1.0, 2.0]), np.array([False, True]), np.array([1.0, 0.0]), tau=None))
    with pytest.raises(ValueError, match="boolean"):
        harrell_c(np.array([1, 0, 1]), t, t)


# ---------------------------------------------------------------------------------- paper datasets


@pytest.mark.parametrize("name", ["metabric", "gbsg", "flchain"])
def test_metrics_are_bit_identical_to_scikit_survival_on_the_paper_datasets(name):
    """A Cox model (and coarse copies of its predictions, for ties) on three seeded splits."""
    dataset = load_dataset(name)
    grid = dataset.schema.outcome.time_grid()
    for seed in (0, 1, 2):
        train, test = train_test_split(dataset, seed=seed)
        model = make_model("cox_ph", random_state=seed).fit(train.encoded(), train.time, train.event)
        surv = model.predict_survival(test.encoded(), grid)
        small = np.random.default_rng(seed).choice(train.n_rows, 40, replace=False)  # short training follow-up
        for train_time, train_event in ((train.time, train.event), (train.time[small], train.event[small])):
            for s in (surv, np.round(surv, 2)):
                args = (train_time, train_event.astype(bool), test.time, test.event.astype(bool), -s.sum(axis=1), s, grid)
                want = reference_survival_metrics(*args)
                assert not np.isnan(want["c_index"]) and not np.isnan(want["c_index_uno"])
                assert_same(survival_metrics(*args), want)
