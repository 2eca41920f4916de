"""The attack: the canary, its membership score, the threshold and the ε lower bound it certifies.

Clopper–Pearson intervals, the ε lower bound and DCR are pure functions of counts and rows; the
canary is crafted from the audit rows and scored on one release. See
:mod:`dpcondense.privacy.audit` for the design and :mod:`dpcondense.privacy.audit.runner` for
the runs.
"""

from __future__ import annotations

import math
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy.stats import beta as _beta

from dpcondense.data import Dataset, from_frame
from dpcondense.models import make_model
from dpcondense.models.base import classification_loss

Statistic = Literal["loss", "distance"]
ThresholdRule = Literal["split", "fixed"]
STATISTICS: tuple[str, ...] = ("loss", "distance")
THRESHOLD_RULES: tuple[str, ...] = ("split", "fixed")


# ------------------------------------------------------------------------------------ statistics


def clopper_pearson(successes: int, trials: int, *, confidence: float = 0.95) -> tuple[float, float]:
    """Exact two-sided Clopper–Pearson interval for a binomial proportion.

    Parameters
    ----------
    successes, trials : int
        Observed count and number of trials (``0 <= successes <= trials``, ``trials >= 1``).
    confidence : float
        Two-sided coverage, e.g. 0.95 (each side at (1 − confidence) / 2).

    Returns
    -------
    (low, high) : tuple of float
    """
    if trials < 1 or not 0 <= successes <= trials:
        raise ValueError(f"need 0 <= successes <= trials and trials >= 1, got {successes}/{trials}")
    alpha = 1.0 - confidence
    lo = 0.0 if successes == 0 else float(_beta.ppf(alpha / 2, successes, trials - successes + 1))
    hi = 1.0 if successes == trials else float(_beta.ppf(1 - alpha / 2, successes + 1, trials - successes))
    return lo, hi


def epsilon_lower_bound(
    true_positives: int,
    n_members: int,
    false_positives: int,
    n_non_members: int,
    *,
    delta: float,
    confidence: float = 0.95,
) -> float:
    """Lower bound on ε from an attack's counts (Clopper–Pearson on TPR and FPR), ``>= 0``.

    ``max(log((TPR_lo − δ)/FPR_hi), log((1 − FPR_hi − δ)/(1 − TPR_lo)))``, each term only where
    its numerator and denominator are positive.
    """
    tpr_lo, _ = clopper_pearson(true_positives, n_members, confidence=confidence)
    _, fpr_hi = clopper_pearson(false_positives, n_non_members, confidence=confidence)
    bounds = [0.0]
    if tpr_lo - delta > 0 and fpr_hi > 0:
        bounds.append(math.log((tpr_lo - delta) / fpr_hi))
    # conservative on both rates: the smallest plausible numerator over the largest denominator
    if 1 - fpr_hi - delta > 0 and 1 - tpr_lo > 0:
        bounds.append(math.log((1 - fpr_hi - delta) / (1 - tpr_lo)))
    return max(bounds)


def max_certifiable_epsilon(n_members: int, n_non_members: int, *, delta: float, confidence: float = 0.95) -> float:
    """The bound a perfect attack would certify with these trial counts (the audit's power)."""
    return epsilon_lower_bound(n_members, n_members, 0, n_non_members, delta=delta, confidence=confidence)


