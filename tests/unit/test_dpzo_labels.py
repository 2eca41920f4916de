"""DP-ZO's graded labels from the start's DP class means (labels=centroid, label_start=centroid)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from dpcondense.data import train_test_split
from dpcondense.methods.dpzo import DPZOCondenser
from dpcondense.methods.dpzo.labels import LOGIT_BOUND, CentroidLabeller


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def test_centroid_labeller_against_an_independent_formula():
    rng = np.random.default_rng(0)
    mu0, mu1 = rng.normal(size=5), rng.normal(size=5)
    lab = CentroidLabeller(np.vstack([mu0, mu1]), strength=1.5)
    # +-strength at the class means, 0 halfway, and the probability of the logit
    np.testing.assert_allclose(lab.logits(np.vstack([mu0, mu1, (mu0 + mu1) / 2])), [-1.5, 1.5, 0.0], atol=1e-12)
    X = rng.normal(size=(50, 5))
    # independently: the log-odds of two unit-variance Gaussians at mu0, mu1, rescaled so a mean gets +-strength
    log_odds = -0.5 * ((X - mu1) ** 2).sum(1) + 0.5 * ((X - mu0) ** 2).sum(1)
    expected = np.clip(1.5 * log_odds / (0.5 * ((mu1 - mu0) ** 2).sum()), -LOGIT_BOUND, LOGIT_BOUND)
    np.testing.assert_allclose(lab.logits(X), expected, atol=1e-12)
    np.testing.assert_allclose(lab.predict_proba(X)[:, 1], _sigmoid(expected), atol=1e-12)
    np.testing.assert_allclose(lab.predict_proba(X).sum(1), 1.0)
    assert np.abs(lab.logits(100 * X)).max() <= LOGIT_BOUND


def _fit(train, **options):
    context = dict(model="decision_tree", size=4, epsilon=1.0, random_state=3, noise="seeded")
    return DPZOCondenser(steps=6, directions=2, **options).fit(train, **context)


def test_centroid_labels_are_post_processing_of_the_released_means(datasets):
    # all-continuous features: the released points are the optimised points (no rounding)
    train, _ = train_test_split(datasets["breast_cancer_wisconsin"], seed=0)
    hard = _fit(train, labels="hard")
    cen = _fit(train, labels="centroid", label_init=2.5)
    # no extra spend: the same ledger as hard labels
    assert cen.ledger_.to_dict()["entries"] == hard.ledger_.to_dict()["entries"]
    # the start's means are the noisy release, not the data's class means
    X, y = train.encoded(), train.y
    exact = np.vstack([X[y == 0].mean(0), X[y == 1].mean(0)])
    assert cen.start_means_.shape == exact.shape and not np.allclose(cen.start_means_, exact, atol=1e-3)
    # each released point is labelled by the nearest-centroid rule of those released means
    rel = cen.synthetic_encoded_
    m = len(rel.X) // 2
    np.testing.assert_allclose(rel.X[:m], rel.X[m:])
    expected = CentroidLabeller(cen.start_means_, 2.5).predict_proba(rel.X[:m])[:, 1]
    np.testing.assert_allclose(rel.weight[m:], expected, atol=1e-12)
    np.testing.assert_allclose(rel.weight[:m], 1.0 - expected, atol=1e-12)
    assert 0.02 < expected.std()  # graded, not 0/1


def test_soft_labels_started_from_the_centroid_rule(datasets):
    """With a negligible step size the released soft labels are the centroid start itself."""
    train, _ = train_test_split(datasets["breast_cancer_wisconsin"], seed=1)
    est = _fit(train, labels="soft", label_start="centroid", label_init=1.0, lr=1e-12)
    rel = est.synthetic_encoded_
    m = len(rel.X) // 2
    start = _sigmoid(CentroidLabeller(est.start_means_, 1.0).logits(rel.X[:m]))
    np.testing.assert_allclose(rel.weight[m:], start, atol=1e-6)
    by_class = _fit(train, labels="soft", label_start="class", label_init=1.0, lr=1e-12).synthetic_encoded_
    np.testing.assert_allclose(by_class.weight[m:], np.repeat([_sigmoid(-1.0), _sigmoid(1.0)], m // 2), atol=1e-6)


def test_centroid_at_infinite_epsilon_uses_the_exact_means(datasets):
    train, _ = train_test_split(datasets["pima_diabetes"], seed=0)
    est = DPZOCondenser(steps=2, directions=2, labels="centroid").fit(train, model="decision_tree", size=3, epsilon=math.inf)
    X, y = train.encoded(), train.y
    np.testing.assert_allclose(est.start_means_, np.vstack([X[y == 0].mean(0), X[y == 1].mean(0)]), atol=1e-12)


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"labels": "centroid", "init": "random", "class_balance": False}, r"init='dp_mean'.*got init='random', labels='centroid'"),
        ({"label_start": "centroid", "init": "random", "class_balance": False}, r"label_start='centroid'"),
        ({"label_start": "nearest"}, r"label_start must be one of \['auto', 'class', 'centroid'\], got 'nearest'"),
    ],
)
def test_bad_label_options_name_the_field(datasets, options, match):
    train, _ = train_test_split(datasets["pima_diabetes"], seed=0)
    with pytest.raises(ValueError, match=match):
        DPZOCondenser(steps=2, **options).fit(train, model="decision_tree", size=3, epsilon=1.0)
