"""Trees grown directly with scikit-learn's tree builder: the tree families' fast path.

On the 20–100 rows a DP-ZO candidate set has, scikit-learn's ``DecisionTreeClassifier`` and
``RandomForestClassifier`` and scikit-survival's ``RandomSurvivalForest`` spend nearly all of a
fit in per-tree Python: each tree is an estimator whose parameters and inputs are validated again
and which builds new ``RandomState`` objects (about 0.3 ms each) — about 1–3 ms a tree where
growing it takes about 0.1 ms. Predicting goes through the same machinery (input checks, joblib).

:func:`grow_forest` grows the same bagged trees: the same Cython builder, splitter and criterion,
fed the same float32 rows, outcome array and bootstrap counts, with every random number drawn from
the same legacy ``RandomState`` streams in the same order (per-tree seeds drawn one by one from
the forest's seed; each tree's seed drives its bootstrap and, afresh, its splitter). Only the
container differs: one scratch ``RandomState`` is re-seeded instead of building a new one per
draw. :func:`forest_mean` averages the trees' leaf values as the estimators do (a running sum in
tree order, then one division). :func:`grow_tree` grows the single tree of
``DecisionTreeClassifier`` (all rows, the sample weights as given, the splitter seeded with the
estimator's seed) and :func:`leaf_values` reads its leaves as its ``predict_proba`` does. Fitted
trees and predictions are therefore bit-identical to the estimators' for the pinned library
versions (``tests/unit/test_forest_fast.py`` and ``tests/unit/test_tree_fast.py`` compare them).

Covered: finite dense rows, bootstrap of ``n`` rows (``max_samples=None``), depth-first growth
with the best splitter, no class weights, ``min_weight_fraction_leaf = 0``,
``min_impurity_decrease = 0``, no pruning, no monotonic constraints. :func:`growth_rules` returns
``None`` for anything else, and the families then fit the estimator itself.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.tree._splitter import BestSplitter
from sklearn.tree._tree import DepthFirstTreeBuilder, Tree

#: the per-tree seeds are drawn below this bound (scikit-learn's ``_set_random_states``)
SEED_BOUND = int(np.iinfo(np.int32).max)
#: ``max_depth=None`` as both libraries spell it for the builder
UNLIMITED_DEPTH = 2**31 - 1


@dataclass(frozen=True)
class GrowthRules:
    """What the tree builder is given, derived from the hyperparameters as the estimators do."""

    n_trees: int
    max_features: int
    min_samples_split: int
    min_samples_leaf: int
    max_depth: int


def _resolve_max_features(spec: Any, n_features: int) -> int | None:
    """Features tried per split, as the trees compute it (``None``: not a value the builder takes)."""
    if isinstance(spec, str):
        if spec == "sqrt":
            k = max(1, int(np.sqrt(n_features)))
        elif spec == "log2":
            k = max(1, int(np.log2(n_features)))
        else:
            return None
    elif spec is None:
        k = n_features
    elif isinstance(spec, bool):
        return None
    elif isinstance(spec, numbers.Integral):
        k = int(spec)
    elif isinstance(spec, numbers.Real) and spec > 0.0:
        k = max(1, int(spec * n_features))
    else:
        return None
    return k if 1 <= k <= n_features else None


def _count(value: Any, low: int) -> int | None:
    """An integer hyperparameter ≥ ``low`` (``None`` for a fraction or anything else)."""
    if isinstance(value, numbers.Integral) and not isinstance(value, bool) and value >= low:
        return int(value)
    return None


def growth_rules(params: dict[str, Any], n_features: int, defaults: dict[str, Any]) -> GrowthRules | None:
    """The builder's settings for ``params``, or ``None`` when the fast path does not cover them.

    ``defaults`` holds the estimator's default of every hyperparameter the fast path reads; a
    hyperparameter outside it (or a value the builder is not given as is, e.g. a fractional
    ``min_samples_leaf``) sends the fit to the estimator. A single tree's ``defaults`` have no
    ``n_estimators`` (its rules then say one tree).
    """
    if set(params) - set(defaults):
        return None
    given = {**defaults, **params}
    n_trees = _count(given.get("n_estimators", 1), 1)
    leaf = _count(given["min_samples_leaf"], 1)
    split = _count(given.get("min_samples_split", 2), 2)
    depth = UNLIMITED_DEPTH if given["max_depth"] is None else _count(given["max_depth"], 1)
    k = _resolve_max_features(given["max_features"], n_features)
    if None in (n_trees, leaf, split, depth, k):
        return None
    return GrowthRules(
        n_trees=n_trees, max_features=k, min_samples_split=max(split, 2 * leaf), min_samples_leaf=leaf, max_depth=depth
    )


def float32_rows(X: np.ndarray) -> np.ndarray | None:
    """The rows as the trees see them (C-ordered float32), or ``None`` if one is not finite there."""
    X32 = np.ascontiguousarray(X, dtype=np.float32)
    return X32 if np.isfinite(X32).all() else None


def bootstrap_cdf(sample_weight: np.ndarray | None) -> np.ndarray | None:
    """Cumulative draw probabilities of the weighted bootstrap (``None``: uniform draws).

    scikit-learn draws the bootstrap with ``RandomState.choice(n, n, p=w / w.sum())``, whose
    legacy algorithm is a search of uniform draws in this normalised cumulative sum.
    """
    if sample_weight is None:
        return None
    p = sample_weight / np.sum(sample_weight)
    cdf = p.cumsum()
    cdf /= cdf[-1]
    return cdf


def valid_bootstrap_weights(sample_weight: np.ndarray | None) -> bool:
    """Whether ``choice`` would accept the weights (else the estimator raises its own error)."""
    if sample_weight is None:
        return True
    w = np.asarray(sample_weight, dtype=float)
    total = float(np.sum(w))
    return bool(np.isfinite(w).all() and (w >= 0).all() and np.isfinite(total) and total > 0)


def valid_tree_weights(sample_weight: np.ndarray | None, n: int) -> bool:
    """Whether a single tree's estimator would pass the weights to the builder unchanged.

    ``DecisionTreeClassifier`` rejects weights of another shape, non-finite ones or all zeros
    (its own errors come from fitting it); a sum that overflows would make its minimum leaf
    weight ``0 · inf``. A finite sum rules out both. Negative weights are passed on as they are.
    """
    if sample_weight is None:
        return True
    w = np.asarray(sample_weight)
    return bool(w.shape == (n,) and np.isfinite(np.sum(w)) and (w != 0).any())


def bootstrap_counts(state: np.random.RandomState, n: int, cdf: np.ndarray | None) -> np.ndarray:
    """Times each row is drawn into one tree's bootstrap, from ``state`` seeded with the tree's seed."""
    if cdf is None:
        drawn = state.randint(0, n, n)
    else:
        drawn = cdf.searchsorted(state.random_sample(n), side="right")
    return np.bincount(drawn, minlength=n).astype(np.float64)


def grow_forest(
    X32: np.ndarray,
    outcome: np.ndarray,
    sample_weight: np.ndarray | None,
    *,
    seed: int,
    rules: GrowthRules,
    make_criterion: Callable[[], Any],
    n_classes: np.ndarray,
    scratch: np.random.RandomState | None = None,
) -> list[Tree]:
    """Grow ``rules.n_trees`` bagged trees exactly as the forest estimators do for ``random_state=seed``.

    Parameters
    ----------
    X32 : ndarray of float32, shape (n, d)
        Finite training rows (:func:`float32_rows`).
    outcome : ndarray of float64, shape (n, n_outputs or 2)
        The builder's ``y``: encoded classes (one column) or the survival (time, event) columns.
    sample_weight : ndarray or None
        Weights of a weighted bootstrap (each tree is then fitted on the drawn counts alone).
    seed : int
        The forest's integer ``random_state``.
    rules : GrowthRules
        Builder settings (:func:`growth_rules`).
    make_criterion : callable
        Returns a fresh split criterion (Gini, log-rank) for one tree.
    n_classes : ndarray of intp
        Classes per output, as the estimator gives ``Tree``.
    scratch : RandomState or None
        A ``RandomState`` to re-seed (its state is irrelevant: it is seeded before every draw);
        sharing one saves building one per forest when fitting many.
    """
    n = len(X32)
    state = np.random.RandomState(0) if scratch is None else scratch
    state.seed(seed)
    # the estimators draw these one scalar at a time: the legacy stream gives the same numbers
    tree_seeds = state.randint(SEED_BOUND, size=rules.n_trees).tolist()
    cdf = bootstrap_cdf(sample_weight)
    trees = []
    for tree_seed in tree_seeds:
        state.seed(tree_seed)
        counts = bootstrap_counts(state, n, cdf)
        state.seed(tree_seed)  # the tree re-creates its RandomState from the same seed
        trees.append(_build(X32, outcome, counts, state, rules, make_criterion(), n_classes))
    return trees


def grow_tree(
    X32: np.ndarray,
    outcome: np.ndarray,
    sample_weight: np.ndarray | None,
    *,
    seed: int,
    rules: GrowthRules,
    criterion: Any,
    n_classes: np.ndarray,
    scratch: np.random.RandomState | None = None,
) -> Tree:
    """Grow the tree ``DecisionTreeClassifier(random_state=seed)`` grows on all rows.

    Parameters as in :func:`grow_forest`, except that ``criterion`` is one fresh criterion and
    ``sample_weight`` (:func:`valid_tree_weights`) weights the rows themselves.
    """
    state = np.random.RandomState(0) if scratch is None else scratch
    state.seed(seed)
    weights = None if sample_weight is None else np.ascontiguousarray(sample_weight, dtype=np.float64)
    return _build(X32, outcome, weights, state, rules, criterion, n_classes)


def _build(
    X32: np.ndarray,
    outcome: np.ndarray,
    weights: np.ndarray | None,
    state: np.random.RandomState,
    rules: GrowthRules,
    criterion: Any,
    n_classes: np.ndarray,
) -> Tree:
    """One depth-first tree from the best splitter, which draws its seed from ``state`` as built."""
    d = X32.shape[1]
    splitter = BestSplitter(criterion, rules.max_features, rules.min_samples_leaf, 0.0, state, None)
    tree = Tree(d, n_classes, len(n_classes))
    builder = DepthFirstTreeBuilder(splitter, rules.min_samples_split, rules.min_samples_leaf, 0.0, rules.max_depth, 0.0)
    builder.build(tree, X32, outcome, weights, None)
    return tree


def leaf_values(tree: Tree, X: np.ndarray, column: int | slice) -> np.ndarray:
    """One tree's leaf value for each row of ``X`` (last axis indexed by ``column``)."""
    return tree.predict(rows_to_predict(tree, X))[..., column]


