"""Inputs shaped like a DP-ZO step's fits, shared by the fast-path tests of the tree families."""

from __future__ import annotations

import numpy as np


def mixed_rows(rng: np.random.Generator, n: int, d: int) -> np.ndarray:
    """Rows like an encoded cohort: binary columns (many tied splits) and continuous ones."""
    X = rng.uniform(-1.0, 1.0, (n, d))
    X[:, : d // 2] = rng.integers(0, 2, (n, d // 2))
    return X


def soft_label_rows(rng: np.random.Generator, m: int, d: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """DP-ZO's soft-labelled fit: each point twice, labels 0 and 1, weights 1 - p and p."""
    X = mixed_rows(rng, m, d)
    p = rng.uniform(0.02, 0.98, m)
    return np.vstack([X, X]), np.repeat([0, 1], m), np.concatenate([1.0 - p, p])


def survival_rows(rng: np.random.Generator, n: int, d: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Survival rows with whole-day times (many ties), 70 % events, the first an event."""
    X = mixed_rows(rng, n, d)
    time = np.ceil(rng.exponential(10.0 * np.exp(-X[:, -1]), n))
    event = (rng.uniform(size=n) < 0.7).astype(np.int64)
    event[0] = 1
    return X, time, event
