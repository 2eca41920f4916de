"""DP-MERF (``dp_merf``): the embedding's sensitivity, the noise against an independent
calibration, the noise really applied, the generator matching the embedding, the release sizes,
reproducibility without global state, and the refusals.

Independent computations: the random features and the joint embedding are recomputed here with
``numpy`` from the public frequencies; the analytic Gaussian σ is solved with scipy (Balle & Wang
2018, Thm 8) and the joint ε of the two releases by ``dp_accounting``'s PLD accountant, none of
it through ``dpcondense.privacy``.
"""

from __future__ import annotations

import math

import dp_accounting
import numpy as np
import pytest
import torch
from dp_accounting.pld import pld_privacy_accountant
from scipy.optimize import brentq
from scipy.stats import norm

from dpcondense.data import train_test_split
from dpcondense.methods import make_method
from dpcondense.methods._baseline import LogTimeScale
from dpcondense.methods.dp_merf import DPMERF, _GeneratorFit, embedding_sum, fourier_features, output_groups

EPSILON, DELTA = 1.0, 1e-5
SHARES = {"counts": 0.1, "embeddings": 0.9}
CASES = ("pima_diabetes", "gbsg")
_FITS: dict[tuple, DPMERF] = {}


@pytest.fixture(scope="module")
def trains(datasets):
    return {name: train_test_split(datasets[name], seed=0)[0] for name in CASES}


def fitted(train, *, epsilon=EPSILON, seed=0, size=None, **params) -> DPMERF:
    """One fit per arguments for the module (seeded noise: reproducible)."""
    key = (train.name, epsilon, seed, size, tuple(sorted(params.items())))
    if key not in _FITS:
        size = size or (5 if train.task == "classification" else 12)
        _FITS[key] = make_method("dp_merf", **params).fit(
            train, size=size, epsilon=epsilon, delta=DELTA, random_state=seed, noise="seeded"
        )
    return _FITS[key]


def modelled_rows(train, X=None, time=None) -> np.ndarray:
    """Model-space rows in the public box (survival: plus the public log-time column), recomputed here."""
    enc = train.encoder()
    X = np.clip(train.encoded() if X is None else X, enc.lower_, enc.upper_)
    if train.task == "classification":
        return X
    return np.column_stack([X, LogTimeScale(train.schema).encode(train.time if time is None else time)])


def labels_of(train) -> np.ndarray:
    return np.asarray(train.y if train.task == "classification" else train.event, dtype=np.int64)


def features_here(rows: np.ndarray, freqs: np.ndarray) -> np.ndarray:
    """φ(x) = [cos ωx, sin ωx] / √(D/2), written out independently."""
    angles = np.einsum("np,kp->nk", rows, freqs)
    return np.concatenate([np.cos(angles), np.sin(angles)], axis=1) / np.sqrt(freqs.shape[0])


def exact_embedding(train, freqs) -> np.ndarray:
    """Σ_i φ(x_i) ⊗ onehot(y_i), a D × 2 matrix, computed here."""
    phi, y = features_here(modelled_rows(train), freqs), labels_of(train)
    return np.stack([phi[y == c].sum(axis=0) for c in (0, 1)], axis=1)


def gaussian_delta(epsilon: float, multiplier: float) -> float:
    """Balle & Wang (2018) Thm 8: δ of a Gaussian release with noise multiplier ``multiplier``."""
    a, b = 1 / (2 * multiplier), epsilon * multiplier
    return norm.cdf(a - b) - math.exp(epsilon) * norm.cdf(-a - b)


def analytic_sigma(epsilon: float, delta: float, sensitivity: float) -> float:
    return sensitivity * brentq(lambda m: gaussian_delta(epsilon, m) - delta, 1e-3, 1e3, xtol=1e-12)


def pld_epsilon(multipliers, delta: float) -> float:
    acc = pld_privacy_accountant.PLDAccountant(
        dp_accounting.NeighboringRelation.ADD_OR_REMOVE_ONE, value_discretization_interval=1e-4
    )
    for m in multipliers:
        acc.compose(dp_accounting.GaussianDpEvent(m))
    return float(acc.get_epsilon(delta))


# ------------------------------------------------------------------------------ sensitivity


@pytest.mark.parametrize("dataset", CASES)
def test_one_patient_moves_the_embedding_sum_by_exactly_one(dataset, trains):
    """Removing any one patient changes the released sum by a unit-norm matrix: sensitivity 1."""
    train = trains[dataset]
    est = fitted(train, steps=0)
    freqs = est.frequencies_
    rows, y = modelled_rows(train), labels_of(train)
    full = embedding_sum(rows, y, freqs)
    for i in np.random.default_rng(0).choice(len(rows), 25, replace=False):
        keep = np.arange(len(rows)) != i
        assert np.linalg.norm(full - embedding_sum(rows[keep], y[keep], freqs)) == pytest.approx(1.0, abs=1e-9)
    # any point at all, far outside the box included: every feature row has norm exactly 1
    wild = np.random.default_rng(1).normal(0.0, 50.0, size=(200, rows.shape[1]))
    np.testing.assert_allclose(np.linalg.norm(fourier_features(wild, freqs), axis=1), 1.0, atol=1e-12)
    # the method's statistic is the one written out here, and the ledger claims sensitivity 1
    np.testing.assert_allclose(full, exact_embedding(train, freqs), atol=1e-9)
    assert est.sensitivity_ == {"counts": 1.0, "embeddings": 1.0}
    assert {e.purpose: e.sensitivity for e in est.ledger_.entries} == {"dp_merf_counts": 1.0, "dp_merf_embeddings": 1.0}


