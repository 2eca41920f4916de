"""Private Evolution: each piece checked against an independent computation.

The vote histogram against a scipy nearest-neighbour search (and its sensitivity: one patient
more or less moves it by exactly one unit vector); the noise against the analytic Gaussian σ
solved with scipy and T releases composed by ``dp_accounting``'s PLD accountant called directly;
the released votes against the exact votes on the population they were cast on; the evolution
against the distance of the populations to the real rows (and against a run whose votes are flat).
"""

from __future__ import annotations

import copy
import math

import dp_accounting
import numpy as np
import pytest
from dp_accounting.pld import pld_privacy_accountant
from scipy.optimize import brentq
from scipy.spatial.distance import cdist
from scipy.stats import norm

import dpcondense.methods.private_evolution as pe
from dpcondense.data import train_test_split
from dpcondense.methods import SyntheticSet, make_method
from dpcondense.methods._baseline import allocate

EPSILON, DELTA = 1.0, 1e-5
SIZE = {"classification": 5, "survival": 12}
INF = float("inf")


@pytest.fixture(scope="module")
def trains(datasets):
    return {name: train_test_split(datasets[name], seed=0)[0] for name in ("pima_diabetes", "gbsg")}


def fit(train, epsilon=EPSILON, seed=0, **params):
    return make_method("private_evolution", **params).fit(
        train, size=SIZE[train.task], epsilon=epsilon, delta=DELTA, random_state=seed, noise="seeded"
    )


def real_rows(train) -> tuple[np.ndarray, np.ndarray]:
    """Model-space rows and strata, rebuilt here: survival's log time scaled to [-1, 1] by hand."""
    X = np.clip(train.encoded(), train.encoder().lower_, train.encoder().upper_)
    if train.task == "classification":
        return X, np.asarray(train.y)
    out = train.schema.outcome
    lo, hi = math.log(out.time_grid()[0] / 2), math.log(out.horizon)
    logt = np.log(np.clip(train.time, math.exp(lo), math.exp(hi)))
    return np.column_stack([X, 2 * (logt - lo) / (hi - lo) - 1]), np.asarray(train.event)


def exact_votes(rows, strata, populations) -> np.ndarray:
    """One vote per row for its nearest own-stratum candidate (scipy cdist)."""
    parts = []
    for c, pop in enumerate(populations):
        nearest = cdist(rows[strata == c], pop).argmin(axis=1)
        parts.append(np.bincount(nearest, minlength=len(pop)))
    return np.concatenate(parts).astype(float)


def analytic_gaussian_sigma(epsilon: float, delta: float) -> float:
    """Balle & Wang (2018) Thm 8, solved with scipy (sensitivity 1)."""

    def gap(m):
        a, b = 1 / (2 * m), epsilon * m
        return norm.cdf(a - b) - math.exp(epsilon) * norm.cdf(-a - b) - delta

    return brentq(gap, 1e-3, 1e3, xtol=1e-13)


def pld_epsilon(multipliers, delta: float) -> float:
    acc = pld_privacy_accountant.PLDAccountant(
        dp_accounting.NeighboringRelation.ADD_OR_REMOVE_ONE, value_discretization_interval=1e-4
    )
    for m in multipliers:
        acc.compose(dp_accounting.GaussianDpEvent(m))
    return float(acc.get_epsilon(delta))


def public_populations(train, n=30, seed=0):
    cols = pe.public_columns(train)
    lower, upper = pe.model_box(train)
    rng = np.random.default_rng(seed)
    return [pe.random_api(cols, lower, upper, n, rng) for _ in range(2)]


# ------------------------------------------------------------------------------- the votes


@pytest.mark.parametrize("name", ["pima_diabetes", "gbsg"])
def test_votes_are_nearest_neighbours_within_the_stratum_time_included(name, trains):
    train = trains[name]
    rows, strata = real_rows(train)
    pops = public_populations(train)
    hist = pe.vote_histogram(rows, strata, pops)
    np.testing.assert_array_equal(hist, exact_votes(rows, strata, pops))
    assert hist[:30].sum() == (strata == 0).sum() and hist[30:].sum() == (strata == 1).sum()
    if train.task == "survival":  # the time column is part of the distance
        assert not np.array_equal(hist, exact_votes(rows[:, :-1], strata, [p[:, :-1] for p in pops]))


