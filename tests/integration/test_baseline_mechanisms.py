"""Each DP baseline's noise is the noise its ledger's (ε, δ) demands, recomputed independently.

The sensitivities are derived here from the schema; the Gaussian noise from the analytic Gaussian
mechanism solved with scipy; the joint ε of a run's Gaussian releases by ``dp_accounting``'s PLD
accountant called directly; MST's zCDP conversion by minimising the Canonne–Kamath–Steinke bound
with scipy. None of it uses ``dpcondense.privacy``'s calibration.
"""

from __future__ import annotations

import math

import dp_accounting
import numpy as np
import pytest
from dp_accounting.pld import pld_privacy_accountant
from scipy.optimize import brentq, minimize_scalar
from scipy.stats import norm
from sklearn.metrics import roc_auc_score

from dpcondense.data import train_test_split
from dpcondense.evaluate import evaluate_release
from dpcondense.methods import make_method
from dpcondense.privacy.composition import gaussian_event, joint_epsilon

CASES = ("pima_diabetes", "gbsg")
SIZE = {"classification": 5, "survival": 12}
EPSILON, DELTA = 1.0, 1e-5
FAST = {"dp_dm": {"steps": 25}}
DEFAULT_SHARES = {
    "dp_gaussian": {"counts": 0.1, "sums": 0.3, "second_moments": 0.6},
    "dp_dm": {"counts": 0.1, "embeddings": 0.9},
}
_FITS: dict[tuple, object] = {}


@pytest.fixture(scope="module")
def trains(datasets):
    return {name: train_test_split(datasets[name], seed=0)[0] for name in CASES}


def fitted(method: str, train, **params):
    key = (method, train.name, tuple(sorted(params.items())))
    if key not in _FITS:
        _FITS[key] = make_method(method, **{**FAST.get(method, {}), **params}).fit(
            train, size=SIZE[train.task], epsilon=EPSILON, delta=DELTA, random_state=0, noise="seeded",
            model="decision_tree" if train.task == "classification" else "cox_ph",
        )
    return _FITS[key]


def _gaussian_delta(epsilon: float, multiplier: float) -> float:
    """Balle & Wang (2018) Thm 8: the δ of a Gaussian release with noise multiplier ``multiplier`` at ε."""
    a, b = 1 / (2 * multiplier), epsilon * multiplier
    return norm.cdf(a - b) - math.exp(epsilon) * norm.cdf(-a - b)


def analytic_gaussian_sigma(epsilon: float, delta: float, sensitivity: float) -> float:
    """The analytic Gaussian σ, solved with scipy (independent of dpcondense.privacy)."""
    return sensitivity * brentq(lambda m: _gaussian_delta(epsilon, m) - delta, 1e-3, 1e3, xtol=1e-12)


def analytic_gaussian_epsilon(multiplier: float, delta: float) -> float:
    """The exact ε of one Gaussian release at δ, solved with scipy."""
    return brentq(lambda e: _gaussian_delta(e, multiplier) - delta, 1e-9, 100.0, xtol=1e-14)


def pld_epsilon(multipliers, delta: float) -> float:
    """ε at δ of Gaussian releases composed by dp_accounting's PLD accountant (add/remove one)."""
    acc = pld_privacy_accountant.PLDAccountant(
        dp_accounting.NeighboringRelation.ADD_OR_REMOVE_ONE, value_discretization_interval=1e-4
    )
    for m in multipliers:
        acc.compose(dp_accounting.GaussianDpEvent(m))
    return float(acc.get_epsilon(delta))


def cks_epsilon(rho: float, delta: float) -> float:
    """Canonne–Kamath–Steinke (2020, Prop. 12): ε of ρ-zCDP at δ, minimised over α > 1 with scipy."""

    def bound(log_alpha_minus_1: float) -> float:
        alpha = 1.0 + math.exp(log_alpha_minus_1)
        return rho * alpha + (math.log(1 / delta) - math.log(alpha)) / (alpha - 1) + math.log1p(-1 / alpha)

    return float(minimize_scalar(bound, bounds=(-12.0, 12.0), method="bounded", options={"xatol": 1e-12}).fun)


