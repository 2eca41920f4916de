"""The decision tree's fast path against the estimator it replaces: the same tree, bit for bit.

``decision_tree`` grows its tree with scikit-learn's builder directly
(:func:`dpcondense.models._tree_ensemble.grow_tree`); every comparison here is exact equality with
``DecisionTreeClassifier`` fitted on the same rows with the same seed: the tree's arrays, held-out
predictions, and a whole DP-ZO release.
"""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from fit_inputs import mixed_rows, soft_label_rows
from sklearn.tree import DecisionTreeClassifier
from sklearn.tree._classes import CRITERIA_CLF

from dpcondense.models import decision_tree, make_model
from dpcondense.models._tree_ensemble import TreeForest, valid_tree_weights
from dpcondense.models.decision_tree import CRITERIA, ESTIMATOR_DEFAULTS, DecisionTree

TREE_ARRAYS = ("children_left", "children_right", "feature", "threshold", "value", "impurity",
               "n_node_samples", "weighted_n_node_samples")


def reference(X, y, w, seed, params) -> DecisionTreeClassifier:
    return DecisionTreeClassifier(random_state=seed, **params).fit(X, y, sample_weight=w)


def assert_same_tree(model: DecisionTree, ref: DecisionTreeClassifier, held_out: np.ndarray) -> None:
    """The fast tree equals the estimator's (every array) and so do P(y = 1) on held-out rows."""
    assert isinstance(model.estimator_, TreeForest) and len(model.estimator_.trees) == 1
    np.testing.assert_array_equal(model.estimator_.labels, ref.classes_)
    mine, theirs = model.estimator_.trees[0], ref.tree_
    assert (mine.max_depth, mine.node_count) == (theirs.max_depth, theirs.node_count)
    for attr in TREE_ARRAYS:
        np.testing.assert_array_equal(getattr(mine, attr), getattr(theirs, attr), err_msg=attr)
    hit = np.flatnonzero(ref.classes_ == 1)
    expected = ref.predict_proba(held_out)[:, hit[0]] if len(hit) else np.zeros(len(held_out))
    np.testing.assert_array_equal(model.predict_proba(held_out)[:, 1], np.clip(expected, 0.0, 1.0))


CASES = [
    # (points, features, rows, params): rows "soft" (DP-ZO's doubled rows), "hard" or "weighted"
    (20, 51, "soft", {}),
    (20, 51, "soft", {"max_depth": None}),
    (10, 8, "soft", {"criterion": "entropy", "max_depth": 6}),
    (30, 12, "hard", {"criterion": "log_loss", "min_samples_leaf": 3}),
    (40, 5, "weighted", {"max_depth": 2, "min_samples_leaf": 2}),
    (25, 9, "hard", {"max_depth": None, "min_samples_leaf": 1}),
]


@pytest.mark.parametrize("m, d, rows, params", CASES)
@pytest.mark.parametrize("seed", [0, 7, 2**31 - 2])
def test_decision_tree_equals_the_estimator(m, d, rows, params, seed):
    rng = np.random.default_rng([m, d, seed])
    if rows == "soft":
        X, y, w = soft_label_rows(rng, m, d)
    else:
        X, y = mixed_rows(rng, m, d), rng.integers(0, 2, m)
        y[:2] = [0, 1]
        w = rng.uniform(0.0, 3.0, m) if rows == "weighted" else None
    model = make_model("decision_tree", random_state=seed, **params).fit(X, y, sample_weight=w)
    assert_same_tree(model, reference(X, y, w, seed, model.params), mixed_rows(rng, 300, d))


@pytest.mark.parametrize(
    "params",
    [{"max_features": 3}, {"max_features": "sqrt"}, {"max_features": 0.5, "min_samples_split": 7}],
)
def test_estimator_settings_the_family_does_not_declare(params):
    """Feature subsampling (random per split) and the other settings the builder is given as they are."""
    rng = np.random.default_rng(5)
    X, y, w = soft_label_rows(rng, 20, 10)
    for seed in (1, 2, 3):
        model = DecisionTree(random_state=seed, max_depth=None, **params).fit(X, y, w)
        assert_same_tree(model, reference(X, y, w, seed, model.params), mixed_rows(rng, 100, 10))


