"""The optimisation side of DP-ZO: the budget plan and σ, candidate-set fits, one ZO step.

One step (:func:`zo_step`):

1. Draw ``K`` Gaussian directions of the synthetic parameters from public randomness.
2. Fit the model on ``S + μu_k`` and ``S − μu_k`` with the same model seed (common random numbers).
3. :func:`~dpcondense.methods.dpzo.primitives.privatized_zo_sum` Poisson-samples real rows,
   clips each patient's K two-point loss differences to norm ``C``, sums, adds ``N(0, σ²C²)``.
4. ``grad = (1 / (K q n)) Σ_k G_k u_k``; an Adam (or SGD) step; projection onto the public box.

Everything here is a function of public numbers, public randomness and the synthetic parameters;
real rows enter only inside the privatised primitives.
"""

from __future__ import annotations

import math
import time as _time
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from dpcondense.methods.dpzo.labels import PublicTargets, _soft_rows, _teacher_rows
from dpcondense.methods.dpzo.primitives import ClipMode, PrivateRows, privatized_zo_sum
from dpcondense.models import make_model
from dpcondense.models.base import classification_loss, survival_loss
from dpcondense.privacy import PrivacyLedger, calibrate_noise_multiplier, compute_epsilon, split_budget


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


# ----------------------------------------------------------------------- noise calibration


_CALIBRATION_CACHE: dict[tuple, float] = {}


def _calibrate_cached(epsilon: float, delta: float, q: float, steps: int, accountant: str) -> float:
    """σ calibration is a pure function of public numbers; cache it across runs in a process."""
    key = (float(epsilon), float(delta), float(q), int(steps), accountant)
    if key not in _CALIBRATION_CACHE:
        _CALIBRATION_CACHE[key] = calibrate_noise_multiplier(epsilon, delta, q, steps, accountant=accountant)
    return _CALIBRATION_CACHE[key]


@dataclass
class BudgetPlan:
    """The public numbers of a run, fixed before any real row is read.

    ``init`` and ``teacher`` are the (ε, δ) shares of the ``dp_mean`` start and the label teacher
    (``None`` when unused or when the run is not private); ``sigma`` and ``clip`` drive the steps.
    """

    epsilon: float
    sampling_rate: float
    n: int
    sigma: float
    clip: float
    init: tuple[float, float] | None = None
    teacher: tuple[float, float] | None = None

    @property
    def private(self) -> bool:
        return math.isfinite(self.epsilon)


def plan_budget(
    ledger: PrivacyLedger,
    *,
    epsilon: float,
    delta: float,
    sampling_rate: float,
    n: int,
    steps: int,
    directions: int,
    clip: float,
    accountant: str,
    init: str,
    shares: dict[str, float],
    disable_noise: bool,
) -> BudgetPlan:
    """Split (ε, δ) by ``shares`` (``init`` / ``teacher``; the rest pays for the steps), calibrate σ.

    Records the steps on ``ledger`` (at ε = ∞: no clipping, no noise). ``disable_noise`` is the
    test-only broken mechanism: the ledger still claims the calibrated ε.
    """
    q, T = sampling_rate, steps
    if not math.isfinite(epsilon):
        ledger.spend(
            "dpzo_steps",
            mechanism="none (epsilon=inf: no clipping, no noise)",
            epsilon=math.inf,
            delta=0.0,
            noise_multiplier=0.0,
            sampling_rate=q,
            steps=T,
            accountant=accountant,
            init=init,
        )
        plan = BudgetPlan(epsilon, q, n, sigma=0.0, clip=math.inf)
    else:
        budget = {"steps": (epsilon, delta)}
        if shares:
            budget = split_budget(epsilon, delta, {**shares, "steps": 1.0 - sum(shares.values())})
        eps_steps, delta_steps = budget["steps"]
        sigma = _calibrate_cached(eps_steps, delta_steps, q, T, accountant)
        ledger.spend(
            "dpzo_steps",
            mechanism="poisson_subsampled_gaussian",
            epsilon=compute_epsilon(sigma, q, T, delta_steps, accountant=accountant),
            delta=delta_steps,
            noise_multiplier=sigma,
            sampling_rate=q,
            steps=T,
            accountant=accountant,
            sensitivity=clip,
            clip=clip,
            directions=directions,
        )
        plan = BudgetPlan(
            epsilon, q, n, sigma=sigma, clip=float(clip), init=budget.get("init"), teacher=budget.get("teacher")
        )
    if disable_noise:
        plan.sigma, plan.clip = 0.0, math.inf
    return plan


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

    def _fit_one(self, params: np.ndarray, seed: int, rows: np.ndarray | None = None) -> Any:
        mdl = make_model(self.model, random_state=seed, **(self.model_params or {}))
        if rows is not None:
            params = params[rows]
        if self.label_scale is not None:
            X2, y2, w2 = _soft_rows(params, self.label_scale)
            return mdl.fit(X2, y2, sample_weight=w2)
        if self.teacher is not None:
            X2, y2, w2 = _teacher_rows(params, self.teacher)
            return mdl.fit(X2, y2, sample_weight=w2)
        t = self.targets
        if t.task == "classification":
            return mdl.fit(params, t.y if rows is None else t.y[rows])
        return mdl.fit(params[:, :-1], t.times(params[:, -1]), t.event if rows is None else t.event[rows])


def make_loss_fn(targets: PublicTargets) -> Callable[[Any, np.ndarray, dict[str, np.ndarray]], np.ndarray]:
    """Per-example loss of a fitted model on a batch of (private) rows and their targets."""
    if targets.task == "classification":

        def loss_fn(model, X, t):
            return model.loss(X, t["y"])

    else:
        grid = targets.grid

        def loss_fn(model, X, t):
            return model.loss(X, t["time"], t["event"], grid)

    return loss_fn


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
    plus = [fitter.fit(np.clip(theta + mu * directions[k], lower, upper), int(seeds[k])) for k in range(K)]
    minus = [fitter.fit(np.clip(theta - mu * directions[k], lower, upper), int(seeds[k])) for k in range(K)]
    return plus, minus


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