def rows_to_predict(tree: Tree, X: np.ndarray) -> np.ndarray:
    """``X`` as the trees read it (C-ordered float32), checked to have the trees' width.

    The builder's ``Tree`` does not check it (narrower rows would be read past their end); the
    estimators refuse them with this error.
    """
    X32 = np.ascontiguousarray(X, dtype=np.float32)
    if X32.ndim != 2 or X32.shape[1] != tree.n_features:
        raise ValueError(f"X has {X32.shape[-1]} features, but the trees expect {tree.n_features} features as input.")
    return X32


def forest_mean(trees: list[Tree], X: np.ndarray, column: int | slice) -> np.ndarray:
    """Mean over trees of each tree's leaf value (last axis indexed by ``column``), in tree order."""
    X32 = rows_to_predict(trees[0], X)
    total = None
    for tree in trees:
        value = tree.predict(X32)[..., column]
        if total is None:
            total = np.zeros(value.shape, dtype=np.float64)
        total += value
    return total / len(trees)


@dataclass
class TreeForest:
    """A fitted forest of builder trees (one for a decision tree) and what its predictions are indexed by.

    ``labels`` are the classes (classification) or the distinct training times (survival) the
    trees' outputs refer to.
    """

    trees: list[Tree]
    labels: np.ndarray
