"""The forests' fast path against the estimators it replaces: the same trees, bit for bit.

``random_forest`` and ``random_survival_forest`` grow their trees with scikit-learn's builder
directly (:mod:`dpcondense.models._tree_ensemble`); every comparison here is exact equality with
``RandomForestClassifier`` / scikit-survival's ``RandomSurvivalForest`` fitted on the same rows
with the same seed, tree by tree and on held-out predictions.
"""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from fit_inputs import mixed_rows, soft_label_rows, survival_rows
from sklearn.ensemble import RandomForestClassifier
from sksurv.ensemble import RandomSurvivalForest as SksurvRSF

from dpcondense.models import make_model
from dpcondense.models._tree_ensemble import (
    GrowthRules,
    TreeForest,
    bootstrap_cdf,
    bootstrap_counts,
    growth_rules,
)
from dpcondense.models.random_forest import ESTIMATOR_DEFAULTS as RF_DEFAULTS
from dpcondense.models.random_forest import RandomForest
from dpcondense.models.random_survival_forest import ESTIMATOR_DEFAULTS as RSF_DEFAULTS
from dpcondense.models.random_survival_forest import survival_outcome

GRID = np.linspace(0.0, 40.0, 25)


def rf_reference(X, y, w, seed, params) -> RandomForestClassifier:
    return RandomForestClassifier(n_jobs=1, random_state=seed, **params).fit(X, y, sample_weight=w)


def rsf_reference(X, time, event, w, seed, params) -> SksurvRSF:
    return SksurvRSF(n_jobs=1, random_state=seed, **params).fit(X, survival_outcome(time, event), sample_weight=w)


def assert_same_trees(ours: TreeForest, reference) -> None:
    """Every tree equal to the estimator's: structure, thresholds, leaf values."""
    assert len(ours.trees) == len(reference.estimators_)
    for mine, est in zip(ours.trees, reference.estimators_):
        theirs = est.tree_
        for attr in ("children_left", "children_right", "feature", "threshold", "value", "weighted_n_node_samples"):
            np.testing.assert_array_equal(getattr(mine, attr), getattr(theirs, attr), err_msg=attr)


RF_CASES = [
    # (rows, features, weighted, params)
    (20, 51, True, {}),
    (20, 51, True, {"n_estimators": 7, "max_features": "log2"}),
    (35, 9, False, {"n_estimators": 11, "max_depth": 3, "min_samples_leaf": 2}),
    (12, 6, True, {"n_estimators": 9, "max_features": None, "min_samples_leaf": 3}),
    (30, 10, False, {"n_estimators": 5, "max_features": 0.35}),
    (30, 10, True, {"n_estimators": 5, "max_features": 4, "max_depth": 5}),
]


@pytest.mark.parametrize("m, d, weighted, extra", RF_CASES)
@pytest.mark.parametrize("seed", [0, 7, 2**31 - 2])
def test_random_forest_equals_the_estimator(m, d, weighted, extra, seed):
    rng = np.random.default_rng([m, d, seed])
    if weighted:
        X, y, w = soft_label_rows(rng, m, d)
    else:
        X, y, w = mixed_rows(rng, m, d), rng.integers(0, 2, m), None
        y[:2] = [0, 1]
    model = make_model("random_forest", random_state=seed, **extra).fit(X, y, sample_weight=w)
    assert isinstance(model.estimator_, TreeForest)
    reference = rf_reference(X, y, w, seed, model.params)
    assert_same_trees(model.estimator_, reference)
    held_out = mixed_rows(rng, 300, d)
    expected = reference.predict_proba(held_out)[:, list(reference.classes_).index(1)]
    np.testing.assert_array_equal(model.predict_proba(held_out)[:, 1], expected)


RSF_CASES = [
    (50, 9, False, {}),
    (50, 9, False, {"n_estimators": 8, "min_samples_split": 6, "min_samples_leaf": 4, "max_features": "log2"}),
    (25, 5, True, {"n_estimators": 6, "max_features": None, "max_depth": 2}),
    (40, 12, True, {"n_estimators": 10, "min_samples_split": 2, "min_samples_leaf": 1, "max_features": 0.5}),
]


