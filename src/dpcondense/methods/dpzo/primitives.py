"""The privatised primitives of DP-ZO: the ONLY places in the method where real rows are read.

Real rows are reached through :class:`PrivateRows` (or, for the ε = ∞ warm start, the dataset
itself) and nowhere outside this module:

- :func:`privatized_zo_sum`: one ZO step, a Poisson-subsampled Gaussian release of clipped
  per-patient loss differences;
- :func:`privatized_class_means`: the ``dp_mean`` start, Gaussian per-stratum sums and counts;
- :func:`privatized_teacher`: the label teacher, a logistic regression by output perturbation;
- :func:`_exact_means` and :func:`real_row_start`: ε = ∞ only (exact means; a warm start from
  real rows, which the ledger marks as not DP).

Everything the other modules of the package do is post-processing of public randomness and of
these functions' outputs.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Literal

import numpy as np

from dpcondense.data import Dataset
from dpcondense.data.schema import Schema
from dpcondense.methods.dp_direct import DPLogisticModel, _fit_logistic, feature_norm_bound
from dpcondense.models.base import P_MIN
from dpcondense.privacy import gaussian_mechanism_sigma

ClipMode = Literal["vector", "coordinate"]

#: Upper bound of every per-example loss (probabilities are clipped at P_MIN).
LOSS_MAX = -math.log(P_MIN)


class PrivateRows:
    """The private training rows. Only this module's functions read them (via :meth:`poisson_batch`).

    The dataset is encoded lazily on the first batch, so no code path outside the privatised
    functions touches a real row.
    """

    def __init__(self, dataset: Dataset) -> None:
        self._dataset = dataset
        self._cache: tuple[np.ndarray, dict[str, np.ndarray]] | None = None

    def _arrays(self) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        if self._cache is None:
            ds = self._dataset
            if ds.task == "classification":
                targets = {"y": np.asarray(ds.y)}
            else:
                targets = {"time": np.asarray(ds.time), "event": np.asarray(ds.event)}
            self._cache = (ds.encoded(), targets)
        return self._cache

    def poisson_batch(self, sampling_rate: float, rng: np.random.Generator) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """Each row independently with probability ``sampling_rate``.

        Drawn as a Binomial(n, q) count of rows chosen uniformly without replacement (the same
        distribution as n independent coin flips, at a cost that grows with the batch, not n).
        """
        X, targets = self._arrays()
        count = int(rng.binomial(len(X), sampling_rate))
        rows = np.sort(rng.choice(len(X), size=count, replace=False))
        return X[rows], {k: v[rows] for k, v in targets.items()}


def _all_rows(private: PrivateRows) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Every row (a rate-1 batch; the generator is drawn from but selects nothing)."""
    return private.poisson_batch(1.0, np.random.default_rng(0))


def _strata(targets: dict[str, np.ndarray]) -> np.ndarray:
    """Classes (classification) or the event indicator (survival)."""
    return targets["y"] if "y" in targets else targets["event"]


def clipped_sum(
    per_example: np.ndarray, clip: float, mode: ClipMode = "vector", weights: np.ndarray | None = None
) -> np.ndarray:
    """Sum of per-example vectors after clipping each to L2 norm ``clip`` (sensitivity ``clip``).

    ``mode="coordinate"`` clips each coordinate to ``clip/√K`` instead, which also bounds the
    per-example L2 norm by ``clip``. ``weights`` (public, each in [0, 1]) scale the clipped
    vectors, so the sensitivity stays ``clip``.
    """
    if per_example.size == 0:
        return np.zeros(per_example.shape[1])
    if weights is not None:
        if np.any(weights < 0) or np.any(weights > 1):
            raise ValueError("per-example weights must lie in [0, 1] to keep the sensitivity at clip")
    else:
        weights = np.ones(len(per_example))
    if not np.isfinite(clip):
        return (per_example * weights[:, None]).sum(axis=0)
    if mode == "coordinate":
        bound = clip / math.sqrt(per_example.shape[1])
        return (np.clip(per_example, -bound, bound) * weights[:, None]).sum(axis=0)
    norms = np.linalg.norm(per_example, axis=1)
    scale = np.minimum(1.0, clip / np.maximum(norms, 1e-300)) * weights
    return (per_example * scale[:, None]).sum(axis=0)