def box_half_widths(train) -> np.ndarray:
    """Half-width of every modelled column, from the schema (numeric 1, 0/1 columns 1/2, log-time 1)."""
    widths = []
    for f in train.schema.features:
        widths += [1.0] if f.type == "numeric" else [0.5] * (1 if f.type == "binary" else len(f.categories))
        widths += [0.5] if f.missing.indicator else []
    return np.array(widths + ([1.0] if train.task == "survival" else []))


def check_joint_calibration(est, prefix: str, expected_sens: dict[str, float]) -> None:
    """Noise ratios follow the shares; the recorded events compose to the target and no further."""
    by_purpose = {e.purpose.removeprefix(f"{prefix}_"): e for e in est.ledger_.entries}
    assert set(by_purpose) == set(expected_sens)
    shares = DEFAULT_SHARES[prefix]
    total = sum(shares.values())
    per_share = {k: analytic_gaussian_sigma(EPSILON * w / total, DELTA * w / total, expected_sens[k]) for k, w in shares.items()}
    scales = {k: est.noise_std_[k] / per_share[k] for k in shares}
    for name, entry in by_purpose.items():
        assert entry.sensitivity == pytest.approx(expected_sens[name], rel=1e-12)
        assert scales[name] == pytest.approx(scales["counts"], rel=1e-6)  # one common scale
        assert entry.noise_multiplier * expected_sens[name] == pytest.approx(est.noise_std_[name], rel=1e-12)
        assert entry.event.kind == "gaussian" and entry.event.noise_multiplier == pytest.approx(entry.noise_multiplier, rel=1e-12)
        # the entry's own ε is that release alone at its δ
        assert entry.epsilon == pytest.approx(analytic_gaussian_epsilon(entry.noise_multiplier, entry.delta), rel=1e-6)
    assert 0 < scales["counts"] < 1  # joint accounting buys less noise than the basic split
    assert math.fsum(e.delta for e in by_purpose.values()) == pytest.approx(DELTA, rel=1e-12)
    multipliers = [e.event.noise_multiplier for e in by_purpose.values()]
    assert pld_epsilon(multipliers, DELTA) == pytest.approx(EPSILON, rel=1e-3)
    assert pld_epsilon([0.99 * m for m in multipliers], DELTA) > EPSILON
    assert est.ledger_.composition == "pld"
    assert est.ledger_.total_epsilon == pytest.approx(EPSILON, rel=1e-9)
    assert est.ledger_.total_epsilon <= EPSILON * (1 + 1e-9)
    assert est.ledger_.basic_epsilon > EPSILON


def test_gaussian_composition_closed_form():
    """Gaussians with multipliers m_k compose into one with 1/m² = Σ 1/m_k² (dp_accounting's PLD and
    the project's joint_epsilon, which the methods' calibration relies on)."""
    multipliers = [25.0, 8.4, 4.2]
    merged = sum(m**-2 for m in multipliers) ** -0.5
    closed = analytic_gaussian_epsilon(merged, DELTA)
    assert pld_epsilon(multipliers, DELTA) == pytest.approx(closed, rel=1e-3)
    assert joint_epsilon([gaussian_event(m) for m in multipliers], DELTA) == pytest.approx(closed, rel=1e-9)


@pytest.mark.parametrize("dataset", CASES)
def test_dp_gaussian_noise_matches_ledger(dataset, trains):
    train = trains[dataset]
    est = fitted("dp_gaussian", train)
    radius = float(np.linalg.norm(box_half_widths(train)))
    check_joint_calibration(est, "dp_gaussian", {"counts": 1.0, "sums": radius, "second_moments": radius**2})