@pytest.mark.parametrize("n, d, weighted, extra", RSF_CASES)
@pytest.mark.parametrize("seed", [0, 11])
def test_random_survival_forest_equals_the_estimator(n, d, weighted, extra, seed):
    rng = np.random.default_rng([n, d, seed, 1])
    X, time, event = survival_rows(rng, n, d)
    w = rng.uniform(0.1, 2.0, n) if weighted else None
    model = make_model("random_survival_forest", random_state=seed, **extra).fit(X, time, event, w)
    assert isinstance(model.estimator_, TreeForest)
    reference = rsf_reference(X, time, event, w, seed, model.params)
    np.testing.assert_array_equal(model.estimator_.labels, reference.unique_times_)
    assert_same_trees(model.estimator_, reference)
    held_out = mixed_rows(rng, 200, d)
    surv = reference.predict_survival_function(held_out, return_array=True)
    idx = np.searchsorted(reference.unique_times_, GRID, side="right")
    expected = np.minimum.accumulate(np.concatenate([np.ones((len(held_out), 1)), surv], axis=1)[:, idx], axis=1)
    np.testing.assert_array_equal(model.predict_survival(held_out, GRID), expected)


@pytest.mark.parametrize("family", ["random_forest", "random_survival_forest"])
def test_fit_many_equals_fits_one_by_one(family):
    """The shared scratch state leaks nothing between the fits of a batch."""
    rng = np.random.default_rng(3)
    if family == "random_forest":
        data = [soft_label_rows(rng, 15, 8) for _ in range(4)]
    else:
        data = [(*survival_rows(rng, 30, 6), None) for _ in range(4)]
    seeds = [5, 5, 9, 2]
    batch = type(make_model(family)).fit_many([make_model(family, random_state=s, n_estimators=6) for s in seeds], data)
    held_out = mixed_rows(rng, 50, data[0][0].shape[1])
    for model, rows, seed in zip(batch, data, seeds):
        single = make_model(family, random_state=seed, n_estimators=6).fit(*rows)
        if family == "random_forest":
            np.testing.assert_array_equal(model.predict_proba(held_out), single.predict_proba(held_out))
        else:
            np.testing.assert_array_equal(model.predict_survival(held_out, GRID), single.predict_survival(held_out, GRID))


def test_weighted_bootstrap_is_the_estimators_choice():
    """The bootstrap counts equal scikit-learn's draw ``RandomState(seed).choice(n, n, p=w / w.sum())``."""
    rng = np.random.default_rng(4)
    state = np.random.RandomState(0)
    for trial in range(200):
        n = int(rng.integers(2, 80))
        w = rng.uniform(0.0, 1.0, n) * (rng.uniform(size=n) > 0.2)  # some zero weights
        w[0] += 0.1
        seed = int(rng.integers(0, 2**31 - 1))
        state.seed(seed)
        ours = bootstrap_counts(state, n, bootstrap_cdf(w))
        theirs = np.random.RandomState(seed).choice(n, n, replace=True, p=w / np.sum(w))
        np.testing.assert_array_equal(ours, np.bincount(theirs, minlength=n))
        state.seed(seed)
        uniform = np.random.RandomState(seed).randint(0, n, n)
        np.testing.assert_array_equal(bootstrap_counts(state, n, None), np.bincount(uniform, minlength=n))


@pytest.mark.parametrize("max_features", ["sqrt", "log2", None, 1, 3, 0.01, 0.3, 1.0])
@pytest.mark.parametrize("d", [1, 2, 7, 51])
def test_features_per_split_as_the_trees_compute_them(max_features, d):
    rules = growth_rules({"max_features": max_features}, d, RF_DEFAULTS)
    if isinstance(max_features, int) and max_features > d:
        assert rules is None  # outside what the builder takes: the estimator handles it
        return
    rng = np.random.default_rng(d)
    X, y = rng.normal(size=(6, d)), np.array([0, 1, 0, 1, 0, 1])
    tree = RandomForestClassifier(n_estimators=1, max_features=max_features, random_state=0).fit(X, y).estimators_[0]
    assert rules.max_features == tree.max_features_


