"""AIM: its zCDP composition, noise, selection and model recomputed independently; its accuracy.

The target ρ is solved here with scipy from the Canonne–Kamath–Steinke bound; the rounds' cost is
recomputed from the σ's and selection ε's the ledger records; the measurement noise is checked
against the true marginals; the first selection of the non-private run against a quality
recomputed from the data; the junction-tree inference against a brute-force joint. Accuracy:
the workload (all 2-way marginals) error falls with ε and is below MST's (``dp_marginals``).
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from scipy.optimize import brentq, minimize_scalar

from dpcondense.data import from_frame, train_test_split
from dpcondense.methods import make_method
from dpcondense.methods._pgm import GraphicalModel, JunctionTree, Measurement, estimate
from dpcondense.methods.aim import candidates, exponential_mechanism, workload
from dpcondense.methods.dp_marginals import discretise, public_attributes

EPSILON, DELTA = 1.0, 1e-5
_FITS: dict = {}


@pytest.fixture(scope="module")
def trains(datasets):
    return {name: train_test_split(datasets[name], seed=0)[0] for name in ("pima_diabetes", "gbsg")}


def fitted(train, epsilon=EPSILON, seed=0, **params):
    key = (train.name, epsilon, seed, tuple(sorted(params.items())))
    if key not in _FITS:
        size = 5 if train.task == "classification" else 12
        _FITS[key] = make_method("aim", **params).fit(train, size=size, epsilon=epsilon, delta=DELTA, random_state=seed, noise="seeded")
    return _FITS[key]


def table_of(train, n_bins=8):
    attrs = public_attributes(train.schema, n_bins, 8)
    return discretise(train, attrs), np.array([a.n_cells for a in attrs])


def true_marginal(table, dims, clique):
    shape = tuple(int(dims[a]) for a in clique)
    flat = np.ravel_multi_index(tuple(table[:, a] for a in clique), shape)
    return np.bincount(flat, minlength=int(np.prod(shape))).reshape(shape).astype(float)


def cks_rho(epsilon: float, delta: float) -> float:
    """Largest ρ whose Canonne–Kamath–Steinke ε (minimised over α with scipy) is ``epsilon``."""

    def eps_of(rho: float) -> float:
        def bound(log_alpha_minus_1: float) -> float:
            a = 1.0 + math.exp(log_alpha_minus_1)
            return rho * a + (math.log(1 / delta) - math.log(a)) / (a - 1) + math.log1p(-1 / a)

        return float(minimize_scalar(bound, bounds=(-12.0, 12.0), method="bounded", options={"xatol": 1e-12}).fun)

    return brentq(lambda r: eps_of(r) - epsilon, 1e-8, 10 * epsilon, xtol=1e-15)


# ------------------------------------------------------------------------------ privacy


@pytest.mark.parametrize("dataset", ["pima_diabetes", "gbsg"])
def test_rounds_compose_to_the_target_rho(dataset, trains):
    """Σ k/(2σ₀²) + Σ_t (ε_t²/8 + 1/(2σ_t²)) from the recorded values is the target ρ, nothing more."""
    train = trains[dataset]
    est = fitted(train)
    (entry,) = est.ledger_.entries
    rho = cks_rho(EPSILON, DELTA)
    k = entry.extra["n_attributes"]
    assert k == len(train.schema.features) + (1 if train.task == "classification" else 2)
    T, alpha = 16 * k, 0.9
    sigma0 = entry.extra["sigma_one_way"]
    rounds = entry.extra["rounds"]
    # AIM's initialisation: σ₀ = √(T / (2αρ)), first selection ε = √(8(1 − α)ρ / T)
    assert sigma0 == pytest.approx(math.sqrt(T / (2 * alpha * rho)), rel=1e-6)
    if not rounds[0]["paced"]:
        assert rounds[0]["selection_epsilon"] == pytest.approx(math.sqrt(8 * (1 - alpha) * rho / T), rel=1e-6)
    spent = k / (2 * sigma0**2) + math.fsum(r["selection_epsilon"] ** 2 / 8 + 1 / (2 * r["sigma"] ** 2) for r in rounds)
    assert spent == pytest.approx(rho, rel=1e-9)
    for before, after in itertools.pairwise(rounds):  # annealing halves σ and doubles ε
        if before["annealed"] and not after["paced"] and after is not rounds[-1]:
            assert after["sigma"] == pytest.approx(before["sigma"] / 2, rel=1e-12)
            assert after["selection_epsilon"] == pytest.approx(2 * before["selection_epsilon"], rel=1e-12)
    for r in rounds:  # every round spends in AIM's 0.9 / 0.1 split
        assert (1 / (2 * r["sigma"] ** 2)) / (r["selection_epsilon"] ** 2 / 8) == pytest.approx(alpha / (1 - alpha), rel=1e-9)
    assert entry.event.kind == "zcdp" and entry.event.rho == pytest.approx(rho, rel=1e-6)
    assert entry.epsilon == pytest.approx(EPSILON, rel=1e-6) and entry.epsilon <= EPSILON and entry.delta == DELTA
    assert len(est.measurements_) == k + len(rounds)


@pytest.mark.parametrize("dataset", ["pima_diabetes", "gbsg"])
def test_measurement_noise_has_the_recorded_std(dataset, trains):
    """(y − true marginal) / σ over every released cell is standard normal: the noise is the noise paid for."""
    train = trains[dataset]
    est = fitted(train, epsilon=10.0)
    table, dims = table_of(train)
    z = np.concatenate([((m.y - true_marginal(table, dims, m.clique)) / m.sigma).ravel() for m in est.measurements_])
    assert len(z) > 300
    assert abs(z.mean()) < 4 / math.sqrt(len(z))
    assert 0.75 < float(np.mean(z**2)) < 1.3
    sigmas = [m.sigma for m in est.measurements_]
    assert sigmas[: len(dims)] == [est.sigma_one_way_] * len(dims)
    assert sigmas[len(dims):] == [r["sigma"] for r in est.rounds_]


def test_exponential_mechanism_frequencies():
    quality = np.array([0.0, 1.0, 3.0])
    rng = np.random.default_rng(0)
    draws = np.bincount([exponential_mechanism(quality, 2.0, 1.5, rng) for _ in range(20000)], minlength=3) / 20000
    expected = np.exp(2.0 * quality / 3.0) / np.exp(2.0 * quality / 3.0).sum()
    np.testing.assert_allclose(draws, expected, atol=0.015)
    assert exponential_mechanism(quality, math.inf, 1.0, rng) == 2


def test_workload_weights_and_closure():
    work = workload(4, (3,), "pairs")
    assert work == [(0, 1), (0, 2), (0, 3), (1, 2), (1, 3), (2, 3)]
    w = candidates(work)
    assert set(w) == set(work) | {(0,), (1,), (2,), (3,)}
    assert w[(0, 1)] == 2 * (4 - 1) and w[(2,)] == 4 - 1  # Σ_{s ∈ W} |r ∩ s|
    triples = workload(4, (3,), "outcome_triples")
    assert set(triples) - set(work) == {(0, 1, 3), (0, 2, 3), (1, 2, 3)}
    assert set(workload(5, (3, 4), "outcome_triples")) - set(workload(5, (3, 4), "pairs")) == {(0, 3, 4), (1, 3, 4), (2, 3, 4)}


def test_non_private_first_selection_is_the_worst_approximated_pair(trains):
    """ε = inf: exact 1-ways fit the independence model; round 1 picks argmax w_r ‖M_r(D) − M_r(p̂)‖₁."""
    train = trains["pima_diabetes"]
    est = fitted(train, epsilon=math.inf, max_rounds=1)
    table, dims = table_of(train)
    n, k = len(table), len(dims)
    assert est.ledger_.entries[0].epsilon == math.inf and not est.ledger_.private
    for m in est.measurements_:
        np.testing.assert_array_equal(m.y, true_marginal(table, dims, m.clique))
    weights = candidates(workload(k, (k - 1,), "pairs"))
    one = [true_marginal(table, dims, (a,)) / n for a in range(k)]
    score = {r: weights[r] * np.abs(true_marginal(table, dims, r) - n * (one[r[0]][:, None] * one[r[1]][None] if len(r) == 2 else one[r[0]])).sum() for r in weights}
    picked = tuple(est.rounds_[0]["clique"])
    assert score[picked] >= 0.999 * max(score.values())
    assert len(picked) == 2


def test_model_size_limit_is_kept(trains):
    train = trains["pima_diabetes"]
    limit = 0.005  # MB: 655 cells
    est = fitted(train, epsilon=10.0, max_model_size=limit)
    assert est.model_.size * 8 / 2**20 <= limit
    assert est.ledger_.total_epsilon == pytest.approx(10.0, rel=1e-6)
    assert fitted(train, epsilon=10.0).model_.size * 8 / 2**20 > limit  # the limit bit


def test_pacing_spends_the_budget_within_max_rounds(trains):
    train = trains["gbsg"]
    est = fitted(train, epsilon=10.0, max_rounds=4)
    assert len(est.rounds_) <= 4
    assert est.ledger_.total_epsilon == pytest.approx(10.0, rel=1e-6)


def test_bad_rounds_and_workload_are_refused(trains):
    train = trains["pima_diabetes"]
    with pytest.raises(ValueError, match="rounds must be None or an integer >= the number of attributes \\(9\\)"):
        make_method("aim", rounds=5).fit(train, size=5, epsilon=1.0, noise="seeded")
    with pytest.raises(ValueError, match="workload"):
        make_method("aim", workload="all_triples")


def test_outcome_sizes_and_large_sample(trains):
    survival = fitted(trains["gbsg"], n_samples="large")
    assert len(survival.synthetic_) == trains["gbsg"].n_public
    assert len(fitted(trains["pima_diabetes"], n_samples=37).synthetic_) == 37
    triples = fitted(trains["gbsg"], epsilon=10.0, workload="outcome_triples")
    k = len(trains["gbsg"].schema.features) + 2
    names = [a.name for a in public_attributes(trains["gbsg"].schema, 8, 8)]
    allowed = {tuple(names[i] for i in c) for c in candidates(workload(k, (k - 2, k - 1), "outcome_triples"))}
    picked = [tuple(r["clique"]) for r in triples.ledger_.entries[0].extra["rounds"]]
    assert set(picked) <= allowed and any(len(c) == 3 for c in picked)
    assert triples.ledger_.total_epsilon == pytest.approx(10.0, rel=1e-6)


# ------------------------------------------------------------------------------ the estimator


def test_junction_tree_inference_and_sampling_match_brute_force():
    rng = np.random.default_rng(1)
    dims = np.array([2, 3, 4, 2, 3, 2, 3])
    cliques = [(0, 1), (1, 2), (2, 3), (0, 3), (4, 5), (1, 4), (0, 5, 6)]  # a 4-cycle: needs a fill edge
    theta = {c: rng.normal(0, 1, tuple(dims[list(c)])) for c in cliques}
    log_joint = sum(v.reshape([dims[a] if a in c else 1 for a in range(7)]) for c, v in theta.items())
    joint = np.exp(log_joint) / np.exp(log_joint).sum()
    tree = JunctionTree(dims, cliques, root_attr=6)
    psi = [np.zeros(tuple(dims[list(J)])) for J in tree.cliques]
    for c, v in theta.items():
        j = next(j for j, J in enumerate(tree.cliques) if set(c) <= set(J))
        psi[j] = psi[j] + v.reshape(tree.shape(c, tree.cliques[j]))
    model = GraphicalModel(tree, tree.calibrate(psi), total=50.0)

    def brute(attrs):
        m = joint.sum(axis=tuple(a for a in range(7) if a not in attrs))
        return 50.0 * np.transpose(m, np.argsort(np.argsort(attrs)))

    for (a, b), v in model.pair_marginals().items():
        np.testing.assert_allclose(v, brute((a, b)), atol=1e-10)
    for attrs in [(3, 5, 6), (6, 2, 4), (1, 3, 5, 6)]:  # across cliques, any axis order
        np.testing.assert_allclose(model.marginal(attrs), brute(attrs), atol=1e-10)
    codes = model.sample(np.repeat(np.arange(3), 20000), 6, np.random.default_rng(0))
    assert (np.bincount(codes[:, 6]) == 20000).all()
    empirical = np.bincount(np.ravel_multi_index(tuple(codes[:, [2, 6]].T), (4, 3)), minlength=12).reshape(4, 3) / 60000
    expected = joint.sum(axis=(0, 1, 3, 4, 5)) / joint.sum(axis=(0, 1, 2, 3, 4, 5)) / 3  # P(2 | 6), 6 uniform
    np.testing.assert_allclose(empirical, expected, atol=0.01)


def test_estimation_recovers_consistent_measurements():
    rng = np.random.default_rng(2)
    dims = np.array([3, 2, 4, 3])
    joint = rng.dirichlet(np.ones(72)).reshape(3, 2, 4, 3) * 1000
    marg = {c: joint.sum(axis=tuple(a for a in range(4) if a not in c)) for c in [(0,), (1,), (2,), (3,), (0, 1), (1, 2), (2, 3)]}
    fit = estimate(dims, [Measurement(c, y, 1.0) for c, y in marg.items()], root_attr=3, iterations=1500)
    assert fit.model.total == pytest.approx(1000.0)
    for c, y in marg.items():
        np.testing.assert_allclose(fit.model.marginal(c), y, atol=1e-3)


# ------------------------------------------------------------------------------ accuracy


def workload_error(train, release_or_model, n_bins=8) -> float:
    """Mean over all 2-way marginals of ‖p_model − p_data‖₁ (each normalised to a distribution)."""
    table, dims = table_of(train, n_bins)
    pairs = list(itertools.combinations(range(len(dims)), 2))
    if hasattr(release_or_model, "pair_marginals"):
        model = release_or_model.pair_marginals()
    else:
        rows, _ = table_of(from_frame(release_or_model, train.schema, source="release"), n_bins)
        model = {p: true_marginal(rows, dims, p) for p in pairs}
    return float(np.mean([np.abs(model[p] / model[p].sum() - true_marginal(table, dims, p) / len(table)).sum() for p in pairs]))


def test_workload_error_falls_as_epsilon_grows(trains):
    train = trains["pima_diabetes"]
    errors = [np.mean([workload_error(train, fitted(train, epsilon=e, seed=s, n_bins=4).model_, n_bins=4) for s in (0, 1)]) for e in (0.3, 3.0, 30.0)]
    assert errors[0] > 1.5 * errors[1] > 1.5 * 1.5 * errors[2], errors


def test_aim_beats_mst_on_all_pairs(trains):
    train = trains["pima_diabetes"]
    aim, mst = [], []
    for seed in (0, 1):
        aim.append(workload_error(train, fitted(train, epsilon=10.0, seed=seed, n_samples=20000).synthetic_))
        ref = make_method("dp_marginals", n_samples=20000).fit(train, size=5, epsilon=10.0, delta=DELTA, random_state=seed, noise="seeded")
        mst.append(workload_error(train, ref.synthetic_))
    assert np.mean(aim) < 0.9 * np.mean(mst), (aim, mst)
