"""Survival options of DP-ZO: a start that carries the covariate–time relationship, and a ranking loss.

**Time-stratified start** (``time_bins = B > 0`` with ``init="dp_mean"``). The plain ``dp_mean``
start releases one covariate mean per event stratum, so every synthetic event starts from the same
point with a uniform random time: the start holds no relation between covariates and time, and a
Cox model fitted on it ranks at random. Here each real patient falls in one stratum of a public
partition of its own outcome — stratum 0 the censored patients, stratum ``1 + b`` the events whose
time lies in bin ``b`` of ``B`` equal-width bins of the public log-time scale (the scale the
synthetic time column lives on). The per-stratum sums and counts are released by the same Gaussian
mechanism as the plain start (:func:`~dpcondense.methods.dpzo.primitives.privatized_class_means`;
each patient is in exactly one stratum, so the sensitivity is unchanged). Post-processing: the
synthetic events are allocated to the time bins in proportion to the noisy event counts, each
starts at its bin's noisy mean plus public noise, with a time drawn uniformly inside its bin;
synthetic censored rows (``event_policy="fraction"``) start at the censored mean with a uniform time.
Early-event rows then carry the covariates of early events: the start already ranks.

**Shrinking the bin means** (``time_shrinkage="empirical_bayes"``, post-processing). Equal-width
bins of the log-time scale hold few events early on, and their noisy means can be mostly noise
(flchain at ε = 1: 70–200 events in the first bins, a per-coordinate noise std of 0.2–0.7 against
gaps of 0.05–0.2 between the bins' true means), so a start built on them can rank backwards. Each
bin mean is pulled towards the count-weighted pooled event mean by the factor
``λ_b = τ² / (τ² + v_b)``: ``v_b = (σ / n_b)²`` is the noise variance of bin b's mean per
coordinate (σ of the release, n_b its noisy count — both released) and ``τ²`` the spread of the
true means between bins, estimated from the same released values (method of moments weighted by
the bins' precision n_b², floored at 0; one τ² for all coordinates — per-coordinate estimates from
five bins were worse on validation splits). Without noise (ε = ∞) ``λ_b = 1`` and the start is the plain stratified one; where the noise
dominates, every event starts at the pooled mean.

**Ranking loss** (``survival_loss``). The default per-patient loss is the survival-curve NLL on the
public grid (calibration). ``concordance`` is each real patient's smoothed discordance against the
synthetic rows under the model fitted on them: with risks standardised by the synthetic rows' own
mean and spread (public), an event at ``t_i`` is compared with every synthetic row whose time is
later (it should be riskier than them), a patient censored at ``t_i`` with every synthetic event
before ``t_i`` (it should be less risky); the loss is the mean of ``sigmoid((r_worse − r_better) /
τ)`` over those pairs, in [0, 1] (0 without a comparable pair). ``mixed`` adds it, weighted by
``rank_weight``, to the curve NLL. Either is a per-patient term of the privatised sum, so the
privacy argument of the steps is unchanged.
"""

from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np

from dpcondense.methods._baseline import allocate
from dpcondense.methods.dpzo.labels import PublicTargets

SURVIVAL_LOSSES: tuple[str, ...] = ("curve_nll", "concordance", "mixed")
TIME_SHRINKAGES: tuple[str, ...] = ("none", "empirical_bayes")


def time_unit(time: np.ndarray, log_lo: float, log_hi: float) -> np.ndarray:
    """Times on the public log-time scale ``[log_lo, log_hi] → [-1, 1]`` (clipped)."""
    t = np.log(np.maximum(np.asarray(time, dtype=float), 1e-300))
    return np.clip(2.0 * (t - log_lo) / (log_hi - log_lo) - 1.0, -1.0, 1.0)


def time_bin(unit: np.ndarray, n_bins: int) -> np.ndarray:
    """Bin index in ``range(n_bins)`` of a unit-scale time (equal-width bins of [-1, 1])."""
    return np.clip(np.floor((np.asarray(unit) + 1.0) / 2.0 * n_bins), 0, n_bins - 1).astype(np.int64)


def time_strata(n_bins: int, log_lo: float, log_hi: float) -> Callable[[dict[str, np.ndarray]], np.ndarray]:
    """The public stratum map of a patient's own outcome: 0 = censored, ``1 + b`` = event in time bin b."""

    def strata_of(targets: dict[str, np.ndarray]) -> np.ndarray:
        event = np.asarray(targets["event"]).astype(bool)
        b = time_bin(time_unit(targets["time"], log_lo, log_hi), n_bins)
        return np.where(event, 1 + b, 0)

    return strata_of