def test_random_features_approximate_the_gaussian_kernel(trains):
    """Frequencies N(0, 1/ℓ²) and cos/sin pairs: φ(x)·φ(x') ≈ exp(−‖x − x'‖² / 2ℓ²)."""
    train = trains["pima_diabetes"]
    est = fitted(train, steps=0, n_features=40000)
    freqs, ell = est.frequencies_, est.lengthscale_
    p = modelled_rows(train).shape[1]
    assert freqs.shape == (20000, p) and ell == pytest.approx(0.5 * math.sqrt(p))
    assert freqs.std() == pytest.approx(1.0 / ell, rel=0.02)
    rows = modelled_rows(train)[:30]
    phi = fourier_features(rows, freqs)
    sq = ((rows[:, None, :] - rows[None, :, :]) ** 2).sum(axis=2)
    np.testing.assert_allclose(phi @ phi.T, np.exp(-sq / (2 * ell**2)), atol=0.03)


def test_exact_path_releases_the_exact_embedding(trains):
    """ε = ∞: no noise, the release is the statistic itself, and the ledger says non-private."""
    train = trains["gbsg"]
    est = fitted(train, epsilon=math.inf, steps=0)
    np.testing.assert_allclose(est.noisy_embedding_, exact_embedding(train, est.frequencies_), atol=1e-9)
    np.testing.assert_array_equal(est.noisy_counts_, np.bincount(labels_of(train), minlength=2))
    assert not est.ledger_.private and est.noise_std_ == {"counts": 0.0, "embeddings": 0.0}


# ------------------------------------------------------------------------------ the noise


@pytest.mark.parametrize("dataset", CASES)
def test_noise_matches_an_independent_joint_calibration(dataset, trains):
    """σ's in the ratio of the shares' analytic σ's, composing (PLD) to exactly (ε, δ)."""
    est = fitted(trains[dataset], steps=0)
    per_share = {k: analytic_sigma(EPSILON * w, DELTA * w, 1.0) for k, w in SHARES.items()}
    scale = est.noise_std_["counts"] / per_share["counts"]
    assert est.noise_std_["embeddings"] / per_share["embeddings"] == pytest.approx(scale, rel=1e-6)
    assert 0 < scale < 1  # joint accounting buys less noise than splitting the budget
    entries = {e.purpose: e for e in est.ledger_.entries}
    assert set(entries) == {"dp_merf_counts", "dp_merf_embeddings"}
    multipliers = [entries[f"dp_merf_{k}"].event.noise_multiplier for k in SHARES]
    assert multipliers == pytest.approx([est.noise_std_[k] for k in SHARES], rel=1e-12)  # sensitivity 1
    # the two Gaussians compose like one with 1/m² = Σ 1/m_k², which spends exactly ε at δ
    merged = sum(m**-2 for m in multipliers) ** -0.5
    assert merged == pytest.approx(analytic_sigma(EPSILON, DELTA, 1.0), rel=1e-6)
    assert pld_epsilon(multipliers, DELTA) == pytest.approx(EPSILON, rel=1e-3)
    assert pld_epsilon([0.99 * m for m in multipliers], DELTA) > EPSILON
    assert math.fsum(e.delta for e in entries.values()) == pytest.approx(DELTA, rel=1e-12)
    assert est.ledger_.composition == "pld" and est.ledger_.total_epsilon == pytest.approx(EPSILON, rel=1e-9)


def test_noise_is_really_applied_with_the_claimed_std(trains):
    """The released sum scatters around the exact one (recomputed here) with the claimed σ."""
    train = trains["pima_diabetes"]
    est = fitted(train, steps=0)
    residual = est.noisy_embedding_ - exact_embedding(train, est.frequencies_)
    sigma = est.noise_std_["embeddings"]
    assert residual.shape == (est.n_features, 2)
    assert 0.9 * sigma < residual.std() < 1.1 * sigma and abs(residual.mean()) < 0.15 * sigma
    counts = [fitted(train, seed=s, steps=0).noisy_counts_ - np.bincount(train.y) for s in range(8)]
    assert 0.5 * est.noise_std_["counts"] < np.std(counts) < 1.6 * est.noise_std_["counts"]


# ------------------------------------------------------------------------------ the generator


def release_loss(est, train, target_means) -> float:
    """Σ_c ‖mean φ over the release's class c − the real class mean embedding‖² (recomputed here)."""
    rel = est.synthetic_encoded_
    labels = rel.y if train.task == "classification" else rel.event
    phi = features_here(modelled_rows(train, rel.X, rel.time), est.frequencies_)
    return sum(float(((phi[labels == c].mean(axis=0) - target_means[:, c]) ** 2).sum()) for c in (0, 1))