def test_dp_gaussian_noise_is_really_applied(trains):
    """The released counts scatter around the true counts with the claimed std (40 seeds)."""
    train = trains["pima_diabetes"]
    exact = np.bincount(train.y, minlength=2)
    residuals, sigma = [], None
    for seed in range(40):
        est = make_method("dp_gaussian").fit(train, size=2, epsilon=EPSILON, delta=DELTA, random_state=seed, noise="seeded")
        residuals.append(est.noisy_counts_ - exact)
        sigma = est.noise_std_["counts"]
    spread = np.std(np.concatenate(residuals))
    assert 0.75 * sigma < spread < 1.25 * sigma


@pytest.mark.parametrize("dataset", CASES)
def test_dp_dm_noise_matches_ledger(dataset, trains):
    est = fitted("dp_dm", trains[dataset])
    check_joint_calibration(est, "dp_dm", {"counts": 1.0, "embeddings": est.clip})
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
    # one release: the analytic Gaussian σ at the whole (ε, δ), as before joint accounting
    assert est.noise_std_ == pytest.approx(analytic_gaussian_sigma(EPSILON, DELTA, sens), rel=1e-6)
    assert (entry.epsilon, entry.delta) == (EPSILON, DELTA)
    assert entry.event.kind == "gaussian" and entry.event.noise_multiplier == pytest.approx(est.noise_std_ / sens, rel=1e-12)
    assert pld_epsilon([entry.event.noise_multiplier], DELTA) == pytest.approx(EPSILON, rel=1e-3)
    assert pld_epsilon([0.99 * entry.event.noise_multiplier], DELTA) > EPSILON
    assert est.ledger_.total_epsilon == pytest.approx(EPSILON, rel=1e-9)


@pytest.mark.parametrize("dataset", CASES)
def test_dp_marginals_noise_matches_zcdp_conversion(dataset, trains):
    train = trains[dataset]
    est = fitted("dp_marginals", train)
    # the largest rho whose tight (CKS) conversion meets the target, solved with scipy
    rho = brentq(lambda r: cks_epsilon(r, DELTA) - EPSILON, 1e-6, 10 * EPSILON, xtol=1e-14)
    assert est.rho_ == pytest.approx(rho, rel=1e-6)
    assert cks_epsilon(est.rho_, DELTA) <= EPSILON * (1 + 1e-9)
    assert cks_epsilon(1.001 * est.rho_, DELTA) > EPSILON
    # the tight conversion is below the classical one: the same (ε, δ) buys a larger rho
    loose_rho = brentq(lambda r: r + 2 * math.sqrt(r * math.log(1 / DELTA)) - EPSILON, 1e-12, EPSILON)
    assert est.rho_ > loose_rho
    assert cks_epsilon(est.rho_, DELTA) <= est.rho_ + 2 * math.sqrt(est.rho_ * math.log(1 / DELTA))
    k = len(train.schema.features) + (1 if train.task == "classification" else 2)
    # thirds of rho: Gaussian with L2 sensitivity sqrt(k) (1-way) and sqrt(k-1) (tree pairs)
    assert est.noise_std_["one_way"] == pytest.approx(math.sqrt(k) / math.sqrt(2 * rho / 3), rel=1e-6)
    assert est.noise_std_["two_way"] == pytest.approx(math.sqrt(k - 1) / math.sqrt(2 * rho / 3), rel=1e-6)
    # k - 1 exponential mechanisms, each eps0^2/8-zCDP, add up to rho/3
    assert (k - 1) * est.selection_epsilon_**2 / 8 == pytest.approx(rho / 3, rel=1e-6)
    assert len(est.tree_) == k - 1
    (entry,) = est.ledger_.entries
    assert entry.event.kind == "zcdp" and entry.event.rho == est.rho_ == entry.extra["rho"]
    assert entry.epsilon == pytest.approx(cks_epsilon(est.rho_, DELTA), rel=1e-9)
    assert entry.epsilon <= EPSILON and entry.delta == DELTA
    assert est.ledger_.total_epsilon == entry.epsilon


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
