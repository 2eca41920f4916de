"""Breslow baseline hazard shared by every proportional-hazards family (Cox, boosted Cox, DeepSurv).

Each of them learns a log-risk score η(x); the survival curve is
Ŝ(t | x) = exp(−H0(t) · exp(η(x))) with the Breslow estimate
H0(t) = Σ_{event times u ≤ t} d(u) / Σ_{i: t_i ≥ u} w_i exp(η_i).
Everything is kept in log space so extreme scores give 0/1 curves instead of inf/nan.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class BreslowBaseline:
    """Cumulative baseline hazard at the distinct event times, stored as its logarithm.

    ``log_cumhaz[k] = log H0(event_times[k])`` for the scores the baseline was fitted with.
    """

    event_times: np.ndarray
    log_cumhaz: np.ndarray

    def survival(self, log_risk: np.ndarray, grid: np.ndarray) -> np.ndarray:
        """Ŝ(g | x) = exp(−H0(g) exp(η(x))) on ``grid``, shape (len(log_risk), len(grid))."""
        idx = np.searchsorted(self.event_times, np.asarray(grid, dtype=float), side="right")
        # before the first event time H0 = 0, i.e. log H0 = -inf
        log_h0 = np.concatenate([[-np.inf], self.log_cumhaz])[idx]
        eta = np.nan_to_num(np.asarray(log_risk, dtype=float).ravel(), nan=0.0, posinf=700.0, neginf=-700.0)
        log_h = np.minimum(log_h0[None, :] + eta[:, None], 700.0)
        return np.exp(-np.exp(log_h))


def breslow_baseline(
    time: np.ndarray, event: np.ndarray, log_risk: np.ndarray, weight: np.ndarray | None = None
) -> BreslowBaseline:
    """Fit the Breslow cumulative baseline hazard for the scores ``log_risk`` (η of each row).

    Tied event times share one denominator (the whole risk set), as in lifelines and pycox.
    """
    time = np.asarray(time, dtype=float)
    event = np.asarray(event).astype(bool)
    eta = np.asarray(log_risk, dtype=float).ravel()
    w = np.ones_like(time) if weight is None else np.asarray(weight, dtype=float)
    eta = np.nan_to_num(eta, nan=0.0, posinf=700.0, neginf=-700.0)
    shift = eta.max() if len(eta) else 0.0
    order = np.argsort(time, kind="stable")
    t_sorted = time[order]
    risk_sorted = w[order] * np.exp(eta[order] - shift)
    at_risk = np.cumsum(risk_sorted[::-1])[::-1]  # Σ over rows with time ≥ t_sorted[i]
    event_times = np.unique(time[event])
    if len(event_times) == 0:
        return BreslowBaseline(np.zeros(0), np.zeros(0))
    ev_order = np.argsort(time[event], kind="stable")
    ev_t = time[event][ev_order]
    ev_w = w[event][ev_order]
    starts = np.searchsorted(ev_t, event_times, side="left")
    deaths = np.add.reduceat(ev_w, starts)
    denom = at_risk[np.searchsorted(t_sorted, event_times, side="left")]
    with np.errstate(divide="ignore"):
        # hazard increments in the shifted scale; H0_true = H0_shifted * exp(-shift)
        cumhaz = np.cumsum(deaths / denom)
        log_cumhaz = np.log(cumhaz) - shift
    return BreslowBaseline(event_times, log_cumhaz)
