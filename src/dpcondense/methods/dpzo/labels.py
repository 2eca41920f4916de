"""Public synthetic targets and label handling of DP-ZO (no real row is read here).

- The targets the synthetic rows carry: balanced classes, or survival event indicators and the
  public log-time scale of the learned time column (:class:`PublicTargets`).
- Label modes: ``hard`` (each point keeps its public class), ``soft`` (a learned label logit per
  point), ``teacher`` (a DP logistic regression labels the points) and ``centroid`` (the
  nearest-centroid rule of the start's DP class means labels them, no extra budget); ``auto`` resolves to
  ``soft`` for piecewise-constant families and ``hard`` otherwise (:func:`resolve_labels`).
- Soft and teacher labels become hard rows with weights: each point once per class, weighted
  ``(1 - p, p)`` (:func:`_soft_rows`, :func:`_teacher_rows`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from dpcondense.data.schema import Schema
from dpcondense.methods.base import balanced_labels
from dpcondense.methods.dpzo.primitives import PrivateRows, privatized_teacher
from dpcondense.models.base import MODELS
from dpcondense.privacy import PrivacyLedger, gaussian_event

#: soft labels: bound of the learned label logits (label probabilities stay in [0.018, 0.982])
LOGIT_BOUND = 4.0
LABEL_MODES: tuple[str, ...] = ("auto", "hard", "soft", "teacher", "centroid")
#: soft labels' starting logits: by the point's class, or graded by the DP class means
#: (``auto``: ``centroid`` when the start releases class means, i.e. ``init="dp_mean"``, else ``class``)
LABEL_STARTS: tuple[str, ...] = ("auto", "class", "centroid")


@dataclass
class PublicTargets:
    """What the synthetic rows are fitted against, all public.

    Classification: ``y`` (balanced classes). Survival: ``event`` indicators, the evaluation
    ``grid`` and the log-time scale ``[log_lo, log_hi]`` that maps the last parameter column
    (in [-1, 1]) to times.
    """

    task: str
    y: np.ndarray | None = None
    event: np.ndarray | None = None
    grid: np.ndarray | None = None
    log_lo: float | None = None
    log_hi: float | None = None

    @property
    def strata(self) -> np.ndarray:
        """Classes (classification) or event indicators (survival) of the synthetic rows."""
        return self.y if self.task == "classification" else self.event

    def times(self, unit: np.ndarray) -> np.ndarray:
        """Survival times of a parameter column on the public log-time scale."""
        return np.exp(self.log_lo + (unit + 1.0) / 2.0 * (self.log_hi - self.log_lo))


def public_targets(
    task: str, schema: Schema, size: int, m: int, event_policy: str, event_fraction: float
) -> PublicTargets:
    """Targets of the ``m`` synthetic rows (``size`` per class for classification)."""
    if task == "classification":
        return PublicTargets(task, y=balanced_labels(int(size)))
    grid = schema.outcome.time_grid()
    n_events = m if event_policy == "all_events" else int(round(event_fraction * m))
    event_s = np.zeros(m, dtype=np.int64)
    event_s[:n_events] = 1
    return PublicTargets(
        task, event=event_s, grid=grid, log_lo=math.log(grid[0] / 2.0), log_hi=math.log(schema.outcome.horizon)
    )


def resolve_labels(labels: str, model: str, task: str) -> str | None:
    """The label mode a run uses: ``auto`` → ``soft`` for piecewise-constant families, else ``hard``.

    Survival has no labels (``None``).
    """
    if labels == "auto":
        labels = "soft" if MODELS.get(model).piecewise_constant else "hard"
    return labels if task == "classification" else None


class CentroidLabeller:
    """Nearest-centroid label probabilities from the two class means (post-processing only).

    ``p(x) = sigmoid(strength * s(x))`` with ``s(x) = (x - c)·w / (|w|² / 2)``, ``w = μ₁ - μ₀``,
    ``c = (μ₀ + μ₁) / 2``: ``s`` is ±1 at the class means and 0 halfway, so ``strength`` is the
    logit at a class mean. With the DP means of the ``dp_mean`` start it spends no budget.
    """

    def __init__(self, means: np.ndarray, strength: float) -> None:
        means = np.asarray(means, dtype=float)
        if means.shape[0] != 2:
            raise ValueError(f"centroid labels need the two class means, got {means.shape[0]} rows")
        self.w = means[1] - means[0]
        self.c = 0.5 * (means[0] + means[1])
        self.half_sq = max(0.5 * float(self.w @ self.w), 1e-12)
        self.strength = float(strength)

    def logits(self, X: np.ndarray) -> np.ndarray:
        """``strength * s(x)``, bounded by ``±LOGIT_BOUND``."""
        score = (np.asarray(X, dtype=float) - self.c) @ self.w / self.half_sq
        return np.clip(self.strength * score, -LOGIT_BOUND, LOGIT_BOUND)

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        p1 = 1.0 / (1.0 + np.exp(-self.logits(X)))
        return np.column_stack([1.0 - p1, p1])


def add_label_logits(
    theta: np.ndarray,
    lower: np.ndarray,
    upper: np.ndarray,
    y: np.ndarray,
    label_init: float,
    scale: float,
    start: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Soft labels: one label-logit coordinate per point, started at ±label_init by its class.

    ``start`` (logits, one per point) replaces the class start, e.g.
    :meth:`CentroidLabeller.logits`. The logit is stored divided by ``scale`` and boxed in
    ``±LOGIT_BOUND / scale``.
    """
    z = (2.0 * y - 1.0) * float(label_init) if start is None else np.clip(start, -LOGIT_BOUND, LOGIT_BOUND)
    theta = np.column_stack([theta, z / scale])
    return theta, np.append(lower, -LOGIT_BOUND / scale), np.append(upper, LOGIT_BOUND / scale)


