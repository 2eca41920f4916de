"""Cox proportional hazards: a vectorised NumPy Newton–Raphson fit with a ridge penalty.

DP-ZO refits the Cox model thousands of times on 2–200 synthetic rows, so this replaces
lifelines' per-row Python loop with array operations. It reproduces lifelines'
``CoxPHFitter(penalizer=λ, l1_ratio=0)`` exactly (see ``tests/test_cox_fast.py``):

* ties: **Efron** (lifelines' default), with lifelines' weighted form;
* covariates are standardised internally (column mean and ``ddof=1`` standard deviation), and the
  maximised objective is ``log PL(b) − n·λ/2·‖b‖²`` in the standardised coordinates ``b``, where
  ``n`` is the number of rows (not the total weight);
* the baseline is the **Breslow** cumulative hazard at the covariate mean, so
  Ŝ(t | x) = exp(−H0(t) · exp((x − x̄)·β)).

Constant columns (standard deviation 0) get coefficient 0 — lifelines would produce NaN.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from dpcondense.models._breslow import BreslowBaseline, breslow_baseline
from dpcondense.models.base import SurvivalModel, register_model
from dpcondense.params import ParamSpec


class _EfronStructure:
    """Everything about the (time, event, weight) data that does not depend on β.

    Rows are sorted by time; events are grouped by distinct event time (``K`` groups, ``E`` events).
    """

    def __init__(self, time: np.ndarray, event: np.ndarray, weight: np.ndarray) -> None:
        order = np.argsort(time, kind="stable")
        self.order = order
        t = time[order]
        e = event[order].astype(bool)
        self.w = weight[order]
        self.ev = np.flatnonzero(e)  # positions (in sorted order) of the events, ascending time
        ev_t = t[self.ev]
        self.uniq, self.starts, counts = np.unique(ev_t, return_index=True, return_counts=True)
        group = np.repeat(np.arange(len(self.uniq)), counts)  # event -> its tie group
        self.group = group
        # Efron: the l-th of D tied deaths removes l/D of the tied risk from the denominator
        self.frac = (np.arange(len(ev_t)) - self.starts[group]) / counts[group]
        w_ev = self.w[self.ev]
        self.w_ev = w_ev
        # lifelines weights every Efron term of a tie group by the mean weight of its deaths
        self.c = (np.add.reduceat(w_ev, self.starts) / counts)[group]
        self.risk_start = np.searchsorted(t, self.uniq, side="left")  # first row at risk at u_k
        # number of event times u_k <= t_i: row i sits in the risk sets of those groups
        self.n_groups_before = np.searchsorted(self.uniq, t, side="right")


def _efron(Xs: np.ndarray, s: _EfronStructure, beta: np.ndarray, *, derivatives: bool = True):
    """Efron partial log-likelihood and, optionally, its gradient and Hessian at ``beta``.

    ``Xs`` holds the rows in ``s.order``. Returns ``(loglik, grad, hess)`` (grad/hess None if not asked).
    """
    eta = Xs @ beta
    m = eta.max()
    phi = s.w * np.exp(eta - m)  # common factor exp(-m) cancels in every ratio below
    R = np.cumsum(phi[::-1])[::-1][s.risk_start]  # risk-set sums per event time
    ev, g, f, c = s.ev, s.group, s.frac, s.c
    phi_ev = phi[ev]
    T = np.add.reduceat(phi_ev, s.starts)  # tied-death sums per event time
    denom = R[g] - f * T[g]
    loglik = float(s.w_ev @ eta[ev] - c @ (np.log(denom) + m))
    if not derivatives:
        return loglik, None, None
    phiX = phi[:, None] * Xs
    RX = np.cumsum(phiX[::-1], axis=0)[::-1][s.risk_start]
    TX = np.add.reduceat(phiX[ev], s.starts, axis=0)
    mu = (RX[g] - f[:, None] * TX[g]) / denom[:, None]  # E x d weighted risk-set means
    grad = s.w_ev @ Xs[ev] - c @ mu
    # Σ_e c_e/denom_e · Σ_{i in risk set} phi_i x_i x_iᵀ, regrouped as one weight per row
    per_group = np.add.reduceat(c / denom, s.starts)
    cum = np.concatenate([[0.0], np.cumsum(per_group)])
    row_w = phi * cum[s.n_groups_before]
    tie_w = phi_ev * np.add.reduceat(c * f / denom, s.starts)[g]
    hess = (mu.T * c) @ mu - (Xs.T * row_w) @ Xs + (Xs[ev].T * tie_w) @ Xs[ev]
    return loglik, grad, hess


@register_model("cox_ph")
class CoxPH(SurvivalModel):
    """Ridge-penalised Cox model (Efron ties, Breslow baseline), fitted by damped Newton–Raphson.

    Parameters
    ----------
    penalizer : float
        Ridge strength λ ≥ 0; the penalty is ``n·λ/2·‖b‖²`` on standardised coefficients, as in
        lifelines' ``CoxPHFitter(penalizer=λ, l1_ratio=0)``.
    max_iter : int
        Maximum Newton iterations.
    tol : float
        Stop when the Newton decrement ``gᵀH⁻¹g/2`` falls below ``tol``.
    random_state : int, Generator or None
        Unused (the fit is deterministic); accepted for the common interface.
    """

    label = "Cox PH"
    stochastic = False
    param_specs = {
        "penalizer": ParamSpec(float, low=0.0, doc="ridge strength"),
        "max_iter": ParamSpec(int, low=1, doc="maximum Newton iterations"),
        "tol": ParamSpec(float, low=0.0, low_open=True, doc="stop when the Newton decrement falls below it"),
    }

    def __init__(
        self,
        *,
        penalizer: float = 0.1,
        max_iter: int = 50,
        tol: float = 1e-12,
        random_state: int | np.random.Generator | None = None,
        **params: Any,
    ) -> None:
        if penalizer < 0:
            raise ValueError(f"penalizer must be >= 0, got {penalizer}")
        super().__init__(random_state=random_state, penalizer=penalizer, max_iter=max_iter, tol=tol, **params)
        self.penalizer = float(penalizer)
        self.max_iter = int(max_iter)
        self.tol = float(tol)

    def _fit(self, X, time, event, sample_weight) -> None:
        n, d = X.shape
        w = np.ones(n) if sample_weight is None else sample_weight
        self.mean_ = X.mean(axis=0)
        std = X.std(axis=0, ddof=1)
        # constant columns carry no information (and would divide by zero): coefficient 0
        keep = std > 1e-12 * np.maximum(1.0, np.abs(self.mean_))
        Z = (X[:, keep] - self.mean_[keep]) / std[keep]
        s = _EfronStructure(time, event, w)
        Zs = Z[s.order]
        b = self._newton(Zs, s, n)
        self.coef_ = np.zeros(d)
        self.coef_[keep] = b / std[keep]
        self.baseline_: BreslowBaseline = breslow_baseline(time, event, (X - self.mean_) @ self.coef_, w)

    def _newton(self, Zs: np.ndarray, s: _EfronStructure, n: int) -> np.ndarray:
        d = Zs.shape[1]
        b = np.zeros(d)
        if d == 0:
            return b
        pen = n * self.penalizer
        ll, g, h = _efron(Zs, s, b)
        obj = ll
        for _ in range(self.max_iter):
            g_pen = g - pen * b
            h_pen = h - pen * np.eye(d)
            try:
                step = np.linalg.solve(-h_pen, g_pen)
            except np.linalg.LinAlgError:  # singular only when λ = 0 and columns are collinear
                step = np.linalg.lstsq(-h_pen, g_pen, rcond=None)[0]
            decrement = 0.5 * g_pen @ step
            if not np.isfinite(decrement):
                break
            if decrement < self.tol:
                # inside the quadratic region: the last full step is exact to rounding, keep it
                return b + step
            # step halving keeps the (concave) objective increasing far from the optimum;
            # near it the full Newton step is accepted at once
            t = 1.0
            while True:
                candidate = b + t * step
                ll, g, h = _efron(Zs, s, candidate)
                new_obj = ll - 0.5 * pen * candidate @ candidate
                if np.isfinite(new_obj) and new_obj >= obj - 1e-12 * abs(obj):
                    break
                t *= 0.5
                if t < 1e-8:
                    return b
            b, obj = candidate, new_obj
        return b

    def predict_log_risk(self, X: np.ndarray) -> np.ndarray:
        """Log partial hazard (x − x̄)·β, the linear predictor centred at the training mean."""
        return (np.asarray(X, dtype=float) - self.mean_) @ self.coef_

    def _predict_survival(self, X, grid):
        return self.baseline_.survival(self.predict_log_risk(X), grid)