@pytest.mark.parametrize("labels", [(0, 2), (1, 2), (-1, 1), (0, 1, 2)])
def test_other_label_sets(labels):
    """Classes are encoded as the estimator encodes them; P(y = 1) is 0 when 1 is not a class."""
    rng = np.random.default_rng(len(labels) + labels[0])
    X = mixed_rows(rng, 30, 6)
    y = np.array(labels)[rng.integers(0, len(labels), 30)]
    y[: len(labels)] = labels
    model = make_model("decision_tree", random_state=3, max_depth=None).fit(X, y)
    assert_same_tree(model, reference(X, y, None, 3, model.params), mixed_rows(rng, 80, 6))


@pytest.mark.parametrize("weights", ["negative", "some zero", "non-contiguous"])
def test_weights_the_estimator_passes_on(weights):
    rng = np.random.default_rng(12)
    X, y, w = soft_label_rows(rng, 15, 7)
    if weights == "negative":
        w[[1, 20]] = [-0.3, -0.1]
    elif weights == "some zero":
        w[::3] = 0.0
    else:
        w = np.repeat(w, 2)[::2]
        assert not w.flags.c_contiguous
    model = make_model("decision_tree", random_state=4, max_depth=None).fit(X, y, w)
    assert_same_tree(model, reference(X, y, w, 4, model.params), mixed_rows(rng, 60, 7))


def test_seed_breaks_ties():
    """On tied candidate splits (duplicated columns) the seed picks the split, as in the estimator."""
    rng = np.random.default_rng(0)
    X = mixed_rows(rng, 30, 3)
    X = np.hstack([X, X])  # every split has an equally good twin
    y = rng.integers(0, 2, 30)
    features = set()
    for seed in range(6):
        model = make_model("decision_tree", random_state=seed).fit(X, y)
        assert_same_tree(model, reference(X, y, None, seed, model.params), mixed_rows(rng, 50, 6))
        features.add(int(model.estimator_.trees[0].feature[0]))
    assert len(features) > 1


def test_fit_many_equals_fits_one_by_one():
    """The shared scratch state leaks nothing between the fits of a batch."""
    rng = np.random.default_rng(3)
    data = [soft_label_rows(rng, 15, 8) for _ in range(5)]
    data[2] = (data[2][0], np.zeros(30, dtype=int), None)  # one class: the prior, skipped by _fit_many
    seeds = [5, 5, 9, 2, 0]
    batch = DecisionTree.fit_many([make_model("decision_tree", random_state=s) for s in seeds], data)
    held_out = mixed_rows(rng, 50, 8)
    for model, rows, seed in zip(batch, data, seeds):
        single = make_model("decision_tree", random_state=seed).fit(*rows)
        np.testing.assert_array_equal(model.predict_proba(held_out), single.predict_proba(held_out))
        if not model.constant_:
            assert_same_tree(model, reference(*rows, seed, model.params), held_out)


def test_defaults_and_criteria_are_the_estimators():
    """A hyperparameter left out is read as the estimator would read it; criteria map alike."""
    params = DecisionTreeClassifier().get_params()
    assert ESTIMATOR_DEFAULTS == {key: params[key] for key in ESTIMATOR_DEFAULTS}
    assert CRITERIA == {name: CRITERIA_CLF[name] for name in DecisionTree.param_specs["criterion"].choices}
    assert params["min_weight_fraction_leaf"] == 0.0 and params["ccp_alpha"] == 0.0
    assert params["min_impurity_decrease"] == 0.0 and params["max_leaf_nodes"] is None