def per_example_vectors(
    loss_fn: Callable[[Any, np.ndarray, dict[str, np.ndarray]], np.ndarray],
    models_plus: list,
    models_minus: list,
    X: np.ndarray,
    targets: dict[str, np.ndarray],
    mu: float,
    objective_weight: float,
) -> np.ndarray:
    """Per-example two-point differences g_ik (and the weighted objective coordinate)."""
    K = len(models_plus)
    cols = []
    level = np.zeros(len(X))
    for mp, mm in zip(models_plus, models_minus):
        lp = loss_fn(mp, X, targets)
        lm = loss_fn(mm, X, targets)
        cols.append((lp - lm) / (2.0 * mu))
        level += (lp + lm) / (2.0 * K)
    if objective_weight > 0:
        cols.append(objective_weight * level)
    return np.column_stack(cols) if cols else np.zeros((len(X), 0))


def privatized_zo_sum(
    private: PrivateRows,
    loss_fn: Callable,
    models_plus: list,
    models_minus: list,
    *,
    mu: float,
    clip: float,
    noise_multiplier: float,
    sampling_rate: float,
    sample_rng: np.random.Generator,
    noise_rng: np.random.Generator,
    clip_mode: ClipMode = "vector",
    objective_weight: float = 0.0,
    stratum_weights: np.ndarray | None = None,
) -> np.ndarray:
    """One ZO step's release: returns ``Σ_i clip(v_i) + N(0, σ²C²I)`` over a Poisson batch.

    ``v_i`` holds patient i's K two-point loss differences and, if ``objective_weight > 0``, a
    weighted mean loss used for the private objective estimate. ``stratum_weights`` (public
    numbers in [0, 1], one per class or event stratum) scale each clipped vector — a class-balanced
    loss whose sensitivity stays ``C``. Nothing else leaves.
    """
    X, targets = private.poisson_batch(sampling_rate, sample_rng)
    vectors = per_example_vectors(loss_fn, models_plus, models_minus, X, targets, mu, objective_weight)
    strata = _strata(targets)
    weights = None if stratum_weights is None else np.asarray(stratum_weights, dtype=float)[strata]
    if objective_weight > 0 and np.isfinite(clip):
        # split the clip so the objective coordinate is never clipped (an unbiased estimate)
        # while the joint vector keeps norm <= clip: c_grad^2 + c_obj^2 = clip^2
        c_obj = min(objective_weight * LOSS_MAX, clip / 2.0)
        c_grad = math.sqrt(clip**2 - c_obj**2)
        total = np.concatenate([
            clipped_sum(vectors[:, :-1], c_grad, clip_mode, weights),
            clipped_sum(vectors[:, -1:], c_obj, "vector", weights),
        ])
    else:
        total = clipped_sum(vectors, clip, clip_mode, weights)
    if noise_multiplier > 0:
        total = total + noise_rng.normal(0.0, noise_multiplier * clip, size=total.shape)
    return total


def _means_radius(lower: np.ndarray, upper: np.ndarray, row_clip: float) -> float:
    """``row_clip`` times the largest L2 norm of a row in the public box ``[lower, upper]``."""
    return float(row_clip) * float(np.linalg.norm(np.maximum(np.abs(lower), np.abs(upper))))


def class_means_sensitivity(lower: np.ndarray, upper: np.ndarray, row_clip: float = 1.0) -> float:
    """L2 sensitivity of :func:`privatized_class_means` (public: the box and ``row_clip`` only)."""
    return _means_radius(lower, upper, row_clip) * math.sqrt(2.0)


def teacher_sensitivity(schema: Schema, regularization: float) -> float:
    """L2 sensitivity ``L / Λ`` of :func:`privatized_teacher`'s weights (public: the schema only)."""
    return feature_norm_bound(schema) / regularization


def privatized_class_means(
    private: PrivateRows,
    lower: np.ndarray,
    upper: np.ndarray,
    *,
    epsilon: float,
    delta: float,
    noise_rng: np.random.Generator,
    row_clip: float = 1.0,
    strata_of: Callable[[dict[str, np.ndarray]], np.ndarray] | None = None,
    n_strata: int = 2,
) -> tuple[np.ndarray, np.ndarray, float, float]:
    """Gaussian-mechanism release of per-stratum sums and counts of model-space rows.

    Strata are the classes (classification) or the event indicator (survival), or
    ``strata_of(targets)`` — a public function of each row's own outcome into ``range(n_strata)``
    (e.g. event × public time bin): every row still lies in exactly one stratum. Each row is
    clipped to the public box, whose largest norm is ``R0 = ||max(|lower|, |upper|)||``, and then
    to the L2 norm ``R = row_clip · R0`` (``row_clip < 1`` shrinks the outlying rows towards the
    box centre: less noise, some bias); the release vector per row is ``[x_i, R]`` in its
    stratum's block, so one row changes the whole release by at most ``R·√2`` (add/remove).
    Returns (noisy sums, noisy counts, σ, sensitivity).
    """
    X, targets = _all_rows(private)
    strata = _strata(targets) if strata_of is None else strata_of(targets)
    X = np.clip(X, lower, upper)
    radius = _means_radius(lower, upper, row_clip)
    norms = np.linalg.norm(X, axis=1, keepdims=True)
    X = X * np.minimum(1.0, radius / np.maximum(norms, 1e-300))
    sensitivity = class_means_sensitivity(lower, upper, row_clip)
    sigma = gaussian_mechanism_sigma(epsilon, delta, sensitivity)
    sums = np.stack([X[strata == c].sum(axis=0) for c in range(n_strata)])
    counts = np.array([(strata == c).sum() for c in range(n_strata)], dtype=float) * radius
    sums = sums + noise_rng.normal(0.0, sigma, size=sums.shape)
    counts = (counts + noise_rng.normal(0.0, sigma, size=counts.shape)) / radius
    return sums, counts, sigma, sensitivity


