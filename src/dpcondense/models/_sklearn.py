"""Small helpers shared by the scikit-learn wrappers."""

from __future__ import annotations

import numpy as np


def proba_of_class_one(estimator, X: np.ndarray) -> np.ndarray:
    """P(y = 1) from a fitted scikit-learn classifier, whatever the order of ``classes_``."""
    proba = estimator.predict_proba(X)
    hit = np.flatnonzero(estimator.classes_ == 1)
    return proba[:, hit[0]] if len(hit) else np.zeros(len(X))
