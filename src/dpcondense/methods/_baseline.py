"""Pieces shared by the baseline methods (kmeans, dp_gaussian, dp_marginals, dp_dm, dp_direct).

Everything here is a function of the public schema (bounds, categories, horizon, time grid) or of
public randomness; none of it reads a real row.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from dpcondense.data import Dataset
from dpcondense.methods.base import SyntheticSet
from dpcondense.privacy import PrivacyLedger, gaussian_mechanism_sigma, parse_epsilon
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


def seed_sequence(random_state: int | np.random.Generator | None) -> np.random.SeedSequence:
    """The root of a method's independent random streams (public randomness, noise, ...)."""
    if isinstance(random_state, np.random.Generator):
        return np.random.SeedSequence(int(random_state.integers(0, 2**63 - 1)))
    return np.random.SeedSequence(0 if random_state is None else int(random_state))


def parse_budget(epsilon: float | str) -> float:
    """The method's epsilon as a float (``inf`` allowed, validated later by the ledger)."""
    return parse_epsilon(epsilon)


def gaussian_releases(
    exact: dict[str, np.ndarray],
    parts: dict[str, tuple[float, float]],
    sensitivity: dict[str, float],
    rng: np.random.Generator,
    ledger: PrivacyLedger,
    prefix: str,
    **extra: object,
) -> tuple[dict[str, np.ndarray], dict[str, float]]:
    """Release each exact statistic with the analytic Gaussian mechanism and record the spend.

    ``parts[name]`` is the (ε, δ) of that release (ε = ∞ releases the exact value, non-private).
    Returns the noisy statistics and the noise std of each.
    """
    noisy: dict[str, np.ndarray] = {}
    noise_std: dict[str, float] = {}
    for name, value in exact.items():
        e_k, d_k = parts[name]
        sigma = gaussian_mechanism_sigma(e_k, d_k, sensitivity[name]) if math.isfinite(e_k) else 0.0
        noisy[name] = value + rng.normal(0.0, sigma, size=value.shape) if sigma > 0 else value
        noise_std[name] = sigma
        ledger.spend(
            f"{prefix}_{name}",
            mechanism="gaussian" if sigma > 0 else "none (epsilon=inf: exact statistic)",
            epsilon=e_k,
            delta=d_k if sigma > 0 else 0.0,
            noise_multiplier=sigma / sensitivity[name],
            sensitivity=sensitivity[name],
            noise_std=sigma,
            **extra,
        )
    return noisy, noise_std
