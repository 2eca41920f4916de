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

The fits of several data sets (DP-ZO's 2K candidates of a step) run as one stacked Newton
iteration: the data sets are stacked along a leading axis, every reduction stays within a set,
and each set gets the coefficients it gets alone (a fit alone is a stack of one).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from dpcondense.models._breslow import BreslowBaseline, breslow_baseline
from dpcondense.models._stacked_solvers import solve
from dpcondense.models.base import SurvivalModel, register_model
from dpcondense.params import ParamSpec


class _StackedEfron:
    """Everything about B data sets' (time, event, weight) that does not depend on β.

    Every set has ``n`` rows and ``E`` events. Rows are sorted by time within each set (``order``,
    (B, n)); events are grouped by distinct event time, the groups of all sets numbered one after
    another (``starts``: each group's first event in the flattened (B·E) events). Sums over a
    group are ``np.add.reduceat`` segments and sums over a set are reductions along its own row,
    so no set's numbers reach another's: a set gives bit for bit the same alone or stacked.
    """

    def __init__(self, time: np.ndarray, event: np.ndarray, weight: np.ndarray) -> None:
        B, n = time.shape
        self.order = np.argsort(time, axis=1, kind="stable")
        t = np.take_along_axis(time, self.order, axis=1)
        e = np.take_along_axis(event, self.order, axis=1).astype(bool)
        self.w = np.take_along_axis(weight, self.order, axis=1)
        self.rows = np.arange(B)[:, None]
        self.ev = np.nonzero(e)[1].reshape(B, -1)  # (B, E) sorted positions of the events
        ev_t = t[self.rows, self.ev]
        new_group = np.ones(ev_t.shape, dtype=bool)
        new_group[:, 1:] = ev_t[:, 1:] != ev_t[:, :-1]
        flat_new = new_group.ravel()
        self.starts = np.flatnonzero(flat_new)
        self.group = np.cumsum(flat_new) - 1  # event -> its global group
        counts = np.diff(np.append(self.starts, flat_new.size))
        self.set_of_group = np.repeat(np.arange(B), new_group.sum(axis=1))
        # Efron: the l-th of D tied deaths removes l/D of the tied risk from the denominator
        self.frac = (np.arange(flat_new.size) - self.starts[self.group]) / counts[self.group]
        self.w_ev = self.w[self.rows, self.ev]
        # lifelines weights every Efron term of a tie group by the mean weight of its deaths
        self.c = (np.add.reduceat(self.w_ev.ravel(), self.starts) / counts)[self.group]
        uniq_t = ev_t.ravel()[self.starts]
        # first row at risk at each group's time; per row, how many event times are <= its time
        self.risk_start = np.empty(len(self.starts), dtype=np.int64)
        self.n_groups_before = np.empty((B, n), dtype=np.int64)
        self.local_group = np.arange(len(self.starts))  # group's index within its set
        for b in range(B):
            mine = self.set_of_group == b
            self.risk_start[mine] = np.searchsorted(t[b], uniq_t[mine], side="left")
            self.n_groups_before[b] = np.searchsorted(uniq_t[mine], t[b], side="right")
            self.local_group[mine] -= np.flatnonzero(mine)[:1].sum()
        self.n_groups = int(new_group.sum(axis=1).max(initial=0))


def _stacked_efron(Zs: np.ndarray, s: _StackedEfron, beta: np.ndarray, *, derivatives: bool = True):
    """Efron partial log-likelihood (B,) and, optionally, gradient (B, d) and Hessian (B, d, d).

    ``Zs`` (B, n, d) holds each set's rows in ``s.order``.
    """
    B, _, d = Zs.shape
    eta = np.matmul(Zs, beta[:, :, None])[:, :, 0]
    m = eta.max(axis=1, keepdims=True)
    phi = s.w * np.exp(eta - m)  # common factor exp(-m) cancels in every ratio below
    R = np.cumsum(phi[:, ::-1], axis=1)[:, ::-1][s.set_of_group, s.risk_start]  # risk-set sums per group
    g, f, c = s.group, s.frac, s.c
    phi_ev = phi[s.rows, s.ev].ravel()
    T = np.add.reduceat(phi_ev, s.starts)  # tied-death sums per group
    denom = R[g] - f * T[g]
    eta_ev = eta[s.rows, s.ev]
    loglik = (s.w_ev * eta_ev).sum(axis=1) - (c * (np.log(denom) + np.repeat(m[:, 0], s.ev.shape[1]))).reshape(B, -1).sum(axis=1)
    if not derivatives:
        return loglik, None, None
    phiZ = phi[:, :, None] * Zs
    RZ = np.cumsum(phiZ[:, ::-1], axis=1)[:, ::-1][s.set_of_group, s.risk_start]
    Z_ev = Zs[s.rows, s.ev]  # (B, E, d)
    TZ = np.add.reduceat(phiZ[s.rows, s.ev].reshape(-1, d), s.starts, axis=0)
    mu = (RZ[g] - f[:, None] * TZ[g]) / denom[:, None]  # (B·E, d) weighted risk-set means
    grad = (s.w_ev[:, :, None] * Z_ev).sum(axis=1) - (c[:, None] * mu).reshape(B, -1, d).sum(axis=1)
    # Σ_e c_e/denom_e · Σ_{i in risk set} phi_i z_i z_iᵀ, regrouped as one weight per row
    cum = np.zeros((B, s.n_groups + 1))
    cum[s.set_of_group, 1 + s.local_group] = np.add.reduceat(c / denom, s.starts)
    cum = np.cumsum(cum, axis=1)
    row_w = phi * cum[s.rows, s.n_groups_before]
    tie_w = (phi_ev * np.add.reduceat(c * f / denom, s.starts)[g]).reshape(B, -1)
    mu3, c3 = mu.reshape(B, -1, d), c.reshape(B, -1)
    hess = (
        np.matmul((mu3 * c3[:, :, None]).transpose(0, 2, 1), mu3)
        - np.matmul((Zs * row_w[:, :, None]).transpose(0, 2, 1), Zs)
        + np.matmul((Z_ev * tie_w[:, :, None]).transpose(0, 2, 1), Z_ev)
    )
    return loglik, grad, hess


class _EfronStructure(_StackedEfron):
    """The structure of one data set (a stack of one); ``order`` is its 1-D row order."""

    def __init__(self, time: np.ndarray, event: np.ndarray, weight: np.ndarray) -> None:
        super().__init__(np.asarray(time)[None], np.asarray(event)[None], np.asarray(weight)[None])
        self.order = self.order[0]


def _efron(Xs: np.ndarray, s: _StackedEfron, beta: np.ndarray, *, derivatives: bool = True):
    """Efron log-likelihood, gradient and Hessian of one data set (``Xs`` in ``s.order[0]``)."""
    ll, g, h = _stacked_efron(Xs[None], s, np.asarray(beta, dtype=float)[None], derivatives=derivatives)
    return float(ll[0]), (None if g is None else g[0]), (None if h is None else h[0])


def _newton(Zs: np.ndarray, s: _StackedEfron, keep: np.ndarray, pen: float, max_iter: int, tol: float) -> np.ndarray:
    """Maximise each set's ``log PL(b) − pen/2·‖b‖²`` by damped Newton–Raphson; b (B, d).

    Columns outside ``keep`` are zero in ``Zs`` and stay at 0 (a unit curvature keeps their
    Newton system regular when ``pen = 0``). A set stops once its Newton decrement ``gᵀH⁻¹g/2``
    falls below ``tol``, taking that last full step (exact to rounding inside the quadratic
    region); until then step halving keeps its (concave) objective increasing.
    """
    B, _, d = Zs.shape
    b = np.zeros((B, d))
    if d == 0:
        return b
    eye = np.eye(d)
    dropped = np.where(keep, 0.0, 1.0)[:, :, None] * eye
    ll, g, h = _stacked_efron(Zs, s, b)
    obj = ll.copy()
    active = np.ones(B, dtype=bool)
    for _ in range(max_iter):
        g_pen = g - pen * b
        step = solve(pen * eye + dropped - h, g_pen)
        decrement = 0.5 * (g_pen * step).sum(axis=1)
        done = active & (decrement < tol)
        b[done] += step[done]
        active &= ~done & np.isfinite(decrement)
        t = np.ones(B)
        pending = active.copy()
        while pending.any():
            candidate = np.where(pending[:, None], b + t[:, None] * step, b)
            ll, g_new, h_new = _stacked_efron(Zs, s, candidate)
            new_obj = ll - 0.5 * pen * (candidate * candidate).sum(axis=1)
            ok = pending & np.isfinite(new_obj) & (new_obj >= obj - 1e-12 * np.abs(obj))
            b[ok], obj[ok], g[ok], h[ok] = candidate[ok], new_obj[ok], g_new[ok], h_new[ok]
            pending &= ~ok
            t = np.where(pending, 0.5 * t, t)
            stuck = pending & (t < 1e-8)
            active &= ~stuck
            pending &= ~stuck
        if not active.any():
            break
    return b


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
    #: 2: the stacked Newton iteration (same optimum, other rounding)
    version = 2
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
        type(self)._fit_many([self], [(X, time, event, sample_weight)])

    @classmethod
    def _fit_many(cls, models: list["CoxPH"], data: list[tuple]) -> None:
        """One stacked Newton iteration per group of equal shapes, event counts and hyperparameters."""
        groups: dict[tuple, list[int]] = {}
        for i, (m, (X, _, event, _)) in enumerate(zip(models, data, strict=True)):
            key = (X.shape, int(np.count_nonzero(event)), m.penalizer, m.max_iter, m.tol)
            groups.setdefault(key, []).append(i)
        for members in groups.values():
            first = models[members[0]]
            X = np.stack([data[i][0] for i in members])
            time = np.stack([data[i][1] for i in members])
            event = np.stack([data[i][2] for i in members])
            w = np.stack([np.ones(X.shape[1]) if data[i][3] is None else data[i][3] for i in members])
            mean = X.mean(axis=1)
            std = X.std(axis=1, ddof=1)
            # constant columns carry no information (and would divide by zero): coefficient 0
            keep = std > 1e-12 * np.maximum(1.0, np.abs(mean))
            Z = np.where(keep[:, None, :], (X - mean[:, None, :]) / np.where(keep, std, 1.0)[:, None, :], 0.0)
            s = _StackedEfron(time, event, w)
            b = _newton(Z[s.rows, s.order], s, keep, X.shape[1] * first.penalizer, first.max_iter, first.tol)
            coef = np.where(keep, b / np.where(keep, std, 1.0), 0.0)
            for j, i in enumerate(members):
                m = models[i]
                m.mean_, m.coef_ = mean[j], coef[j]
                m.baseline_: BreslowBaseline = breslow_baseline(time[j], event[j], (X[j] - mean[j]) @ coef[j], w[j])

    def predict_log_risk(self, X: np.ndarray) -> np.ndarray:
        """Log partial hazard (x − x̄)·β, the linear predictor centred at the training mean."""
        return (np.asarray(X, dtype=float) - self.mean_) @ self.coef_

    def _predict_survival(self, X, grid):
        return self.baseline_.survival(self.predict_log_risk(X), grid)