@pytest.mark.parametrize("dataset", CASES)
def test_generator_matches_the_embedding_at_infinite_epsilon(dataset, trains):
    """Trained, the released rows' MMD-RF to the real data is far below an untrained generator's
    and uniform rows'; the training loss falls to the sampling floor."""
    train = trains[dataset]
    trained = fitted(train, epsilon=math.inf, n_samples="large")
    untrained = fitted(train, epsilon=math.inf, n_samples="large", steps=0)
    freqs = trained.frequencies_
    y = labels_of(train)
    target = exact_embedding(train, freqs) / np.bincount(y, minlength=2)[None, :]
    ours, before = release_loss(trained, train, target), release_loss(untrained, train, target)
    enc = train.encoder()
    rng = np.random.default_rng(5)
    uniform = modelled_rows(train, rng.uniform(enc.lower_, enc.upper_, (len(y), enc.lower_.size)), rng.uniform(1.0, 1e4, len(y)))
    phi_u = features_here(uniform, freqs)
    uniform_loss = sum(float(((phi_u[y == c].mean(axis=0) - target[:, c]) ** 2).sum()) for c in (0, 1))
    assert ours < 0.1 * before and ours < 0.1 * uniform_loss and ours < 0.05, (ours, before, uniform_loss)
    assert np.mean(trained.matching_loss_[-50:]) < 0.05 * trained.matching_loss_[0]


def test_generator_outputs_stay_in_the_box_with_categorical_blocks_on_the_simplex(trains):
    train = trains["gbsg"]
    enc = train.encoder()
    lower, upper = np.append(enc.lower_, -1.0), np.append(enc.upper_, 1.0)
    groups = output_groups(train)
    assert groups and all(stop - start >= 2 for start, stop in groups)
    fit = _GeneratorFit(lower, upper, groups, np.ones((3, lower.size)), 4, [8], seed=0)
    out = fit.sample(np.array([0, 1] * 50))
    assert ((out >= lower - 1e-6) & (out <= upper + 1e-6)).all()
    for start, stop in groups:
        np.testing.assert_allclose(out[:, start:stop].sum(axis=1), 1.0, atol=1e-5)


# ------------------------------------------------------------------------------ the release


def test_release_sizes_follow_n_samples(trains):
    pima, gbsg = trains["pima_diabetes"], trains["gbsg"]
    balanced = fitted(pima, steps=0, size=7)
    assert np.bincount(balanced.synthetic_encoded_.y).tolist() == [7, 7]
    large = fitted(pima, steps=0, n_samples="large")
    assert len(large.synthetic_) == pima.n_public
    share = large.noisy_counts_[1] / large.noisy_counts_.sum()
    assert large.synthetic_encoded_.y.mean() == pytest.approx(share, abs=1.0 / pima.n_public)
    assert len(fitted(pima, steps=0, n_samples=37).synthetic_) == 37
    surv = fitted(gbsg, steps=0, size=40)
    events = int(surv.synthetic_encoded_.event.sum())
    assert len(surv.synthetic_) == 40 and events == round(40 * surv.noisy_counts_[1] / surv.noisy_counts_.sum())


def test_same_seed_is_bit_identical_and_global_torch_state_is_untouched(trains):
    train = trains["gbsg"]
    state, threads = torch.get_rng_state(), torch.get_num_threads()
    a = make_method("dp_merf", steps=30).fit(train, size=12, random_state=3, noise="seeded")
    b = make_method("dp_merf", steps=30).fit(train, size=12, random_state=3, noise="seeded")
    assert torch.equal(torch.get_rng_state(), state) and torch.get_num_threads() == threads
    np.testing.assert_array_equal(a.synthetic_encoded_.X, b.synthetic_encoded_.X)
    np.testing.assert_array_equal(a.synthetic_encoded_.time, b.synthetic_encoded_.time)
    assert a.matching_loss_ == b.matching_loss_
    c = make_method("dp_merf", steps=30).fit(train, size=12, random_state=4, noise="seeded")
    assert not np.array_equal(a.synthetic_encoded_.X, c.synthetic_encoded_.X)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"n_features": 501}, "n_features must be even"),
        ({"budget_shares": {"counts": 1.0}}, "budget_shares must have exactly the keys"),
        ({"n_samples": "huge"}, "n_samples must be 'size', 'large' or an integer >= 1"),
        ({"hidden": []}, "hidden must be a non-empty list"),
        ({"steps": 10**6, "batch_size": 10**4}, "steps × batch_size × n_features"),
    ],
)
def test_bad_parameters_are_refused_before_any_work(params, message, trains):
    with pytest.raises(ValueError, match=message):
        DPMERF.check_run(params, task="classification", epsilon=1.0)
    with pytest.raises(ValueError, match=message):
        DPMERF(**params).fit(trains["pima_diabetes"], size=2, random_state=0)
