"""Each DP baseline's noise is the noise its ledger's (ε, δ) demands, recomputed independently.

The sensitivities are derived here from the schema, and the Gaussian noise from the analytic
Gaussian mechanism solved with scipy (not with ``dpcondense.privacy``).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.optimize import brentq
from scipy.stats import norm
from sklearn.metrics import roc_auc_score

from dpcondense.data import train_test_split
from dpcondense.evaluate import evaluate_release
from dpcondense.methods import make_method

CASES = ("pima_diabetes", "gbsg")
SIZE = {"classification": 5, "survival": 12}
EPSILON, DELTA = 1.0, 1e-5
FAST = {"dp_dm": {"steps": 25}}
_FITS: dict[tuple, object] = {}


@pytest.fixture(scope="module")
def trains(datasets):
    return {name: train_test_split(datasets[name], seed=0)[0] for name in CASES}


def fitted(method: str, train, **params):
    key = (method, train.name, tuple(sorted(params.items())))
    if key not in _FITS:
        _FITS[key] = make_method(method, **{**FAST.get(method, {}), **params}).fit(train, size=SIZE[train.task], epsilon=EPSILON, delta=DELTA, random_state=0, model="decision_tree" if train.task == "classification" else "cox_ph")
    return _FITS[key]


def analytic_gaussian_sigma(epsilon: float, delta: float, sensitivity: float) -> float:
    """Balle & Wang (2018) Thm 8, solved with scipy (independent of dpcondense.privacy)."""

    def excess(sigma: float) -> float:
        a, b = sensitivity / (2 * sigma), epsilon * sigma / sensitivity
        return norm.cdf(a - b) - math.exp(epsilon) * norm.cdf(-a - b) - delta

    return brentq(excess, 1e-3 * sensitivity, 1e3 * sensitivity, xtol=1e-12 * sensitivity)


def box_half_widths(train) -> np.ndarray:
    """Half-width of every modelled column, from the schema (numeric 1, 0/1 columns 1/2, log-time 1)."""
    widths = []
    for f in train.schema.features:
        widths += [1.0] if f.type == "numeric" else [0.5] * (1 if f.type == "binary" else len(f.categories))
        widths += [0.5] if f.missing.indicator else []
    return np.array(widths + ([1.0] if train.task == "survival" else []))


@pytest.mark.parametrize("dataset", CASES)
def test_dp_gaussian_noise_matches_ledger(dataset, trains):
    train = trains[dataset]
    est = fitted("dp_gaussian", train)
    radius = float(np.linalg.norm(box_half_widths(train)))
    expected_sens = {"counts": 1.0, "sums": radius, "second_moments": radius**2}
    by_purpose = {e.purpose.removeprefix("dp_gaussian_"): e for e in est.ledger_.entries}
    assert set(by_purpose) == set(expected_sens)
    for name, sens in expected_sens.items():
        entry = by_purpose[name]
        assert entry.sensitivity == pytest.approx(sens, rel=1e-12)
        sigma = analytic_gaussian_sigma(entry.epsilon, entry.delta, sens)
        assert est.noise_std_[name] == pytest.approx(sigma, rel=1e-6)
        assert entry.noise_multiplier * sens == pytest.approx(sigma, rel=1e-6)


def test_dp_gaussian_noise_is_really_applied(trains):
    """The released counts scatter around the true counts with the claimed std (40 seeds)."""
    train = trains["pima_diabetes"]
    exact = np.bincount(train.y, minlength=2)
    residuals, sigma = [], None
    for seed in range(40):
        est = make_method("dp_gaussian").fit(train, size=2, epsilon=EPSILON, delta=DELTA, random_state=seed)
        residuals.append(est.noisy_counts_ - exact)
        sigma = est.noise_std_["counts"]
    spread = np.std(np.concatenate(residuals))
    assert 0.75 * sigma < spread < 1.25 * sigma


@pytest.mark.parametrize("dataset", CASES)
def test_dp_dm_noise_matches_ledger(dataset, trains):
    est = fitted("dp_dm", trains[dataset])
    expected_sens = {"counts": 1.0, "embeddings": est.clip}
    for entry in est.ledger_.entries:
        name = entry.purpose.removeprefix("dp_dm_")
        assert entry.sensitivity == pytest.approx(expected_sens[name])
        assert est.noise_std_[name] == pytest.approx(analytic_gaussian_sigma(entry.epsilon, entry.delta, expected_sens[name]), rel=1e-6)
    assert est.matching_loss_[-1] < est.matching_loss_[0]  # the optimiser matches the release


@pytest.mark.parametrize("estimator", ["logistic_regression", "random_trees"])
def test_dp_direct_noise_matches_ledger(estimator, trains):
    train = trains["pima_diabetes"]
    est = fitted("dp_direct", train, estimator=estimator)
    if estimator == "logistic_regression":
        blocks = sum(1 + int(f.missing.indicator) for f in train.schema.features)
        sens = math.sqrt(blocks + 1) / est.regularization
    else:
        sens = math.sqrt(est.n_trees)
    (entry,) = est.ledger_.entries
    assert entry.sensitivity == pytest.approx(sens, rel=1e-12)
    assert est.noise_std_ == pytest.approx(analytic_gaussian_sigma(EPSILON, DELTA, sens), rel=1e-6)


@pytest.mark.parametrize("dataset", CASES)
def test_dp_marginals_noise_matches_zcdp_conversion(dataset, trains):
    train = trains[dataset]
    est = fitted("dp_marginals", train)
    log_inv_delta = math.log(1 / DELTA)
    # rho-zCDP gives (rho + 2 sqrt(rho log(1/delta)), delta)-DP: solve that for rho with scipy
    rho = brentq(lambda r: r + 2 * math.sqrt(r * log_inv_delta) - EPSILON, 1e-12, EPSILON)
    k = len(train.schema.features) + (1 if train.task == "classification" else 2)
    assert est.rho_ == pytest.approx(rho, rel=1e-9)
    # thirds of rho: Gaussian with L2 sensitivity sqrt(k) (1-way) and sqrt(k-1) (tree pairs)
    assert est.noise_std_["one_way"] == pytest.approx(math.sqrt(k) / math.sqrt(2 * rho / 3), rel=1e-9)
    assert est.noise_std_["two_way"] == pytest.approx(math.sqrt(k - 1) / math.sqrt(2 * rho / 3), rel=1e-9)
    # k - 1 exponential mechanisms, each eps0^2/8-zCDP, add up to rho/3
    assert (k - 1) * est.selection_epsilon_**2 / 8 == pytest.approx(rho / 3, rel=1e-9)
    assert len(est.tree_) == k - 1
    (entry,) = est.ledger_.entries
    assert entry.epsilon == EPSILON and entry.delta == DELTA


def test_dp_marginals_large_sample_and_outcome_in_table(trains):
    train = trains["gbsg"]
    large = fitted("dp_marginals", train, n_samples="large")
    assert len(large.synthetic_) == train.n_public
    assert {"__event__", "__time__"} <= {name for pair in large.tree_ for name in pair}  # outcome modelled
    assert len(fitted("dp_marginals", train, n_samples=37).synthetic_) == 37


def test_model_release_is_scored_as_released(trains, datasets):
    train, test = train_test_split(datasets["pima_diabetes"], seed=0)
    est = make_method("dp_direct").fit(train, epsilon=math.inf, random_state=0)
    metrics = evaluate_release(est.synthetic_encoded_, train, test, "decision_tree")
    direct = roc_auc_score(test.y, est.released_model_.predict_proba(test.encoded())[:, 1])
    assert metrics["auroc"] == pytest.approx(direct)
    assert metrics["auroc"] > 0.75  # non-private logistic regression on Pima
