"""The optimisation side of DP-ZO: the budget plan and σ, candidate-set fits, one ZO step.

One step (:func:`zo_step`):

1. Draw ``K`` Gaussian directions of the synthetic parameters from public randomness.
2. Fit the model on ``S + μu_k`` and ``S − μu_k`` with the same model seed (common random numbers).
3. :func:`~dpcondense.methods.dpzo.primitives.privatized_zo_sum` Poisson-samples real rows,
   clips each patient's K two-point loss differences to norm ``C``, sums, adds ``N(0, σ²C²)``.
4. ``grad = (1 / (K q n)) Σ_k G_k u_k``; an Adam (or SGD) step; projection onto the public box.

The budget plan (:func:`plan_budget`) gives the ``dp_mean`` start and the label teacher their
shares of (ε, δ) and calibrates the steps' σ: jointly (the default: every mechanism of the run,
prior spends included, composed with privacy loss distributions meets ε) or by basic composition.

Everything here is a function of public numbers, public randomness and the synthetic parameters;
real rows enter only inside the privatised primitives.
"""

from __future__ import annotations

import math
import time as _time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Callable, Literal

import numpy as np

from dpcondense.methods.dpzo.labels import PublicTargets, _soft_rows, _teacher_rows
from dpcondense.methods.dpzo.primitives import ClipMode, PrivateRows, privatized_zo_sum
from dpcondense.methods.dpzo.survival import survival_loss_fn
from dpcondense.models import make_model
from dpcondense.models.base import classification_loss, survival_loss
from dpcondense.privacy import (
    LedgerEntry,
    PrivacyEvent,
    PrivacyLedger,
    PrivacyParameterError,
    calibrate_joint,
    calibrate_noise_multiplier,
    compute_epsilon,
    gaussian_event,
    gaussian_mechanism_sigma,
    split_budget,
    subsampled_gaussian_event,
)


# ------------------------------------------------------------------------------ optimisers


@dataclass
class _Adam:
    lr: float
    beta1: float = 0.9
    beta2: float = 0.999
    eps: float = 1e-8
    m: np.ndarray | None = None
    v: np.ndarray | None = None
    t: int = 0

    def step(self, theta: np.ndarray, grad: np.ndarray) -> np.ndarray:
        if self.m is None:
            self.m = np.zeros_like(theta)
            self.v = np.zeros_like(theta)
        self.t += 1
        self.m = self.beta1 * self.m + (1 - self.beta1) * grad
        self.v = self.beta2 * self.v + (1 - self.beta2) * grad**2
        mhat = self.m / (1 - self.beta1**self.t)
        vhat = self.v / (1 - self.beta2**self.t)
        return theta - self.lr * mhat / (np.sqrt(vhat) + self.eps)


@dataclass
class _SGD:
    lr: float

    def step(self, theta: np.ndarray, grad: np.ndarray) -> np.ndarray:
        return theta - self.lr * grad


def make_optimiser(name: str, lr: float) -> _Adam | _SGD:
    """``"adam"`` or ``"sgd"`` with learning rate ``lr``."""
    return _Adam(lr) if name == "adam" else _SGD(lr)


# ----------------------------------------------------------------------- the budget plan

#: how the run's mechanisms share (ε, δ): "joint" composes them with privacy loss distributions
#: (the steps get what the others leave); "split" adds their ε's (basic composition)
ACCOUNTING_MODES: tuple[str, ...] = ("joint", "split")
#: step size over the steps (:func:`learning_rate`)
LR_SCHEDULES: tuple[str, ...] = ("constant", "cosine")
Accounting = Literal["joint", "split"]

_CALIBRATION_CACHE: dict[tuple, float] = {}


def _calibrate_cached(epsilon: float, delta: float, q: float, steps: int, accountant: str) -> float:
    """σ calibration is a pure function of public numbers; cache it across runs in a process."""
    key = (float(epsilon), float(delta), float(q), int(steps), accountant)
    if key not in _CALIBRATION_CACHE:
        _CALIBRATION_CACHE[key] = calibrate_noise_multiplier(epsilon, delta, q, steps, accountant=accountant)
    return _CALIBRATION_CACHE[key]


def _calibrate_joint_cached(
    fixed: tuple[PrivacyEvent, ...], delta: float, epsilon: float, q: float, steps: int, accountant: str
) -> float:
    """The steps' σ that brings ``fixed`` plus the steps to ε at δ (public numbers; cached)."""
    key = ("joint", fixed, float(delta), float(epsilon), float(q), int(steps), accountant)
    if key not in _CALIBRATION_CACHE:
        _CALIBRATION_CACHE[key] = calibrate_joint(
            fixed, delta, epsilon, sampling_rate=q, steps=steps, accountant=accountant
        ).noise_multiplier
    return _CALIBRATION_CACHE[key]