@pytest.mark.parametrize("name", ["pima_diabetes", "gbsg"])
def test_one_patient_moves_the_histogram_by_one_unit_vector(name, trains):
    """L2 sensitivity 1 across all populations: add or remove one patient, one entry moves by 1."""
    train = trains[name]
    rows, strata = real_rows(train)
    pops = public_populations(train, seed=1)
    full = pe.vote_histogram(rows, strata, pops)
    rng = np.random.default_rng(5)
    lower, upper = pe.model_box(train)
    for i in rng.choice(len(rows), size=15, replace=False):
        keep = np.arange(len(rows)) != i
        diff = full - pe.vote_histogram(rows[keep], strata[keep], pops)
        c = strata[i]
        target = c * 30 + cdist(rows[i : i + 1], pops[c]).argmin()
        assert np.linalg.norm(diff) == 1.0 and diff[target] == 1.0
    for c in (0, 1):  # a new patient anywhere in the box, of either stratum
        new = rng.uniform(lower, upper)
        diff = pe.vote_histogram(np.vstack([rows, new]), np.append(strata, c), pops) - full
        assert np.abs(diff).sum() == 1.0 and diff[c * 30 + cdist(new[None], pops[c]).argmin()] == 1.0


# ------------------------------------------------------------------------------- the noise


def test_sigma_is_T_gaussians_composed_exactly_to_the_budget(trains):
    T = 4
    est = fit(trains["pima_diabetes"], iterations=T)
    sigma = math.sqrt(T) * analytic_gaussian_sigma(EPSILON, DELTA)
    assert est.noise_std_ == pytest.approx(sigma, rel=1e-6)
    assert pld_epsilon([est.noise_std_] * T, DELTA) == pytest.approx(EPSILON, abs=2e-3)
    ledger = est.ledger_
    assert [e.purpose for e in ledger.entries] == [f"private_evolution_votes_{t}" for t in range(1, T + 1)]
    for e in ledger.entries:
        assert e.sensitivity == 1.0 and e.event.kind == "gaussian"
        assert e.event.noise_multiplier == pytest.approx(sigma, rel=1e-6)
    assert ledger.total_epsilon == pytest.approx(EPSILON, abs=1e-4) and ledger.total_delta == pytest.approx(DELTA)
    assert est.threshold_ == pytest.approx(1.0 * est.noise_std_)


def test_released_votes_are_the_exact_votes_plus_gaussian_noise_of_std_sigma(trains):
    """The last release, against the exact votes on the population it was cast on."""
    train = trains["pima_diabetes"]
    est = fit(train, iterations=2, population_factor=100.0)  # 2 x 500 candidates
    rows, strata = real_rows(train)
    residual = est.noisy_votes_ - exact_votes(rows, strata, est.final_population_)
    assert residual.size == 1000
    assert np.std(residual) == pytest.approx(est.noise_std_, rel=0.1)
    assert abs(np.mean(residual)) < 4 * est.noise_std_ / math.sqrt(residual.size)


@pytest.mark.parametrize("name", ["pima_diabetes", "gbsg"])
def test_without_noise_the_votes_and_counts_are_exact(name, trains):
    train = trains[name]
    est = fit(train, epsilon=INF)
    rows, strata = real_rows(train)
    np.testing.assert_array_equal(est.noisy_votes_, exact_votes(rows, strata, est.final_population_))
    np.testing.assert_array_equal(est.noisy_counts_, np.bincount(strata, minlength=2))
    assert est.noise_std_ == 0.0 and not est.ledger_.private


# ------------------------------------------------------------------------------- the evolution


def mean_gaps(train, populations) -> tuple[float, float]:
    """Mean distance real row → nearest own-stratum candidate, and candidate → nearest real row."""
    rows, strata = real_rows(train)
    to_pop = np.concatenate([cdist(rows[strata == c], populations[c]).min(axis=1) for c in (0, 1)])
    to_real = np.concatenate([cdist(populations[c], rows[strata == c]).min(axis=1) for c in (0, 1)])
    return float(to_pop.mean()), float(to_real.mean())