def distance_to_closest(rows: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Euclidean distance of each row to its nearest reference row (model space)."""
    rows = np.asarray(rows, dtype=float)
    reference = np.asarray(reference, dtype=float)
    d2 = (rows**2).sum(1)[:, None] + (reference**2).sum(1)[None, :] - 2.0 * rows @ reference.T
    return np.sqrt(np.maximum(d2.min(axis=1), 0.0))


# ------------------------------------------------------------------------------------ the canary


def craft_canary(dataset: Dataset, *, corner: Literal["far", "other_class"] = "far") -> pd.DataFrame:
    """One raw row at a corner of the public domain, with the rarer label (survival: an early event).

    ``corner="far"``: each numeric feature at the bound farther from the audit rows' mean, each
    binary feature at its minority value, each categorical feature at its rarest category, and
    missing where the audit rows are mostly observed — the directions the audit rows barely use,
    so only the canary itself can teach the model what happens there. ``corner="other_class"``:
    each feature on the side of the other class (survival: of the longer survivors).
    The auditor may look at the audit rows; nothing here is released.
    """
    schema = dataset.schema
    X = dataset.encoded()
    slices = dataset.encoder().feature_slices()
    if dataset.task == "classification":
        label = int(np.mean(dataset.y) < 0.5)  # the rarer class
        toward = dataset.y != label
    else:
        label = None
        toward = dataset.time > np.median(dataset.time)  # long survivors: low hazard
    away = ~toward
    values: dict[str, Any] = {}
    for f in schema.features:
        block = X[:, slices[f.name]]
        if corner == "far":
            if f.missing.indicator and block[:, -1].mean() < 0.5:
                values[f.name] = None  # missing: its indicator is a direction the rows rarely use
                continue
            diff = -block.mean(axis=0)  # toward the side the rows are not on
            if f.type == "binary":
                diff = 0.5 - block.mean(axis=0)
        else:
            diff = block[toward].mean(axis=0) - block[away].mean(axis=0) if toward.any() and away.any() else np.zeros(block.shape[1])
        if f.type == "numeric":
            lo, hi = f.bounds  # type: ignore[misc]
            values[f.name] = hi if diff[0] >= 0 else lo
        elif f.type == "binary":
            values[f.name] = 1.0 if diff[0] >= 0 else 0.0
        else:
            cats = list(f.categories or ())
            values[f.name] = cats[int(np.argmax(diff[: len(cats)]))]
    frame = pd.DataFrame(
        {
            f.name: pd.Series([values[f.name]], dtype=object)
            if f.type == "categorical"
            else pd.Series([np.nan if values[f.name] is None else float(values[f.name])], dtype=float)
            for f in schema.features
        }
    )
    out = schema.outcome
    if dataset.task == "classification":
        frame[out.label] = out.positive if label == 1 else out.negative
    else:
        frame[out.time] = float(out.time_grid()[0]) / 2.0
        frame[out.event] = 1
    return frame


def _with_canary(dataset: Dataset, canary: pd.DataFrame) -> Dataset:
    frame = pd.concat([dataset.to_frame(), canary], ignore_index=True)
    return from_frame(frame, dataset.schema, source="audit data + canary")


def _canary_arrays(canary_ds: Dataset) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    X = canary_ds.encoded()
    if canary_ds.task == "classification":
        return X, {"y": canary_ds.y}
    return X, {"time": canary_ds.time, "event": canary_ds.event}


def canary_score(
    release: Any,
    canary_X: np.ndarray,
    canary_targets: dict[str, np.ndarray],
    *,
    task: str,
    statistic: Statistic,
    model: str,
    model_params: dict[str, Any] | None = None,
    grid: np.ndarray | None = None,
) -> float:
    """Membership score of the canary for one release (higher = "the canary was in").

    ``release`` is a :class:`~dpcondense.methods.base.SyntheticSet` (model space). A release
    that is a model rather than rows (``released_model``, e.g. ``dp_direct``) is scored by the
    canary's loss under that model, whatever ``statistic``.
    """
    released_model = getattr(release, "released_model", None)
    if released_model is not None:
        if task != "classification":
            raise ValueError("auditing a released survival model is not supported")
        p1 = released_model.predict_proba(canary_X)[:, 1]
        return -float(classification_loss(p1, canary_targets["y"])[0])
    if statistic == "loss":
        mdl = make_model(model, random_state=0, **(model_params or {}))
        if task == "classification":
            mdl.fit(release.X, release.y, sample_weight=release.weight)
            return -float(mdl.loss(canary_X, canary_targets["y"])[0])
        mdl.fit(release.X, release.time, release.event, sample_weight=release.weight)
        return -float(mdl.loss(canary_X, canary_targets["time"], canary_targets["event"], grid)[0])
    rows = release.X
    if task == "classification":
        same = np.asarray(release.y) == int(canary_targets["y"][0])
        rows = rows[same] if same.any() else rows
    return -float(distance_to_closest(canary_X, rows)[0])


def fixed_threshold(statistic: Statistic, task: str) -> float:
    """The a-priori threshold of a statistic (``fixed`` rule)."""
    if statistic == "loss" and task == "classification":
        return -math.log(2.0)  # the canary's label has probability > 1/2
    raise ValueError(
        "threshold='fixed' is defined for statistic='loss' on classification data only; use threshold='split'"
    )


def guesses(scores: np.ndarray, threshold: float, direction: int) -> np.ndarray:
    """Guess "member" where ``direction * (score - threshold) > 0`` (direction +1 or -1)."""
    return direction * (np.asarray(scores) - threshold) > 0


def choose_threshold(
    scores: np.ndarray, members: np.ndarray, *, delta: float, confidence: float = 0.95
) -> tuple[float, int]:
    """Threshold and direction maximising the ε lower bound on the (calibration) trials.

    Both directions are tried (a statistic may turn out to rank members low); whichever wins is
    then applied unchanged to the evaluation trials.
    """
    scores = np.asarray(scores, dtype=float)
    members = np.asarray(members, dtype=bool)
    uniq = np.unique(scores)
    candidates = np.concatenate([[-np.inf], (uniq[:-1] + uniq[1:]) / 2.0, [np.inf]])
    n_in, n_out = int(members.sum()), int((~members).sum())
    best, choice = -np.inf, (float(candidates[0]), 1)
    for direction in (1, -1):
        for t in candidates:
            guess = guesses(scores, t, direction)
            tp, fp = int((guess & members).sum()), int((guess & ~members).sum())
            eps = epsilon_lower_bound(tp, n_in, fp, n_out, delta=delta, confidence=confidence)
            # tie-break on the empirical separation, so an all-zero bound still picks a sensible cut
            value = eps + 1e-6 * (tp / max(n_in, 1) - fp / max(n_out, 1))
            if value > best:
                best, choice = value, (float(t), direction)
    return choice