@dataclass
class BudgetPlan:
    """The public numbers of a run, fixed before any real row is read.

    ``init`` and ``teacher`` are the (ε, δ) shares of the ``dp_mean`` start and the label teacher
    (``None`` when unused or when the run is not private); ``sigma`` and ``clip`` drive the steps,
    whose ledger entry carries δ ``steps_delta``.
    """

    epsilon: float
    sampling_rate: float
    n: int
    sigma: float
    clip: float
    init: tuple[float, float] | None = None
    teacher: tuple[float, float] | None = None
    steps_delta: float = 0.0

    @property
    def private(self) -> bool:
        return math.isfinite(self.epsilon)


def open_ledger(
    epsilon: float, delta: float, *, n: int, accounting: str, prior: Sequence[LedgerEntry] = ()
) -> PrivacyLedger:
    """The run's ledger, starting with the ``prior`` spends made on the same rows before the method.

    ``accounting="joint"`` (private runs) composes the entries' events jointly (``"pld"``); else
    the entries' ε's add up.
    """
    composition = "pld" if accounting == "joint" and math.isfinite(epsilon) else "basic"
    blind = [e.purpose for e in prior if e.event is None]
    if composition == "pld" and blind:
        raise PrivacyParameterError(
            f"prior spends {blind} carry no event: accounting='joint' composes every mechanism of the run, so "
            "each needs its event (e.g. pure_event(epsilon) for a discrete Laplace count); or set accounting='split'"
        )
    ledger = PrivacyLedger(epsilon, delta, n_public=n, composition=composition)
    for e in prior:
        ledger.record(e)
    return ledger


def _shares(
    epsilon: float, delta: float, prior: Sequence[LedgerEntry], shares: dict[str, float]
) -> dict[str, tuple[float, float]]:
    """(ε, δ) of each share of what the prior spends leave (their ε's and δ's subtracted); the rest → steps."""
    eps_left = epsilon - math.fsum(e.epsilon for e in prior)
    delta_left = delta - math.fsum(e.delta for e in prior)
    if not (eps_left > 0 and delta_left > 0):
        raise PrivacyParameterError(
            f"the prior spends (epsilon={epsilon - eps_left:g}, delta={delta - delta_left:g}) leave nothing of the "
            f"run's budget (epsilon={epsilon:g}, delta={delta:g})"
        )
    if not shares:
        return {"steps": (eps_left, delta_left)}
    return split_budget(eps_left, delta_left, {**shares, "steps": 1.0 - sum(shares.values())})


def gaussian_multiplier(epsilon: float, delta: float, sensitivity: float) -> float:
    """Noise std / sensitivity of an (ε, δ) analytic Gaussian release, as its mechanism computes it."""
    return gaussian_mechanism_sigma(epsilon, delta, sensitivity) / sensitivity


def plan_budget(
    *,
    epsilon: float,
    delta: float,
    sampling_rate: float,
    n: int,
    steps: int,
    clip: float,
    accountant: str,
    accounting: str,
    shares: dict[str, float],
    sensitivities: dict[str, float],
    prior: Sequence[LedgerEntry] = (),
) -> BudgetPlan:
    """Share (ε, δ) between the one-shot releases and the steps; calibrate the steps' σ.

    Each of ``shares`` (``init`` / ``teacher``) gets its share of what ``prior`` leaves, and its
    Gaussian noise is calibrated from it alone. ``accounting="split"`` gives the steps the rest
    (basic composition). ``"joint"`` calibrates the steps' σ so that the prior events, those
    releases (:func:`gaussian_multiplier` at ``sensitivities``) and the T steps compose to ε at
    the run's δ (the sum of every entry's δ): the steps get what the others leave.
    """
    q = sampling_rate
    if not math.isfinite(epsilon):
        return BudgetPlan(epsilon, q, n, sigma=0.0, clip=math.inf)
    budget = _shares(epsilon, delta, prior, shares)
    eps_steps, delta_steps = budget["steps"]
    if accounting == "split":
        sigma = _calibrate_cached(eps_steps, delta_steps, q, steps, accountant)
    else:
        releases = tuple(gaussian_event(gaussian_multiplier(*budget[k], sensitivities[k])) for k in shares)
        fixed = tuple(e.event for e in prior) + releases  # the ledger's order
        run_delta = math.fsum([*(e.delta for e in prior), *(d for _, d in budget.values())])
        sigma = _calibrate_joint_cached(fixed, run_delta, epsilon, q, steps, accountant)  # type: ignore[arg-type]
    return BudgetPlan(
        epsilon, q, n, sigma=sigma, clip=float(clip), init=budget.get("init"), teacher=budget.get("teacher"),
        steps_delta=delta_steps,
    )


