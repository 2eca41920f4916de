"""Pieces shared by the baseline methods (kmeans, dp_gaussian, dp_marginals, dp_dm, dp_direct).

Everything here is a function of the public schema (bounds, categories, horizon, time grid) or of
public randomness; none of it reads a real row.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from dpcondense.data import Dataset
from dpcondense.methods.base import SyntheticSet
from dpcondense.privacy import (
    PrivacyLedger,
    epsilon_gaussian,
    gaussian_mechanism_sigma,
    parse_epsilon,
    split_budget,
)
from dpcondense.privacy.composition import PrivacyEvent, gaussian_event, joint_epsilon
from dpcondense.conventions import seed_sequence  # noqa: F401  (re-exported for the methods)
from dpcondense.data.schema import Schema


class LogTimeScale:
    """Survival times ↔ a column in [-1, 1]: log-time between ``grid[0] / 2`` and the horizon.

    The same public scale DP-ZO learns its synthetic times on; real times outside it are clipped.
    """

    def __init__(self, schema: Schema) -> None:
        grid = schema.outcome.time_grid()
        self.log_lo = math.log(grid[0] / 2.0)
        self.log_hi = math.log(float(schema.outcome.horizon))

    def encode(self, time: np.ndarray) -> np.ndarray:
        logt = np.log(np.clip(np.asarray(time, dtype=float), math.exp(self.log_lo), math.exp(self.log_hi)))
        return 2.0 * (logt - self.log_lo) / (self.log_hi - self.log_lo) - 1.0

    def decode(self, unit: np.ndarray) -> np.ndarray:
        u = np.clip(np.asarray(unit, dtype=float), -1.0, 1.0)
        return np.exp(self.log_lo + (u + 1.0) / 2.0 * (self.log_hi - self.log_lo))


def model_box(dataset: Dataset) -> tuple[np.ndarray, np.ndarray]:
    """Public box of the rows a baseline models: encoded features (+ scaled log-time for survival)."""
    enc = dataset.encoder()
    lower, upper = enc.lower_.copy(), enc.upper_.copy()
    if dataset.task == "survival":
        lower, upper = np.append(lower, -1.0), np.append(upper, 1.0)
    return lower, upper


def strata_and_rows(dataset: Dataset) -> tuple[np.ndarray, np.ndarray]:
    """The private rows a baseline models and their stratum (class label, or event for survival).

    Survival rows get the scaled log-time as their last column.
    """
    X = dataset.encoded()
    if dataset.task == "classification":
        return np.asarray(dataset.y, dtype=np.int64), X
    tau = LogTimeScale(dataset.schema).encode(dataset.time)
    return np.asarray(dataset.event, dtype=np.int64), np.column_stack([X, tau])


def allocate(total: int, weights: np.ndarray, *, at_least_one: bool = True) -> np.ndarray:
    """Split ``total`` rows across strata proportionally to ``weights`` (largest remainder).

    With ``at_least_one``, every stratum with a positive weight gets a row when ``total`` allows.
    """
    w = np.clip(np.asarray(weights, dtype=float), 0.0, None)
    if not np.isfinite(w).all() or w.sum() <= 0:
        w = np.ones_like(w)
    share = total * w / w.sum()
    out = np.floor(share).astype(np.int64)
    for i in np.argsort(-(share - out), kind="stable")[: total - out.sum()]:
        out[i] += 1
    if at_least_one and total >= int((w > 0).sum()):
        for i in np.flatnonzero((out == 0) & (w > 0)):
            out[np.argmax(out)] -= 1
            out[i] += 1
    return out


def synthetic_sizes(dataset: Dataset, size: int, stratum_weights: np.ndarray) -> np.ndarray:
    """Rows per stratum: ``size`` per class (balanced, public) or ``size`` rows split by event weight."""
    if int(size) < 1:
        raise ValueError(f"size must be >= 1 (rows per class / total rows), got {size}")
    if dataset.task == "classification":
        return np.full(2, int(size), dtype=np.int64)
    return allocate(int(size), stratum_weights)


def release_from_rows(dataset: Dataset, rows: np.ndarray, strata: np.ndarray) -> SyntheticSet:
    """Model-space rows (+ scaled log-time for survival) and their strata → a :class:`SyntheticSet`."""
    lower, upper = model_box(dataset)
    rows = np.clip(np.asarray(rows, dtype=float), lower, upper)
    strata = np.asarray(strata, dtype=np.int64)
    if dataset.task == "classification":
        return SyntheticSet(X=rows, y=strata)
    times = LogTimeScale(dataset.schema).decode(rows[:, -1])
    return SyntheticSet(X=rows[:, :-1], time=times, event=strata)


def empty_release(schema: Schema) -> pd.DataFrame:
    """A zero-row frame with the release columns (for methods that release a model, not rows)."""
    return pd.DataFrame({c: pd.Series(dtype=object) for c in schema.feature_names + schema.target_columns})


def parse_budget(epsilon: float | str) -> float:
    """The method's epsilon as a float (``inf`` allowed, validated later by the ledger)."""
    return parse_epsilon(epsilon)