@pytest.mark.parametrize("name", ["pima_diabetes", "gbsg"])
def test_the_population_moves_to_the_data_because_of_the_votes(name, trains, monkeypatch):
    train = trains[name]
    est = fit(train, epsilon=INF)
    start, end = mean_gaps(train, est.initial_population_), mean_gaps(train, est.final_population_)
    assert end[0] < 0.6 * start[0] and end[1] < 0.6 * start[1]
    # control: the same run with flat votes (selection blind to the data) stays far from the data
    monkeypatch.setattr(pe, "vote_histogram", lambda rows, strata, pops: np.ones(sum(len(p) for p in pops)))
    blind = fit(train, epsilon=INF)
    flat = mean_gaps(train, blind.final_population_)
    assert end[0] < 0.6 * flat[0] and end[1] < 0.6 * flat[1]


@pytest.mark.parametrize("name", ["pima_diabetes", "gbsg"])
def test_release_is_drawn_from_the_last_population_among_voted_rows(name, trains):
    train = trains[name]
    est = fit(train, epsilon=INF)
    pops, votes = est.final_population_, est.noisy_votes_
    encoded = []
    for c, pop in enumerate(pops):
        voted = pop[votes[c * len(pops[0]) : (c + 1) * len(pops[0])] > 0]
        frame = pe.release_from_rows(train, voted, np.full(len(voted), c)).to_frame(train.schema)
        encoded.append({tuple(r) for r in SyntheticSet.from_release(frame, train.schema).X})
    released = est.synthetic_encoded_
    strata = released.y if train.task == "classification" else released.event
    for x, c in zip(released.X, strata):
        assert tuple(x) in encoded[c]
    counts = np.bincount(strata, minlength=2)
    _, real_strata = real_rows(train)
    if train.task == "classification":
        assert counts.tolist() == [SIZE["classification"]] * 2
        assert len({tuple(x) for x in released.X}) == len(released.X)  # no repeats while voted rows remain
    else:
        assert counts.tolist() == allocate(SIZE["survival"], np.bincount(real_strata, minlength=2)).tolist()


# ------------------------------------------------------------------------------- the public APIs


def test_random_and_variation_apis_keep_the_public_values(trains):
    train = trains["gbsg"]
    cols = pe.public_columns(train)
    lower, upper = pe.model_box(train)
    assert cols.numeric[-1] == lower.size - 1  # the log-time column is numeric
    rng = np.random.default_rng(0)
    rows = pe.random_api(cols, lower, upper, 4000, rng)
    moved = pe.variation_api(rows, cols, lower, upper, 0.1, 0.2, rng)
    for x in (rows, moved):
        assert ((x >= lower) & (x <= upper)).all()
        assert set(np.unique(x[:, cols.binary])) <= {0.0, 1.0}
        for group in cols.categorical:
            assert (x[:, group].sum(axis=1) == 1).all() and set(np.unique(x[:, group])) == {0.0, 1.0}
    inner = (np.abs(rows[:, cols.numeric]) < 0.5)
    jitter = (moved - rows)[:, cols.numeric][inner]
    assert np.std(jitter) == pytest.approx(0.1, rel=0.05)
    assert np.mean(moved[:, cols.binary] != rows[:, cols.binary]) == pytest.approx(0.2 * 0.5, abs=0.02)
    np.testing.assert_array_equal(pe.variation_api(rows, cols, lower, upper, 0.0, 0.0, rng), rows)
    assert np.abs(rows[:, cols.numeric]).max() > 0.99  # uniform over the whole public range


# ------------------------------------------------------------------------------- sizes and params


@pytest.mark.parametrize("name", ["pima_diabetes", "gbsg"])
def test_n_samples_large_and_integer(name, trains):
    train = trains[name]
    large = fit(train, epsilon=INF, n_samples="large", iterations=2)
    assert len(large.synthetic_) == train.n_rows
    assert [len(p) for p in large.final_population_] == [min(2 * train.n_rows, 1000)] * 2
    hidden = copy.copy(train)
    hidden.n_public = None  # no public row count: the released sums size the release
    est = fit(hidden, epsilon=INF, n_samples="large", iterations=2)
    assert len(est.synthetic_) == train.n_rows
    assert len(fit(train, n_samples=37, iterations=2).synthetic_) == 37


def test_bad_parameters_are_refused_by_name(trains):
    with pytest.raises(ValueError, match="iterations=0"):
        make_method("private_evolution", iterations=0)
    with pytest.raises(ValueError, match="n_samples='big'.*'size', 'large'"):
        make_method("private_evolution", n_samples="big")
    with pytest.raises(ValueError, match="step_decay=0"):
        pe.PrivateEvolution(step_decay=0.0).fit(trains["pima_diabetes"], size=3, epsilon=1.0)