def record_steps(
    ledger: PrivacyLedger, plan: BudgetPlan, *, steps: int, directions: int, accountant: str, init: str
) -> None:
    """Record the T steps on ``ledger`` (at ε = ∞: no clipping, no noise).

    The entry's ε is the steps' own at their δ share; the run's ε is the ledger's composition.
    """
    q = plan.sampling_rate
    if not plan.private:
        ledger.spend(
            "dpzo_steps",
            mechanism="none (epsilon=inf: no clipping, no noise)",
            epsilon=math.inf,
            delta=0.0,
            noise_multiplier=0.0,
            sampling_rate=q,
            steps=steps,
            accountant=accountant,
            init=init,
        )
        return
    ledger.spend(
        "dpzo_steps",
        mechanism="poisson_subsampled_gaussian",
        epsilon=compute_epsilon(plan.sigma, q, steps, plan.steps_delta, accountant=accountant),
        delta=plan.steps_delta,
        noise_multiplier=plan.sigma,
        sampling_rate=q,
        steps=steps,
        accountant=accountant,
        sensitivity=plan.clip,
        clip=plan.clip,
        directions=directions,
        event=subsampled_gaussian_event(plan.sigma, q, steps),
    )


# ------------------------------------------------------------------- candidate-set fitting


class _Bagged:
    """Average of models fitted on public bootstrap resamples of the synthetic rows.

    Smooths the piecewise-constant loss of trees: averaged predictions are graded, so two-point
    differences carry signal more often. The resamples come from public randomness and are
    shared between the + and − fits (common random numbers).
    """

    def __init__(self, models: list, task: str) -> None:
        self.models = models
        self.task = task

    def loss(self, X, *targets):
        if self.task == "classification":
            p = np.mean([m.predict_proba(X)[:, 1] for m in self.models], axis=0)
            return classification_loss(p, targets[0])
        time, event, grid = targets
        s = np.mean([m.predict_survival(X, grid) for m in self.models], axis=0)
        return survival_loss(s, time, event, grid)


def _stratified_bootstrap(rng: np.random.Generator, strata: np.ndarray) -> np.ndarray:
    """Bootstrap indices drawn within each stratum (keeps both classes in every bag)."""
    out = [rng.choice(np.flatnonzero(strata == c), (strata == c).sum(), replace=True) for c in np.unique(strata)]
    return np.sort(np.concatenate(out))


@dataclass
class CandidateFitter:
    """Fits the condensing model on a candidate synthetic set given as parameters.

    ``label_scale`` is set for soft labels, ``teacher`` for teacher labels; ``n_bags > 1``
    averages fits on stratified public bootstraps (:class:`_Bagged`).
    """

    model: str
    model_params: dict[str, Any] | None
    targets: PublicTargets
    n_bags: int = 1
    label_scale: float | None = None
    teacher: Any = None

    def fit(self, params: np.ndarray, seed: int) -> Any:
        """The model (or bag of models) for ``params``; ``seed`` is shared by the ± pair."""
        if self.n_bags == 1:
            return self._fit_one(params, seed)
        bag_rng = np.random.default_rng(seed)  # public; same for the + and − fits
        strata = self.targets.strata
        return _Bagged(
            [self._fit_one(params, seed + b, _stratified_bootstrap(bag_rng, strata)) for b in range(self.n_bags)],
            self.targets.task,
        )

    def fit_many(self, candidates: list[np.ndarray], seeds: list[int]) -> list:
        """Models for several candidate sets, fitted together where the family vectorises."""
        if self.n_bags != 1:
            return [self.fit(p, s) for p, s in zip(candidates, seeds, strict=True)]
        models = [make_model(self.model, random_state=int(s), **(self.model_params or {})) for s in seeds]
        data = [self._training_rows(p) for p in candidates]
        type(models[0]).fit_many(models, data)
        if self.targets.task == "survival":
            for mdl, (X, times, event, _) in zip(models, data):
                mdl.synthetic_ = (X, times, event)  # the candidate set itself, for the ranking loss
        return models

    def _training_rows(self, params: np.ndarray, rows: np.ndarray | None = None) -> tuple:
        """The rows a candidate's model is fitted on: ``(X, y, w)`` or ``(X, time, event, None)``."""
        if rows is not None:
            params = params[rows]
        if self.label_scale is not None:
            return _soft_rows(params, self.label_scale)
        if self.teacher is not None:
            return _teacher_rows(params, self.teacher)
        t = self.targets
        if t.task == "classification":
            return params, t.y if rows is None else t.y[rows], None
        event = t.event if rows is None else t.event[rows]
        return params[:, :-1], t.times(params[:, -1]), event, None

    def _fit_one(self, params: np.ndarray, seed: int, rows: np.ndarray | None = None) -> Any:
        mdl = make_model(self.model, random_state=seed, **(self.model_params or {}))
        data = self._training_rows(params, rows)
        mdl.fit(*data)
        if self.targets.task == "survival":
            mdl.synthetic_ = data[:3]  # the candidate set itself, for the ranking loss
        return mdl