def shrink_bin_means(means: np.ndarray, counts: np.ndarray, sigma: float) -> tuple[np.ndarray, np.ndarray]:
    """Event-bin means shrunk towards their pooled mean (empirical Bayes); returns (means, λ per bin).

    ``means`` has the censored stratum's row first, then one row per event bin; ``counts`` the
    noisy counts (floored at 1) and ``sigma`` the noise std of the released sums. Reads released
    values only.
    """
    out = np.array(means, dtype=float, copy=True)
    events = out[1:]
    n = np.maximum(np.asarray(counts, dtype=float)[1:], 1.0)
    pooled = (events * n[:, None]).sum(axis=0) / n.sum()
    noise_var = (float(sigma) / n) ** 2
    gap = ((events - pooled) ** 2).mean(axis=1)
    precision = n**2  # ∝ 1 / noise_var: a tiny bin's huge noise variance must not swamp the estimate
    tau2 = max(0.0, float(np.sum(precision * (gap - noise_var)) / precision.sum()))
    total = tau2 + noise_var
    lam = np.divide(tau2, total, out=np.ones_like(total), where=total > 0)
    out[1:] = events - (1.0 - lam)[:, None] * (events - pooled)  # exactly the released means where λ = 1
    return out, lam


def stratified_start(
    means: np.ndarray,
    counts: np.ndarray,
    targets: PublicTargets,
    n_bins: int,
    spread: float,
    rng: np.random.Generator,
) -> np.ndarray:
    """Start parameters (features + unit time column) from the released stratum means and counts.

    ``means`` has ``1 + n_bins`` rows (censored, then the event bins); ``counts`` the noisy counts.
    Only released values and public randomness are used.
    """
    m, d = len(targets.event), means.shape[1]
    theta = np.empty((m, d + 1))
    events = np.flatnonzero(targets.event == 1)
    censored = np.flatnonzero(targets.event == 0)
    per_bin = allocate(len(events), np.asarray(counts[1:], dtype=float), at_least_one=False)
    bins = np.repeat(np.arange(n_bins), per_bin)
    width = 2.0 / n_bins
    theta[events, :d] = means[1 + bins]
    theta[events, d] = -1.0 + width * (bins + rng.random(len(events)))
    theta[censored, :d] = means[0]
    theta[censored, d] = rng.uniform(-1.0, 1.0, size=len(censored))
    theta[:, :d] += rng.normal(0.0, spread, size=(m, d))
    return theta


def _standardised(real: np.ndarray, synthetic: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    centre, scale = float(np.mean(synthetic)), float(np.std(synthetic))
    scale = scale if scale > 1e-12 else 1.0
    return (real - centre) / scale, (synthetic - centre) / scale


def concordance_loss(
    model: Any, X: np.ndarray, time: np.ndarray, event: np.ndarray, grid: np.ndarray, temperature: float
) -> np.ndarray:
    """Per-patient smoothed discordance against the synthetic rows the model was fitted on, in [0, 1]."""
    Xs, ts, es = model.synthetic_
    r_real, r_syn = _standardised(model.predict_risk(X, grid), model.predict_risk(Xs, grid))
    time = np.asarray(time, dtype=float)
    event = np.asarray(event).astype(bool)
    # event i vs synthetic j surviving longer: discordant when r_j > r_i
    later = ts[None, :] > time[:, None]
    # censored i vs synthetic event j before t_i: discordant when r_i > r_j
    earlier = (ts[None, :] < time[:, None]) & (es[None, :] == 1)
    diff = np.where(event[:, None], r_syn[None, :] - r_real[:, None], r_real[:, None] - r_syn[None, :])
    pairs = np.where(event[:, None], later, earlier)
    soft = 1.0 / (1.0 + np.exp(-np.clip(diff / temperature, -50.0, 50.0)))
    n_pairs = pairs.sum(axis=1)
    return np.where(n_pairs > 0, (soft * pairs).sum(axis=1) / np.maximum(n_pairs, 1), 0.0)


def survival_loss_fn(
    kind: str, grid: np.ndarray, rank_weight: float, temperature: float
) -> Callable[[Any, np.ndarray, dict[str, np.ndarray]], np.ndarray]:
    """The per-patient survival loss of the steps: curve NLL, concordance, or their weighted sum."""

    def loss_fn(model, X, t):
        if kind == "curve_nll":
            return model.loss(X, t["time"], t["event"], grid)
        rank = concordance_loss(model, X, t["time"], t["event"], grid, temperature)
        if kind == "concordance":
            return rank
        return model.loss(X, t["time"], t["event"], grid) + rank_weight * rank

    return loss_fn


def tail_average_start(steps: int, fraction: float) -> int:
    """First step (0-based) of the averaged tail: the last ``ceil(fraction · steps)`` iterates."""
    return steps - max(1, math.ceil(fraction * steps)) if fraction > 0 else steps
