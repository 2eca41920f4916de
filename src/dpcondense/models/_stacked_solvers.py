"""Solvers for stacks of independent problems: linear systems and L-BFGS.

:func:`solve` solves a stack of linear systems (the Newton steps of the stacked Cox and logistic
fits). :func:`minimize` is L-BFGS on several independent smooth problems at once (rows of a
stacked parameter array). Each problem keeps its own iterate, correction pairs, line search and stopping state; the
objective is evaluated for all rows together, once per round, so the per-call overhead of small
problems is paid once for all of them. A row's trajectory depends on its own function values and
gradients only, and every array operation computes a row from that row alone (row reductions,
elementwise updates), so a problem solved alone gives bit for bit the result it gets among others.

The method follows SciPy's ``L-BFGS-B`` without bounds (what scikit-learn's ``lbfgs`` solvers
call) in everything but the line search: the same memory of 10 pairs, first step ``1/‖g‖``, unit
steps afterwards, and the same stopping rules (``max|g| ≤ gtol``; relative decrease of the
objective below ``ftol``; ``max_iter`` iterations; ``max_fun`` evaluations). The line search is
Armijo backtracking (halving) rather than Moré–Thuente; a pair that fails the curvature test
``sᵀy > ε·yᵀy`` is not stored, as in L-BFGS-B.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def solve(H: np.ndarray, g: np.ndarray) -> np.ndarray:
    """``H⁻¹g`` for each system of the stack, H (B, P, P) and g (B, P).

    A singular system (collinear columns without a ridge penalty, saturated probabilities) gets
    the least-squares solution; the others are then solved one by one by the same LAPACK call,
    so each system's answer never depends on its neighbours.
    """
    try:
        return np.linalg.solve(H, g[:, :, None])[:, :, 0]
    except np.linalg.LinAlgError:
        out = np.empty_like(g)
        for j in range(len(g)):
            try:
                out[j] = np.linalg.solve(H[j : j + 1], g[j : j + 1, :, None])[0, :, 0]
            except np.linalg.LinAlgError:
                out[j] = np.linalg.lstsq(H[j], g[j], rcond=None)[0]
        return out


#: SciPy's default ``ftol`` (``factr = 1e7`` times the machine epsilon)
FTOL = 1e7 * np.finfo(float).eps
_ARMIJO = 1e-4
_MIN_STEP = 1e-20


class _History:
    """The last ``memory`` correction pairs of every row, in one ring shared by all rows.

    Every round of :func:`minimize` is one iteration of every active row and writes one slot of
    the ring for all rows: the pair of a row that moved and passed the curvature test
    ``sᵀy > ε·yᵀy``, zeros otherwise. A zero slot leaves the two-loop recursion unchanged (to the
    bit), so a row's direction depends on its own pairs only.
    """

    def __init__(self, memory: int, rows: int, size: int) -> None:
        self.S = np.zeros((memory, rows, size))
        self.Y = np.zeros((memory, rows, size))
        self.rho = np.zeros((memory, rows))
        self.scale = np.zeros((memory, rows))  # sᵀy / yᵀy of each stored pair (0: none)
        self.head = -1  # slot of the newest pair
        self.filled = 0

    def push(self, rows: np.ndarray, s: np.ndarray, y: np.ndarray) -> None:
        sy = (s * y).sum(axis=1)
        yy = (y * y).sum(axis=1)
        keep = rows & (sy > np.finfo(float).eps * yy)
        self.head = (self.head + 1) % len(self.S)
        self.filled = min(self.filled + 1, len(self.S))
        np.multiply(s, keep[:, None], out=self.S[self.head])
        np.multiply(y, keep[:, None], out=self.Y[self.head])
        self.rho[self.head] = np.where(keep, 1.0 / np.where(keep, sy, 1.0), 0.0)
        self.scale[self.head] = np.where(keep, sy / np.where(keep, yy, 1.0), 0.0)

    def keep(self, rows: np.ndarray) -> None:
        """Drop the rows outside the boolean mask ``rows``."""
        self.S, self.Y = self.S[:, rows], self.Y[:, rows]
        self.rho, self.scale = self.rho[:, rows], self.scale[:, rows]

    def forget(self, rows: np.ndarray) -> None:
        self.S[:, rows], self.Y[:, rows], self.rho[:, rows], self.scale[:, rows] = 0.0, 0.0, 0.0, 0.0

    def direction(self, g: np.ndarray) -> np.ndarray:
        """``-H g`` by the two-loop recursion, scaled by the newest stored pair of each row."""
        slots = [(self.head - a) % len(self.S) for a in range(self.filled)]  # newest first
        q = g.copy()
        tmp = np.empty_like(g)
        alpha = {}
        gamma = np.ones(len(g))
        for i in reversed(slots):  # the newest stored pair of each row wins
            gamma = np.where(self.scale[i] > 0, self.scale[i], gamma)
        for i in slots:
            alpha[i] = self.rho[i] * np.multiply(self.S[i], q, out=tmp).sum(axis=1)
            q -= np.multiply(self.Y[i], alpha[i][:, None], out=tmp)
        r = np.multiply(q, gamma[:, None], out=q)
        for i in reversed(slots):
            beta = self.rho[i] * np.multiply(self.Y[i], r, out=tmp).sum(axis=1)
            r += np.multiply(self.S[i], (alpha[i] - beta)[:, None], out=tmp)
        return np.negative(r, out=r)


def minimize(
    fun_grad: Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]],
    x0: np.ndarray,
    *,
    max_iter: int,
    gtol: float,
    ftol: float = FTOL,
    max_fun: int = 15000,
    memory: int = 10,
) -> tuple[np.ndarray, np.ndarray]:
    """Minimise each row's objective; returns the final iterates (B, P) and each row's iterations.

    ``fun_grad(x, rows)`` returns the values (k,) and gradients (k, P) of the problems ``rows``
    (indices into the stack) at ``x`` (k, P). Rows that stop leave the working arrays, so late
    rounds cost only what the rows still running need; ``rows`` changes only then.
    """
    x_out = np.array(x0, dtype=float)
    B, P = x_out.shape
    iters_out = np.zeros(B, dtype=int)
    rows = np.arange(B)
    x = x_out.copy()
    f, g = fun_grad(x, rows)
    n_fun, iters = np.ones(B, dtype=int), np.zeros(B, dtype=int)
    history = _History(memory, B, P)
    active = np.isfinite(f) & (np.abs(g).max(axis=1, initial=0.0) > gtol) & (max_iter > 0)
    while True:
        if not active.all():  # retire the rows that stopped
            x_out[rows[~active]], iters_out[rows[~active]] = x[~active], iters[~active]
            rows, x, f, g, n_fun, iters = (a[active] for a in (rows, x, f, g, n_fun, iters))
            history.keep(active)
            active = active[active]
            if not len(rows):
                break
        d = history.direction(g)
        slope = (g * d).sum(axis=1)
        uphill = ~(slope < 0)  # lost descent (rounding): restart from steepest descent
        if uphill.any():
            d[uphill], slope[uphill] = -g[uphill], -(g[uphill] * g[uphill]).sum(axis=1)
            history.forget(uphill)
        first = iters == 0
        t = np.where(first, 1.0 / np.where(first, np.sqrt((d * d).sum(axis=1)), 1.0), 1.0)
        x_new, f_new, g_new, moved = _line_search(fun_grad, rows, x, f, g, d, t, slope, n_fun, max_fun)
        active &= moved
        history.push(moved, x_new - x, g_new - g)
        iters += moved
        small_decrease = (f - f_new) <= ftol * np.maximum(np.maximum(np.abs(f), np.abs(f_new)), 1.0)
        x, f, g = x_new, f_new, g_new
        active &= ~((np.abs(g).max(axis=1) <= gtol) | small_decrease | (iters >= max_iter) | (n_fun >= max_fun))
    return x_out, iters_out


def _line_search(fun_grad, rows, x, f, g, d, t, slope, n_fun, max_fun):
    """Armijo backtracking (halving) from step ``t`` along ``d`` for every row at once.

    Returns the new points, values, gradients and which rows moved (a row that cannot decrease
    its objective, or runs out of evaluations, keeps its point). ``n_fun`` is updated in place.
    After the first trial only the rows still backtracking are evaluated.
    """
    x_new, f_new, g_new = x.copy(), f.copy(), g.copy()
    moved = np.zeros(len(x), dtype=bool)
    pending = np.arange(len(x))
    while len(pending):
        trial = x[pending] + t[pending, None] * d[pending]
        f_try, g_try = fun_grad(trial, rows if len(pending) == len(x) else rows[pending])
        n_fun[pending] += 1
        ok = np.isfinite(f_try) & (f_try <= f[pending] + _ARMIJO * t[pending] * slope[pending])
        done = pending[ok]
        x_new[done], f_new[done], g_new[done] = trial[ok], f_try[ok], g_try[ok]
        moved[done] = True
        pending = pending[~ok]
        t[pending] *= 0.5
        pending = pending[(n_fun[pending] < max_fun) & (t[pending] >= _MIN_STEP)]
    return x_new, f_new, g_new, moved