def make_loss_fn(
    targets: PublicTargets, survival: str = "curve_nll", rank_weight: float = 1.0, rank_temperature: float = 0.5
) -> Callable[[Any, np.ndarray, dict[str, np.ndarray]], np.ndarray]:
    """Per-example loss of a fitted model on a batch of (private) rows and their targets.

    Survival: the curve NLL, the ranking loss or both (:mod:`~dpcondense.methods.dpzo.survival`).
    """
    if targets.task == "classification":

        def loss_fn(model, X, t):
            return model.loss(X, t["y"])

        return loss_fn
    return survival_loss_fn(survival, targets.grid, rank_weight, rank_temperature)


def learning_rate(base: float, schedule: str, step: int, steps: int) -> float:
    """Step size at ``step`` (0-based): constant, or cosine decay from ``base`` to ``base / 10``."""
    if schedule == "constant" or steps <= 1:
        return base
    return base * (0.1 + 0.9 * 0.5 * (1.0 + math.cos(math.pi * step / (steps - 1))))


def perturbed_fits(
    fitter: CandidateFitter,
    theta: np.ndarray,
    directions: np.ndarray,
    seeds: np.ndarray,
    mu: float,
    lower: np.ndarray,
    upper: np.ndarray,
) -> tuple[list, list]:
    """Models fitted at ``θ + μu_k`` and ``θ − μu_k`` (projected onto the box), seed ``k`` for both."""
    K = len(directions)
    candidates = [np.clip(theta + mu * directions[k], lower, upper) for k in range(K)]
    candidates += [np.clip(theta - mu * directions[k], lower, upper) for k in range(K)]
    fitted = fitter.fit_many(candidates, [int(seeds[k]) for k in range(K)] * 2)
    return fitted[:K], fitted[K:]


# ------------------------------------------------------------------------------- one step


@dataclass
class ZORun:
    """What every ZO step of one fit uses (the parameters θ themselves are passed along)."""

    plan: BudgetPlan
    private: PrivateRows
    fitter: CandidateFitter
    loss_fn: Callable[[Any, np.ndarray, dict[str, np.ndarray]], np.ndarray]
    optimiser: _Adam | _SGD
    lower: np.ndarray
    upper: np.ndarray
    stratum_weights: np.ndarray | None
    rng_public: np.random.Generator
    rng_sample: np.random.Generator
    rng_noise: np.random.Generator
    directions: int
    mu: float
    clip_mode: ClipMode = "vector"
    objective_weight: float = 0.0
    objective: list[float] = field(default_factory=list)
    step_seconds: list[float] = field(default_factory=list)
    n_model_fits: int = 0

    @property
    def expected_batch(self) -> float:
        return self.plan.sampling_rate * self.plan.n


def zo_step(run: ZORun, theta: np.ndarray) -> np.ndarray:
    """One ZO step from ``theta``: returns the new parameters and records the step on ``run``."""
    t0 = _time.perf_counter()
    K, mu = run.directions, run.mu
    U = run.rng_public.standard_normal((K, *theta.shape))
    seeds = run.rng_public.integers(0, 2**31 - 1, size=K)
    plus, minus = perturbed_fits(run.fitter, theta, U, seeds, mu, run.lower, run.upper)
    run.n_model_fits += 2 * K * run.fitter.n_bags
    G = privatized_zo_sum(
        run.private,
        run.loss_fn,
        plus,
        minus,
        mu=mu,
        clip=run.plan.clip,
        noise_multiplier=run.plan.sigma,
        sampling_rate=run.plan.sampling_rate,
        sample_rng=run.rng_sample,
        noise_rng=run.rng_noise,
        clip_mode=run.clip_mode,
        objective_weight=run.objective_weight,
        stratum_weights=run.stratum_weights,
    )
    grad = np.tensordot(G[:K], U, axes=(0, 0)) / (K * run.expected_batch)
    theta = np.clip(run.optimiser.step(theta, grad), run.lower, run.upper)
    if run.objective_weight > 0:
        run.objective.append(float(G[K] / (run.objective_weight * run.expected_batch)))
    run.step_seconds.append(_time.perf_counter() - t0)
    return theta
