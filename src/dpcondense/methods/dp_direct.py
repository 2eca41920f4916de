"""``dp_direct``: a DP classifier trained directly on the real rows — no data release.

A reference for what the budget buys when the model itself, not a dataset, is released. Its
``synthetic_`` is an empty frame with the release columns; the released object is
``released_model_`` (``predict_proba`` on model-space rows), and
:func:`dpcondense.evaluate.evaluate_release` scores it as is whatever the evaluation family.

Estimators (both written here: diffprivlib 0.6.6, the obvious library, does not import with the
pinned scikit-learn 1.9 — it needs ``sklearn.tree._tree.DOUBLE`` and passes ``multi_class`` to
``LogisticRegression``):

- ``logistic_regression``: L2-regularised logistic regression with **output perturbation**. The
  objective is ``Σ_i log(1 + exp(−y_i wᵀx_i)) + (Λ/2)‖w‖²`` (a sum, not a mean, so n need not be
  public), with ``x_i`` the model-space row plus an intercept 1, clipped to the L2 norm ``L`` the
  schema implies (each numeric / binary / one-hot block contributes at most 1, a missing
  indicator 1, the intercept 1). The objective is Λ-strongly convex and each loss term is
  L-Lipschitz, so adding or removing one patient moves the minimiser by at most ``L/Λ`` in L2
  (compare the first-order conditions of the two minimisers). The minimiser plus analytic
  Gaussian noise with that sensitivity is (ε, δ)-DP.
- ``random_trees``: ``n_trees`` trees of depth ``depth`` whose splits (column and threshold) are
  drawn from public randomness inside the public box, so only the leaf class counts depend on
  data. One patient changes one count per tree: the counts of all trees are one Gaussian release
  with L2 sensitivity ``√n_trees``. Leaf probabilities come from the noisy counts (clipped at 0,
  Laplace-smoothed); the forest averages them.

Survival: not applicable — the Cox partial likelihood is not a sum over patients (each term
depends on the risk set), so neither construction above bounds its sensitivity; :meth:`fit`
raises a clear error.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from scipy.optimize import minimize
from scipy.special import expit

from dpcondense.data import Dataset
from dpcondense.methods._baseline import empty_release, parse_budget, plan_gaussian_releases, seed_sequence
from dpcondense.methods.base import CondensationMethod, SyntheticSet, register_method
from dpcondense.params import ParamSpec
from dpcondense.privacy import PrivacyLedger
from dpcondense.data.schema import Schema


@dataclass
class ModelRelease(SyntheticSet):
    """A release that is a model, not rows: ``X`` has no rows and ``released_model`` predicts."""

    released_model: Any = None


def feature_norm_bound(schema: Schema) -> float:
    """Largest L2 norm of a model-space row plus an intercept 1, from the schema alone."""
    blocks = sum(1 + (1 if f.missing.indicator else 0) for f in schema.features)
    return math.sqrt(blocks + 1.0)


class DPLogisticModel:
    """The released logistic regression: ``P(y=1 | x) = expit(w·x + w₀)`` (noisy weights)."""

    def __init__(self, coef: np.ndarray, intercept: float) -> None:
        self.coef_ = np.asarray(coef, dtype=float)
        self.intercept_ = float(intercept)

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        p1 = expit(np.asarray(X, dtype=float) @ self.coef_ + self.intercept_)
        return np.column_stack([1.0 - p1, p1])


class DPRandomTreesModel:
    """The released forest: public random splits, leaf P(y=1) from noisy counts."""

    def __init__(self, features: np.ndarray, thresholds: np.ndarray, leaf_p1: np.ndarray) -> None:
        self.features = features  # (trees, internal nodes) in heap order
        self.thresholds = thresholds
        self.leaf_p1 = leaf_p1  # (trees, leaves)

    def leaves(self, X: np.ndarray) -> np.ndarray:
        """Leaf index of each row in each tree, shape (n, trees)."""
        X = np.asarray(X, dtype=float)
        n_trees, n_internal = self.features.shape
        node = np.zeros((len(X), n_trees), dtype=np.int64)
        trees = np.arange(n_trees)
        while True:
            inner = node < n_internal
            if not inner.any():
                break
            safe = np.where(inner, node, 0)
            go_right = X[np.arange(len(X))[:, None], self.features[trees, safe]] > self.thresholds[trees, safe]
            node = np.where(inner, 2 * node + 1 + go_right, node)
        return node - n_internal

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        leaf = self.leaves(X)
        p1 = self.leaf_p1[np.arange(self.leaf_p1.shape[0])[None, :], leaf].mean(axis=1)
        return np.column_stack([1.0 - p1, p1])


@register_method("dp_direct")
class DPDirect(CondensationMethod):
    """Train a DP classifier on the real rows and release it (no synthetic rows).

    Parameters
    ----------
    model, size, epsilon, delta, random_state, model_params
        As in :class:`~dpcondense.methods.base.CondensationMethod`; ``model`` and ``size`` are not
        used (the released model is ``estimator``). ``epsilon = inf`` releases it without noise.
    estimator : {"logistic_regression", "random_trees"}, default="logistic_regression"
    regularization : float, default=100.0
        Λ of the logistic objective (a sum over patients): larger = less noise, more shrinkage.
    n_trees : int, default=10
    depth : int, default=4
    smoothing : float, default=1.0
        Pseudo-count per class in each leaf of ``random_trees``.

    Attributes
    ----------
    released_model_ : object with ``predict_proba``
    noise_std_ : float
        Gaussian noise std of the release.
    sensitivity_ : float
        Its L2 sensitivity (``L/Λ`` or ``√n_trees``).
    """

    label = "DP model release"

    tasks = ("classification",)
    releases = "model"

    private = True
    version = 2
    param_specs = {
        "estimator": ParamSpec(str, choices=("logistic_regression", "random_trees"), doc="the released DP model"),
        "regularization": ParamSpec(float, low=0.0, low_open=True, doc="L2 strength of the logistic objective"),
        "n_trees": ParamSpec(int, low=1, doc="random_trees: number of trees"),
        # 2^20 leaves per tree: a hundred times the rows of the largest built-in dataset
        "depth": ParamSpec(int, low=1, high=20, doc="random_trees: depth of each tree (2^depth leaves)"),
        "smoothing": ParamSpec(float, low=0.0, low_open=True, doc="random_trees: pseudo-count per class in each leaf"),
    }

    def __init__(
        self,
        *,
        estimator: Literal["logistic_regression", "random_trees"] = "logistic_regression",
        regularization: float = 100.0,
        n_trees: int = 10,
        depth: int = 4,
        smoothing: float = 1.0,
    ) -> None:
        super().__init__()
        self.estimator = estimator
        self.regularization = regularization
        self.n_trees = n_trees
        self.depth = depth
        self.smoothing = smoothing

    def _validate(self, dataset: Dataset) -> None:
        if dataset.task != "classification":
            raise ValueError(
                f"dp_direct releases a DP classifier and supports classification datasets only; "
                f"{dataset.name!r} is a survival dataset (a DP Cox model is not implemented: the partial "
                "likelihood is not a sum over patients, so output perturbation does not bound its sensitivity)"
            )
        if self.estimator not in ("logistic_regression", "random_trees"):
            raise ValueError(f"estimator must be 'logistic_regression' or 'random_trees', got {self.estimator!r}")
        if not (isinstance(self.regularization, (int, float)) and 0 < self.regularization < math.inf):
            raise ValueError(f"regularization must be a finite number > 0, got {self.regularization!r}")
        for name, low in (("n_trees", 1), ("depth", 1)):
            value = getattr(self, name)
            if isinstance(value, bool) or int(value) != value or value < low:
                raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
        if not self.smoothing > 0:
            raise ValueError(f"smoothing must be > 0, got {self.smoothing!r}")

    def _fit(self, dataset: Dataset) -> "DPDirect":
        self._validate(dataset)
        eps = parse_budget(self.epsilon)
        ledger = PrivacyLedger(eps, self.delta, n_public=dataset.n_public, composition="pld")
        public_seed, noise_seed = seed_sequence(self.random_state).spawn(2)
        rng_public, rng_noise = np.random.default_rng(public_seed), self._noise_rng(noise_seed)
        schema = dataset.schema
        encoder = dataset.encoder()
        if self.estimator == "logistic_regression":
            sensitivity = feature_norm_bound(schema) / float(self.regularization)
        else:
            sensitivity = math.sqrt(int(self.n_trees))
        # one release: its analytic Gaussian σ at the whole (ε, δ)
        plan = plan_gaussian_releases(eps, self.delta, {"model": 1.0}, {"model": sensitivity})
        sigma = plan.sigma["model"]

        # --- the only block that reads real rows: one Gaussian release -----------------------
        X, y = dataset.encoded(), np.asarray(dataset.y, dtype=np.int64)
        if self.estimator == "logistic_regression":
            weights = _fit_logistic(X, y, float(self.regularization), feature_norm_bound(schema))
            noisy = weights + (rng_noise.normal(0.0, sigma, weights.shape) if sigma > 0 else 0.0)
            released: Any = DPLogisticModel(noisy[:-1], noisy[-1])
        else:
            features, thresholds = _random_splits(encoder.lower_, encoder.upper_, int(self.n_trees), int(self.depth), rng_public)
            skeleton = DPRandomTreesModel(features, thresholds, np.zeros((int(self.n_trees), 2 ** int(self.depth))))
            counts = _leaf_counts(skeleton.leaves(X), y, 2 ** int(self.depth))
            noisy = counts + (rng_noise.normal(0.0, sigma, counts.shape) if sigma > 0 else 0.0)
            clipped = np.clip(noisy, 0.0, None) + float(self.smoothing)
            released = DPRandomTreesModel(features, thresholds, clipped[..., 1] / clipped.sum(axis=-1))
        del X, y
        # -------------------------------------------------------------------------------------

        ledger.spend(
            f"dp_direct_{self.estimator}",
            mechanism="gaussian output perturbation" if sigma > 0 else "none (epsilon=inf: exact model)",
            epsilon=plan.epsilon["model"],
            delta=plan.delta["model"],
            noise_multiplier=sigma / sensitivity,
            sensitivity=sensitivity,
            event=plan.event("model", sensitivity),
            noise_std=sigma,
            release="model (no synthetic rows)",
        )
        self.released_model_ = released
        self.synthetic_ = empty_release(schema)
        self.synthetic_encoded_ = ModelRelease(
            X=np.zeros((0, encoder.n_features_out)), y=np.zeros(0, dtype=np.int64), released_model=released
        )
        self.noise_std_ = sigma
        self.sensitivity_ = sensitivity
        self.ledger_ = ledger
        return self


def _fit_logistic(X: np.ndarray, y: np.ndarray, regularization: float, norm_bound: float) -> np.ndarray:
    """Exact minimiser of the regularised logistic objective (weights, then the intercept)."""
    Xt = np.column_stack([X, np.ones(len(X))])
    norms = np.linalg.norm(Xt, axis=1, keepdims=True)
    Xt = Xt * np.minimum(1.0, norm_bound / np.maximum(norms, 1e-300))  # enforces the Lipschitz bound
    sign = 2.0 * y - 1.0

    def objective(w: np.ndarray) -> tuple[float, np.ndarray]:
        margin = sign * (Xt @ w)
        value = np.logaddexp(0.0, -margin).sum() + 0.5 * regularization * w @ w
        grad = -Xt.T @ (sign * expit(-margin)) + regularization * w
        return float(value), grad

    result = minimize(objective, np.zeros(Xt.shape[1]), jac=True, method="L-BFGS-B", options={"gtol": 1e-10, "ftol": 1e-15, "maxiter": 10_000})
    return result.x


def _random_splits(lower: np.ndarray, upper: np.ndarray, n_trees: int, depth: int, rng: np.random.Generator):
    """Heap-ordered internal nodes: a random column and a uniform threshold inside its public range."""
    n_internal = 2**depth - 1
    features = rng.integers(0, lower.size, size=(n_trees, n_internal))
    thresholds = rng.uniform(lower[features], upper[features])
    return features, thresholds


def _leaf_counts(leaves: np.ndarray, y: np.ndarray, n_leaves: int) -> np.ndarray:
    """Class counts per (tree, leaf): shape (trees, leaves, 2)."""
    n_trees = leaves.shape[1]
    counts = np.zeros((n_trees, n_leaves, 2))
    for t in range(n_trees):
        np.add.at(counts[t], (leaves[:, t], y), 1.0)
    return counts