@dataclass(frozen=True)
class GaussianPlan:
    """The noise of a method's Gaussian releases, calibrated jointly (before any row is read).

    Attributes
    ----------
    sigma : dict of str to float
        Noise std of each release (``0.0`` for all when ε = ∞: exact statistics).
    delta : dict of str to float
        The δ recorded for each release: its share of δ (they add up to δ; the ledger composes
        the releases at their sum).
    epsilon : dict of str to float
        Each release's own ε at its δ (analytic Gaussian; with one release, the target ε).
        Their sum is the basic-composition bound, above the joint ε.
    scale : float
        The common factor ``s`` applied to the per-share σ's (``1.0`` for one release).
    """

    sigma: dict[str, float]
    delta: dict[str, float]
    epsilon: dict[str, float]
    scale: float

    def event(self, name: str, sensitivity: float) -> PrivacyEvent | None:
        """The release's accountant event (``None`` on the exact-statistic path)."""
        return gaussian_event(self.sigma[name] / sensitivity) if self.sigma[name] > 0 else None


def plan_gaussian_releases(
    epsilon: float, delta: float, shares: Mapping[str, float], sensitivity: Mapping[str, float]
) -> GaussianPlan:
    """Noise std of each Gaussian release so that their joint (PLD) composition is exactly (ε, δ)-DP.

    The shares fix the *ratios* of the noise: ``σ_k = s · σ_k(share_k)`` with ``σ_k(share_k)``
    the analytic Gaussian σ at that share of (ε, δ) (:func:`split_budget`). Gaussian releases
    with noise multipliers ``m_k = σ_k / Δ_k`` compose exactly into one Gaussian with
    ``m = (Σ m_k⁻²)^(-1/2)``, so ``s`` is the analytic Gaussian multiplier at the full (ε, δ)
    (a bisection, :func:`gaussian_mechanism_sigma`) divided by ``m`` at ``s = 1``. One release
    keeps its analytic σ at the full (ε, δ) unchanged (``s = 1``).

    Parameters
    ----------
    epsilon, delta : float
        The method's budget (``epsilon = inf``: every σ is ``0``, exact statistics).
    shares : mapping of str to float
        Relative shares, in release order.
    sensitivity : mapping of str to float
        L2 sensitivity of each release.

    Returns
    -------
    GaussianPlan
    """
    if math.isinf(epsilon):
        zeros = {k: 0.0 for k in shares}
        return GaussianPlan(sigma=zeros, delta=dict(zeros), epsilon={k: math.inf for k in shares}, scale=0.0)
    parts = split_budget(epsilon, delta, shares)
    base = {k: gaussian_mechanism_sigma(e_k, d_k, sensitivity[k]) for k, (e_k, d_k) in parts.items()}
    if len(base) == 1:
        return GaussianPlan(sigma=base, delta={k: d for k, (_, d) in parts.items()}, epsilon={k: epsilon for k in base}, scale=1.0)
    merged = math.fsum((sensitivity[k] / base[k]) ** 2 for k in base) ** -0.5
    scale = gaussian_mechanism_sigma(epsilon, delta) / merged
    while True:  # guard against the last ulp of the products tipping the composition over ε
        sigma = {k: scale * base[k] for k in base}
        events = [gaussian_event(sigma[k] / sensitivity[k]) for k in base]
        if joint_epsilon(events, delta) <= epsilon:
            break
        scale *= 1.0 + 1e-12
    own = {k: epsilon_gaussian(sigma[k], parts[k][1], sensitivity[k]) for k in base}
    return GaussianPlan(sigma=sigma, delta={k: d for k, (_, d) in parts.items()}, epsilon=own, scale=scale)


def gaussian_releases(
    exact: dict[str, np.ndarray],
    plan: GaussianPlan,
    sensitivity: dict[str, float],
    rng: np.random.Generator,
    ledger: PrivacyLedger,
    prefix: str,
    **extra: object,
) -> tuple[dict[str, np.ndarray], dict[str, float]]:
    """Release each exact statistic with the noise of ``plan`` and record it with its event.

    ``plan.sigma[name] = 0`` (ε = ∞) releases the exact value (non-private). Returns the noisy
    statistics and the noise std of each.
    """
    noisy: dict[str, np.ndarray] = {}
    joint = {"calibration": "joint (PLD): noise ratios from the shares", "joint_scale": plan.scale}
    for name, value in exact.items():
        sigma = plan.sigma[name]
        noisy[name] = value + rng.normal(0.0, sigma, size=value.shape) if sigma > 0 else value
        ledger.spend(
            f"{prefix}_{name}",
            mechanism="gaussian" if sigma > 0 else "none (epsilon=inf: exact statistic)",
            epsilon=plan.epsilon[name],
            delta=plan.delta[name],
            noise_multiplier=sigma / sensitivity[name],
            sensitivity=sensitivity[name],
            event=plan.event(name, sensitivity[name]),
            noise_std=sigma,
            **(joint if sigma > 0 else {}),
            **extra,
        )
    return noisy, dict(plan.sigma)
