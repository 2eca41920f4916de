"""Evaluation metrics of docs/design.md §8, robust to the degenerate test sets small runs produce.

A metric that is undefined on its input (one class only, no comparable pairs, a follow-up too
short to integrate over) is NaN, never an exception, so a sweep records it and moves on.

Survival metrics follow scikit-survival's conventions and take the *training* outcome too:
Uno's C-index and the integrated Brier score reweight test patients by the inverse probability
of censoring (IPCW), with the censoring distribution estimated by Kaplan–Meier on the training
outcome (Graf et al. 1999; Uno et al. 2011). They are computed here and in
:mod:`dpcondense.concordance` (sort-and-count C-indexes, a vectorised censoring Kaplan–Meier) and
are bit-identical to scikit-survival's ``concordance_index_censored``, ``concordance_index_ipcw``
and ``integrated_brier_score``, whose cost grows with test rows × events (minutes for the
250,000 held-out rows of a million-row cohort).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from sklearn.metrics import average_precision_score, roc_auc_score

from dpcondense.concordance import CensoringKM, harrell_c, pair_counts, uno_c

#: The metric each task's tables rank by (also the numerator of utility retention).
PRIMARY_METRIC = {"classification": "auroc", "survival": "c_index"}

CLASSIFICATION_METRICS = ("auroc", "auprc", "balanced_accuracy", "brier")
SURVIVAL_METRICS = ("c_index", "c_index_uno", "ibs")


def classification_metrics(y_true: np.ndarray, p1: np.ndarray) -> dict[str, float]:
    """AUROC, AUPRC (average precision), balanced accuracy at threshold 0.5, and Brier score.

    Parameters
    ----------
    y_true : array of {0, 1}, shape (n,)
    p1 : array of float, shape (n,)
        Predicted probability of class 1.

    Returns
    -------
    dict with keys ``auroc``, ``auprc``, ``balanced_accuracy``, ``brier``. AUROC and balanced
    accuracy are NaN when ``y_true`` holds one class only; AUPRC is NaN without positives.
    """
    y = np.asarray(y_true).astype(np.int64).ravel()
    p = np.asarray(p1, dtype=float).ravel()
    if len(y) != len(p):
        raise ValueError(f"y_true and p1 need the same length, got {len(y)} and {len(p)}")
    both_classes = len(np.unique(y)) == 2
    pred = (p >= 0.5).astype(np.int64)
    if both_classes:
        recall_pos = np.mean(pred[y == 1] == 1)
        recall_neg = np.mean(pred[y == 0] == 0)
        balanced = 0.5 * (recall_pos + recall_neg)
    else:
        balanced = np.nan
    return {
        "auroc": float(roc_auc_score(y, p)) if both_classes else np.nan,
        "auprc": float(average_precision_score(y, p)) if y.any() else np.nan,
        "balanced_accuracy": float(balanced),
        "brier": float(np.mean((p - y) ** 2)) if len(y) else np.nan,
    }


def survival_metrics(
    train_time: np.ndarray,
    train_event: np.ndarray,
    test_time: np.ndarray,
    test_event: np.ndarray,
    risk: np.ndarray,
    surv_on_grid: np.ndarray,
    grid: np.ndarray,
) -> dict[str, float]:
    """Harrell's and Uno's C-index and the integrated Brier score on the public grid.

    Parameters
    ----------
    train_time, train_event : arrays, shape (n_train,)
        Training outcome: only used to estimate the censoring distribution for IPCW.
    test_time, test_event : arrays, shape (n_test,)
        Test outcome.
    risk : array, shape (n_test,)
        Risk score, higher = earlier event (e.g. ``SurvivalModel.predict_risk``).
    surv_on_grid : array, shape (n_test, len(grid))
        Predicted Ŝ(g | x) at each grid point.
    grid : array, shape (G,)
        Public time grid, increasing.

    Returns
    -------
    dict with keys:

    ``c_index``
        Harrell's C (scikit-survival ``concordance_index_censored``): pairs where the earlier
        time is an event; ties in risk count 1/2, pairs tied in time are comparable only if
        exactly one is an event (that one counted as earlier).
    ``c_index_uno``
        Uno's IPCW C truncated at ``tau``: the largest grid point below both the largest test
        time and the largest training time (so the censoring estimate is defined up to it).
    ``ibs``
        Integrated Brier score (IPCW, trapezoid rule, normalised by the integration range) over
        the grid points inside the test follow-up ``[min test time, max test time)`` and before
        the last training time. A patient censored at c scores (0 − Ŝ)² / Ĝ(t_i) after an event
        before t, (1 − Ŝ)² / Ĝ(t) while still at risk, and nothing once censored; the IPCW weights
        1/Ĝ make up for the censored ones. Test times past the last training time are
        administratively censored there (Ĝ is undefined beyond it).

    A metric is NaN when undefined: no comparable pairs, fewer than two usable grid points, or
    a censoring distribution that reaches zero before ``tau``.
    """
    train_time = np.asarray(train_time, dtype=float).ravel()
    train_event = np.asarray(train_event).astype(bool).ravel()
    test_time = np.asarray(test_time, dtype=float).ravel()
    test_event = np.asarray(test_event).astype(bool).ravel()
    risk = np.asarray(risk, dtype=float).ravel()
    surv = np.asarray(surv_on_grid, dtype=float)
    grid = np.asarray(grid, dtype=float).ravel()
    if not (len(test_time) == len(test_event) == len(risk) == len(surv)):
        raise ValueError("test_time, test_event, risk and surv_on_grid need the same number of rows")
    if surv.ndim != 2 or surv.shape[1] != len(grid):
        raise ValueError(f"surv_on_grid must have shape (n_test, {len(grid)}), got {surv.shape}")
    counts = None  # the concordance counts, shared by both C-indexes when they see the same outcome
    if len(test_time) >= 2 and test_event.any() and np.isfinite(test_time).all() and np.isfinite(risk).all():
        counts = pair_counts(test_event, test_time, risk)
    out = {"c_index": harrell_c(test_event, test_time, risk, counts=counts), "c_index_uno": np.nan, "ibs": np.nan}
    if not train_event.any() or len(test_time) < 2 or not np.isfinite(train_time).all():
        return out
    censoring = CensoringKM.fit(train_time, train_event)
    # censoring-KM is only defined up to the last training time: admin-censor the test set there;
    # it leaves Uno's C unchanged (all its pairs end before tau) and the IBS range below it
    horizon = train_time.max()
    time, event = np.minimum(test_time, horizon), test_event & (test_time <= horizon)
    upper = min(test_time.max(), horizon)
    below = grid[grid < upper]
    if len(below):
        same = counts is not None and not (test_time > horizon).any()
        out["c_index_uno"] = uno_c(censoring, time, event, risk, float(below[-1]), counts=counts if same else None)
    usable = (grid >= test_time.min()) & (grid < upper)
    if usable.sum() >= 2:
        out["ibs"] = _ibs(censoring, time, event, surv[:, usable], grid[usable])
    return out


def evaluate(
    model: Any,
    X_test: np.ndarray,
    test_outcome: Any,
    *,
    train_outcome: Any = None,
    grid: np.ndarray | None = None,
) -> dict[str, float]:
    """All metrics of ``model`` (a fitted family) on a test set.

    ``test_outcome`` / ``train_outcome`` are anything with ``y`` (classification) or ``time`` and
    ``event`` (survival) as attributes or mapping keys — e.g. a ``dpcondense.data.Dataset``.
    Survival needs ``train_outcome`` (for IPCW) and the public ``grid``.
    """
    if model.task == "classification":
        return classification_metrics(_field(test_outcome, "y"), model.predict_proba(X_test)[:, 1])
    if train_outcome is None or grid is None:
        raise ValueError("survival evaluation needs train_outcome and grid")
    grid = np.asarray(grid, dtype=float)
    surv = model.predict_survival(X_test, grid)
    return survival_metrics(
        _field(train_outcome, "time"),
        _field(train_outcome, "event"),
        _field(test_outcome, "time"),
        _field(test_outcome, "event"),
        -surv.sum(axis=1),  # same risk score as SurvivalModel.predict_risk, without a second predict
        surv,
        grid,
    )


# ---------------------------------------------------------------------- helpers


def _field(outcome: Any, name: str) -> np.ndarray:
    value = outcome[name] if isinstance(outcome, Mapping) else getattr(outcome, name, None)
    if value is None:
        raise ValueError(f"outcome has no {name!r}")
    return np.asarray(value)


def _ibs(censoring: CensoringKM, time: np.ndarray, event: np.ndarray, surv: np.ndarray, times: np.ndarray) -> float:
    """IPCW integrated Brier score (Graf et al. 1999), as scikit-survival's ``integrated_brier_score``.

    At each grid time t a patient contributes Ŝ² / Ĝ(tᵢ) after an event at tᵢ <= t, (1 − Ŝ)² / Ĝ(t)
    while still at risk (tᵢ > t), and nothing once censored; the Brier score is the mean over
    patients, integrated by the trapezoid rule and divided by the range of ``times``. A Ĝ of 0
    makes the term 0 (scikit-survival's convention). NaN where scikit-survival raises: no test
    event, non-finite predictions, repeated grid times, a grid outside ``[min time, max time)``,
    a test time past the training follow-up.
    """
    if (
        not event.any()
        or not np.isfinite(surv).all()
        or len(np.unique(times)) != len(times)
        or times.max() >= time.max()
        or times.min() < time.min()
    ):
        return np.nan
    try:
        g_time, g_grid = censoring.at(time), censoring.at(times)
    except ValueError:
        return np.nan
    g_time[g_time == 0] = np.inf
    g_grid[g_grid == 0] = np.inf
    scores = np.empty(len(times))
    for k, t in enumerate(times):
        s = surv[:, k]
        after_event = np.where((time <= t) & event, np.square(s) / g_time, 0.0)
        at_risk = np.where(time > t, np.square(1.0 - s) / g_grid[k], 0.0)
        scores[k] = np.mean(after_event + at_risk)
    with np.errstate(divide="ignore", invalid="ignore"):
        value = float(np.trapezoid(scores, times) / (times[-1] - times[0]))
    return value if np.isfinite(value) else np.nan