@pytest.mark.parametrize(
    "case",
    ["random splitter", "class weights", "pruning", "fractional leaf", "NaN feature", "overflowing weight sum",
     "too many features"],
)
@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning", "ignore:invalid value:RuntimeWarning")
def test_uncovered_fits_go_to_the_estimator_unchanged(case):
    rng = np.random.default_rng(6)
    X, y, w = soft_label_rows(rng, 12, 5)
    params = {
        "random splitter": {"splitter": "random"}, "class weights": {"class_weight": "balanced"},
        "pruning": {"ccp_alpha": 0.01}, "fractional leaf": {"min_samples_leaf": 0.1},
        "too many features": {"max_features": 9},
    }.get(case, {})
    if case == "NaN feature":
        X[3, 2] = np.nan
    if case == "overflowing weight sum":
        w = np.full(len(y), 1e308)
    model = DecisionTree(random_state=1, **params).fit(X, y, w)  # make_model would refuse these
    assert isinstance(model.estimator_, DecisionTreeClassifier)
    held_out = mixed_rows(rng, 40, 5)
    expected = reference(X, y, w, 1, model.params).predict_proba(held_out)[:, 1]
    np.testing.assert_array_equal(model.predict_proba(held_out)[:, 1], expected)


@pytest.mark.parametrize("bad", ["all zero", "infinite", "NaN"])
def test_invalid_weights_raise_the_estimators_error(bad):
    rng = np.random.default_rng(10)
    X, y, w = soft_label_rows(rng, 10, 4)
    w = np.zeros_like(w) if bad == "all zero" else w.copy()
    if bad in ("infinite", "NaN"):
        w[2] = np.inf if bad == "infinite" else np.nan
    assert not valid_tree_weights(w, len(y))
    assert valid_tree_weights(np.ones(len(y)), len(y)) and not valid_tree_weights(np.ones(len(y) - 1), len(y))
    with pytest.raises(ValueError) as expected:
        reference(X, y, w, 0, {"max_depth": 4})
    with pytest.raises(ValueError) as ours:
        make_model("decision_tree", random_state=0).fit(X, y, w)
    assert str(ours.value) == str(expected.value)


def test_dpzo_release_equals_the_estimators():
    """A whole DP-ZO run (soft labels) releases the same rows with the fast path switched off."""
    from dpcondense.data import train_test_split
    from dpcondense.datasets import load_dataset
    from dpcondense.methods import make_method

    train, _ = train_test_split(load_dataset("pima_diabetes"), seed=0)

    def release():
        est = make_method("dpzo", steps=3, directions=2)
        est.fit(train, model="decision_tree", size=6, epsilon=1.0, delta=1e-5, random_state=0, noise="seeded")
        return est.synthetic_.to_csv(index=False, float_format="%.17g", lineterminator="\n")

    fast = release()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(decision_tree, "growth_rules", lambda *args, **kwargs: None)
        slow = release()
    assert fast == slow


@pytest.mark.parametrize("family", ["decision_tree", "random_forest", "random_survival_forest"])
@pytest.mark.parametrize("width", [3, 9])
def test_rows_of_another_width_are_refused(family, width):
    """The builder's trees would read narrower rows past their end; the estimators refuse them too."""
    rng = np.random.default_rng(width)
    X, y, w = soft_label_rows(rng, 15, 6)
    if family == "random_survival_forest":
        model = make_model(family, random_state=0, n_estimators=3).fit(X[:15], rng.uniform(1.0, 9.0, 15), y[15:], None)
    else:
        model = make_model(family, random_state=0).fit(X, y, w)
    assert isinstance(model.estimator_, TreeForest)
    rows = mixed_rows(rng, 4, width)
    with pytest.raises(ValueError, match=f"X has {width} features, but the trees expect 6"):
        if family == "random_survival_forest":
            model.predict_survival(rows, np.linspace(1.0, 9.0, 5))
        else:
            model.predict_proba(rows)


def test_deterministic_and_picklable():
    rng = np.random.default_rng(9)
    X, y, w = soft_label_rows(rng, 20, 10)
    held_out = mixed_rows(rng, 60, 10)
    a = make_model("decision_tree", random_state=12).fit(X, y, w)
    b = make_model("decision_tree", random_state=12).fit(X, y, w)
    np.testing.assert_array_equal(a.predict_proba(held_out), b.predict_proba(held_out))
    restored = pickle.loads(pickle.dumps(a))
    np.testing.assert_array_equal(restored.predict_proba(held_out), a.predict_proba(held_out))
