"""L2-penalised logistic regression: scikit-learn ``LogisticRegression``'s model, by vectorised Newton.

The objective is scikit-learn's, ``C·Σ wᵢ·logloss_i + ‖w‖²/2`` with an unpenalised intercept. It
is strictly convex, so Newton–Raphson reaches its minimiser to rounding in a few steps (scikit-learn's
lbfgs stops at ``tol=1e-4`` on the gradient); ``tests/unit/test_batched_fits.py`` compares the
two. The fits of several data sets (DP-ZO's 2K candidates of a step) run as one stacked Newton
iteration, each model getting the coefficients it gets alone.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.special import expit

from dpcondense.models._stacked_solvers import solve
from dpcondense.models.base import ClassificationModel, register_model
from dpcondense.params import ParamSpec

#: Newton stops once the decrement ``gᵀH⁻¹g/2`` of the summed objective falls below this
NEWTON_TOL = 1e-12


@register_model("logistic_regression")
class LogisticRegression(ClassificationModel):
    """Logistic regression with an L2 penalty ``‖w‖²/2`` against ``C`` × the summed log-loss.

    Parameters
    ----------
    C : float
        Inverse regularisation strength (smaller = stronger ridge penalty).
    max_iter : int
        Maximum Newton iterations (non-convergence is silent, the last iterate is used).
    random_state : int, Generator or None
        Unused (the fit is deterministic); accepted for the common interface.
    """

    label = "logistic regression"
    #: 2: exact minimiser by Newton (was scikit-learn's lbfgs to tol=1e-4)
    version = 2
    stochastic = False
    param_specs = {
        "C": ParamSpec(float, low=0.0, low_open=True, doc="inverse L2 regularisation strength"),
        "max_iter": ParamSpec(int, low=1, doc="maximum Newton iterations"),
    }

    def __init__(
        self,
        *,
        C: float = 1.0,
        max_iter: int = 200,
        random_state: int | np.random.Generator | None = None,
        **params: Any,
    ) -> None:
        super().__init__(random_state=random_state, C=C, max_iter=max_iter, **params)

    def _fit(self, X, y, sample_weight) -> None:
        type(self)._fit_many([self], [(X, y, sample_weight)])

    @classmethod
    def _fit_many(cls, models: list["LogisticRegression"], data: list[tuple]) -> None:
        """One stacked Newton iteration per group of equal-shaped data and equal hyperparameters."""
        groups: dict[tuple, list[int]] = {}
        for i, (m, (X, _, _)) in enumerate(zip(models, data, strict=True)):
            groups.setdefault((X.shape, repr(sorted(m.params.items()))), []).append(i)
        for members in groups.values():
            p = models[members[0]].params
            X = np.stack([data[i][0] for i in members])
            A = np.concatenate([X, np.ones((*X.shape[:2], 1))], axis=2)  # intercept column last
            y = np.stack([data[i][1] for i in members]).astype(float)
            w = np.stack([np.ones(len(data[i][1])) if data[i][2] is None else data[i][2] for i in members])
            penalty = np.append(np.full(X.shape[2], 1.0 / float(p["C"])), 0.0)
            beta = newton_logistic(A, y, w, penalty, int(p["max_iter"]))
            for i, b in zip(members, beta):
                models[i].coef_, models[i].intercept_ = b[:-1], float(b[-1])

    def _predict_proba(self, X):
        return expit(X @ self.coef_ + self.intercept_)


def _objective(A: np.ndarray, y: np.ndarray, w: np.ndarray, penalty: np.ndarray, beta: np.ndarray):
    """``Σ wᵢ·logloss_i + Σ penalty·β²/2`` per model (B,), its gradient (B, P) and Hessian (B, P, P)."""
    z = np.matmul(A, beta[:, :, None])[:, :, 0]
    f = (w * (np.logaddexp(0.0, z) - y * z)).sum(axis=1) + 0.5 * (penalty * beta * beta).sum(axis=1)
    p = expit(z)
    g = np.matmul(A.transpose(0, 2, 1), (w * (p - y))[:, :, None])[:, :, 0] + penalty * beta
    H = np.matmul(A.transpose(0, 2, 1), A * (w * p * (1.0 - p))[:, :, None])
    H[:, np.arange(len(penalty)), np.arange(len(penalty))] += penalty
    return f, g, H


def newton_logistic(A: np.ndarray, y: np.ndarray, w: np.ndarray, penalty: np.ndarray, max_iter: int) -> np.ndarray:
    """Minimise each model's penalised logistic loss by damped Newton; coefficients (B, P).

    ``A`` (B, n, P) holds the covariates with an intercept column, ``y``/``w`` (B, n) the labels
    and row weights, ``penalty`` (P,) the ridge weight of each coefficient (0: unpenalised). A
    model stops once its Newton decrement falls below :data:`NEWTON_TOL`, taking that last full
    step; until then step halving keeps its objective decreasing.
    """
    beta = np.zeros(A.shape[::2])
    f, g, H = _objective(A, y, w, penalty, beta)
    active = np.ones(len(beta), dtype=bool)
    for _ in range(max_iter):
        step = -solve(H, g)
        decrement = -0.5 * (g * step).sum(axis=1)
        done = active & (decrement < NEWTON_TOL)
        beta[done] += step[done]
        active &= ~done & np.isfinite(decrement)
        if not active.any():
            break
        t = np.ones(len(beta))
        pending = active.copy()
        while pending.any():
            f_new, g_new, H_new = _objective(A, y, w, penalty, np.where(pending[:, None], beta + t[:, None] * step, beta))
            ok = pending & np.isfinite(f_new) & (f_new <= f + 1e-12 * np.abs(f))
            beta[ok] += t[ok, None] * step[ok]
            f[ok], g[ok], H[ok] = f_new[ok], g_new[ok], H_new[ok]
            pending &= ~ok
            t = np.where(pending, 0.5 * t, t)
            stuck = pending & (t < 1e-8)
            active &= ~stuck
            pending &= ~stuck
    return beta