@pytest.mark.parametrize("defaults, estimator", [(RF_DEFAULTS, RandomForestClassifier()), (RSF_DEFAULTS, SksurvRSF())])
def test_defaults_are_the_estimators(defaults, estimator):
    """A hyperparameter left out is read as the estimator would read it."""
    params = estimator.get_params()
    assert defaults == {key: params[key] for key in defaults}
    assert "min_samples_split" in defaults or params["min_samples_split"] == 2


def test_growth_rules_leave_unsupported_settings_to_the_estimator():
    assert growth_rules({"criterion": "entropy"}, 5, RF_DEFAULTS) is None
    assert growth_rules({"min_samples_leaf": 0.1}, 5, RF_DEFAULTS) is None
    assert growth_rules({"max_features": 0.0}, 5, RF_DEFAULTS) is None
    rules = growth_rules({"min_samples_leaf": 3}, 5, RF_DEFAULTS)
    assert rules == GrowthRules(n_trees=100, max_features=2, min_samples_split=6, min_samples_leaf=3, max_depth=2**31 - 1)


@pytest.mark.parametrize(
    "case", ["unknown parameter", "NaN feature", "too many features"],
)
def test_uncovered_fits_go_to_the_estimator_unchanged(case):
    rng = np.random.default_rng(6)
    X, y, w = soft_label_rows(rng, 12, 5)
    params = {"n_estimators": 5}
    if case == "unknown parameter":
        params["criterion"] = "entropy"
    elif case == "NaN feature":
        X[3, 2] = np.nan
    else:
        params["max_features"] = 9
    model = RandomForest(random_state=1, **params).fit(X, y, w)  # make_model would refuse the unknown one
    assert isinstance(model.estimator_, RandomForestClassifier)
    held_out = mixed_rows(rng, 40, 5)
    expected = rf_reference(X, y, w, 1, model.params).predict_proba(held_out)[:, 1]
    np.testing.assert_array_equal(model.predict_proba(held_out)[:, 1], expected)


@pytest.mark.parametrize("bad", ["negative", "zero sum"])
def test_invalid_weights_raise_the_estimators_error(bad):
    rng = np.random.default_rng(10)
    X, y, w = soft_label_rows(rng, 10, 4)
    w = w.copy()
    if bad == "negative":
        w[2] = -0.5
    else:
        w[:] = 0.0
    with pytest.raises(ValueError) as expected:
        rf_reference(X, y, w, 0, {"n_estimators": 3})
    with pytest.raises(ValueError) as ours:
        make_model("random_forest", random_state=0, n_estimators=3).fit(X, y, w)
    assert str(ours.value) == str(expected.value)


def test_survival_fallbacks():
    rng = np.random.default_rng(8)
    X, time, event = survival_rows(rng, 20, 4)
    tied = make_model("random_survival_forest", random_state=0).fit(X, np.full(20, 3.0), event)
    assert tied.estimator_ is None  # one distinct time: Kaplan–Meier
    with pytest.raises(ValueError, match="smaller zero"):  # scikit-survival's own error, as before
        make_model("random_survival_forest", random_state=0, n_estimators=3).fit(X, time - 100.0, event)


def test_deterministic_and_seed_dependent_and_picklable():
    rng = np.random.default_rng(9)
    X, y, w = soft_label_rows(rng, 20, 10)
    held_out = mixed_rows(rng, 60, 10)
    a = make_model("random_forest", random_state=12).fit(X, y, w)
    b = make_model("random_forest", random_state=12).fit(X, y, w)
    c = make_model("random_forest", random_state=13).fit(X, y, w)
    np.testing.assert_array_equal(a.predict_proba(held_out), b.predict_proba(held_out))
    assert not np.array_equal(a.predict_proba(held_out), c.predict_proba(held_out))
    restored = pickle.loads(pickle.dumps(a))
    np.testing.assert_array_equal(restored.predict_proba(held_out), a.predict_proba(held_out))