def fit_teacher(
    private: PrivateRows,
    schema: Schema,
    regularization: float,
    *,
    budget: tuple[float, float] | None,
    noise_rng: np.random.Generator,
    disable_noise: bool,
    ledger: PrivacyLedger,
) -> Any:
    """The label teacher (its output is post-processed only); spends ``budget`` on ``ledger``.

    ``budget=None`` is the ε = ∞ run: the exact teacher, nothing spent.
    """
    if budget is None:
        teacher, _, _ = privatized_teacher(
            private, schema, regularization, epsilon=math.inf, delta=0.0, noise_rng=noise_rng, disable_noise=True
        )
        return teacher
    eps_teacher, delta_teacher = budget
    teacher, sigma, sensitivity = privatized_teacher(
        private, schema, regularization, epsilon=eps_teacher, delta=delta_teacher,
        noise_rng=noise_rng, disable_noise=disable_noise,
    )
    ledger.spend(
        "label_teacher",
        mechanism="gaussian output perturbation (L2-regularised logistic regression)",
        epsilon=eps_teacher,
        delta=delta_teacher,
        noise_multiplier=sigma / sensitivity,
        sensitivity=sensitivity,
        regularization=regularization,
        event=gaussian_event(sigma / sensitivity),
    )
    return teacher


def _weighted_pairs(X: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Points with label probabilities ``p`` → hard rows: each point once per class, weights (1 - p, p)."""
    m = len(X)
    return np.vstack([X, X]), np.repeat(np.array([0, 1], dtype=np.int64), m), np.concatenate([1.0 - p, p])


def _teacher_rows(params: np.ndarray, teacher: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Points labelled by the teacher's probabilities."""
    return _weighted_pairs(params, teacher.predict_proba(params)[:, 1])


def _soft_rows(params: np.ndarray, scale: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Soft-labelled points; the last column of ``params`` is the label logit divided by ``scale``."""
    return _weighted_pairs(params[:, :-1], 1.0 / (1.0 + np.exp(-scale * params[:, -1])))