def privatized_teacher(
    private: PrivateRows,
    schema: Schema,
    regularization: float,
    *,
    epsilon: float,
    delta: float,
    noise_rng: np.random.Generator,
    disable_noise: bool = False,
) -> tuple[DPLogisticModel, float, float]:
    """The label teacher: an L2-regularised logistic regression released by output perturbation.

    Reads real rows (all of them, once). The summed objective is Λ-strongly convex with
    L-Lipschitz terms (rows clipped to the schema's norm bound L), so one patient moves the
    minimiser by at most ``L / Λ``: Gaussian noise of the analytic-mechanism σ for that
    sensitivity makes the weights (ε, δ)-DP (the argument of ``dp_direct``). Returns
    ``(model, σ, sensitivity)``; ``epsilon=inf`` or ``disable_noise`` gives the exact minimiser.
    """
    X, targets = _all_rows(private)
    bound = feature_norm_bound(schema)
    sensitivity = teacher_sensitivity(schema, regularization)
    weights = _fit_logistic(X, np.asarray(targets["y"], dtype=np.int64), regularization, bound)
    sigma = gaussian_mechanism_sigma(epsilon, delta, sensitivity) if math.isfinite(epsilon) else 0.0
    if sigma > 0 and not disable_noise:
        weights = weights + noise_rng.normal(0.0, sigma, weights.shape)
    return DPLogisticModel(weights[:-1], weights[-1]), sigma, sensitivity


def _exact_means(
    private: PrivateRows,
    lower: np.ndarray,
    upper: np.ndarray,
    strata_of: Callable[[dict[str, np.ndarray]], np.ndarray] | None = None,
    n_strata: int = 2,
) -> tuple[np.ndarray, np.ndarray]:
    """ε = ∞ only (or the test-only noiseless mechanism): exact per-stratum sums and counts."""
    X, targets = _all_rows(private)
    strata = _strata(targets) if strata_of is None else strata_of(targets)
    X = np.clip(X, lower, upper)
    sums = np.stack([X[strata == c].sum(axis=0) for c in range(n_strata)])
    counts = np.array([(strata == c).sum() for c in range(n_strata)], dtype=float)
    return sums, counts


def real_row_start(
    dataset: Dataset, size: int, m: int, rng: np.random.Generator, log_lo: float | None, log_hi: float | None
) -> np.ndarray:
    """ε = ∞ only (not DP): start from real training rows (class-balanced / random).

    Classification draws ``size`` rows per class with replacement; survival draws ``m`` rows and
    appends their times on the public log-time scale ``[log_lo, log_hi] → [-1, 1]``.
    """
    X_real = dataset.encoded()
    if dataset.task == "classification":
        idx = np.concatenate(
            [rng.choice(np.flatnonzero(dataset.y == c), int(size), replace=True) for c in (0, 1)]
        )
        return X_real[idx].copy()
    idx = rng.choice(dataset.n_rows, m, replace=False if m <= dataset.n_rows else True)
    tau = 2.0 * (np.log(np.clip(dataset.time[idx], math.exp(log_lo), math.exp(log_hi))) - log_lo) / (log_hi - log_lo) - 1.0
    return np.column_stack([X_real[idx], tau])


__all__ = [
    "ClipMode",
    "LOSS_MAX",
    "PrivateRows",
    "class_means_sensitivity",
    "clipped_sum",
    "per_example_vectors",
    "privatized_class_means",
    "privatized_teacher",
    "privatized_zo_sum",
    "real_row_start",
    "teacher_sensitivity",
]
