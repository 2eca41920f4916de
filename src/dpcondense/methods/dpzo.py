"""DP-ZO condensation (DESIGN.md §1): zeroth-order optimisation of synthetic rows, privatised per patient.

One step:

1. Poisson-sample a batch of real rows (rate ``q``).
2. Draw ``K`` Gaussian directions of the synthetic parameters from public randomness.
3. Fit the model on ``S + μu_k`` and ``S − μu_k`` with the same model seed (common random numbers).
4. Inside :func:`privatized_zo_sum` — the only code that reads real rows — compute each patient's
   K two-point loss differences, clip the vector to norm ``C``, sum, add ``N(0, σ²C²)``.
5. ``grad = (1 / (K q n)) Σ_k G_k u_k``; an Adam (or SGD) step; projection onto the public domain.

Privacy: each step is a Poisson-subsampled Gaussian mechanism with L2 sensitivity ``C`` on the
sum of clipped per-example vectors (add/remove-one adjacency); everything else — directions,
initial rows, model seeds, the fits themselves, the optimiser — is post-processing of public
randomness and previous noisy outputs. σ is calibrated so that T composed steps meet (ε, δ).
"""

from __future__ import annotations

import math
import time as _time
from dataclasses import dataclass, field
from typing import Any, Callable, Literal

import numpy as np

from dpcondense.data import Dataset
from dpcondense.methods.base import CondensationMethod, SyntheticSet, balanced_labels, register_method
from dpcondense.models import make_model
from dpcondense.models.base import MODELS, P_MIN
from dpcondense.privacy import (
    PrivacyLedger,
    PrivacyParameterError,
    calibrate_noise_multiplier,
    compute_epsilon,
    gaussian_mechanism_sigma,
    split_budget,
    validate_privacy_params,
)

ClipMode = Literal["vector", "coordinate"]

#: Upper bound of every per-example loss (probabilities are clipped at P_MIN).
LOSS_MAX = -math.log(P_MIN)
#: soft labels: bound of the learned label logits (label probabilities stay in [0.018, 0.982])
LOGIT_BOUND = 4.0


class PrivateRows:
    """The private training rows. Only :func:`privatized_zo_sum` reads them (via :meth:`poisson_batch`).

    The dataset is encoded lazily on the first batch, so no code path outside the privatised
    function touches a real row.
    """

    def __init__(self, dataset: Dataset) -> None:
        self._dataset = dataset
        self._cache: tuple[np.ndarray, dict[str, np.ndarray]] | None = None

    def _arrays(self) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        if self._cache is None:
            ds = self._dataset
            if ds.task == "classification":
                targets = {"y": np.asarray(ds.y)}
            else:
                targets = {"time": np.asarray(ds.time), "event": np.asarray(ds.event)}
            self._cache = (ds.encoded(), targets)
        return self._cache

    def poisson_batch(self, sampling_rate: float, rng: np.random.Generator) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """Each row independently with probability ``sampling_rate``."""
        X, targets = self._arrays()
        mask = rng.random(len(X)) < sampling_rate
        return X[mask], {k: v[mask] for k, v in targets.items()}


def clipped_sum(
    per_example: np.ndarray, clip: float, mode: ClipMode = "vector", weights: np.ndarray | None = None
) -> np.ndarray:
    """Sum of per-example vectors after clipping each to L2 norm ``clip`` (sensitivity ``clip``).

    ``mode="coordinate"`` clips each coordinate to ``clip/√K`` instead, which also bounds the
    per-example L2 norm by ``clip``. ``weights`` (public, each in [0, 1]) scale the clipped
    vectors, so the sensitivity stays ``clip``.
    """
    if per_example.size == 0:
        return np.zeros(per_example.shape[1])
    if weights is not None:
        if np.any(weights < 0) or np.any(weights > 1):
            raise ValueError("per-example weights must lie in [0, 1] to keep the sensitivity at clip")
    else:
        weights = np.ones(len(per_example))
    if not np.isfinite(clip):
        return (per_example * weights[:, None]).sum(axis=0)
    if mode == "coordinate":
        bound = clip / math.sqrt(per_example.shape[1])
        return (np.clip(per_example, -bound, bound) * weights[:, None]).sum(axis=0)
    norms = np.linalg.norm(per_example, axis=1)
    scale = np.minimum(1.0, clip / np.maximum(norms, 1e-300)) * weights
    return (per_example * scale[:, None]).sum(axis=0)


def per_example_vectors(
    loss_fn: Callable[[Any, np.ndarray, dict[str, np.ndarray]], np.ndarray],
    models_plus: list,
    models_minus: list,
    X: np.ndarray,
    targets: dict[str, np.ndarray],
    mu: float,
    objective_weight: float,
) -> np.ndarray:
    """Per-example two-point differences g_ik (and the weighted objective coordinate)."""
    K = len(models_plus)
    cols = []
    level = np.zeros(len(X))
    for mp, mm in zip(models_plus, models_minus):
        lp = loss_fn(mp, X, targets)
        lm = loss_fn(mm, X, targets)
        cols.append((lp - lm) / (2.0 * mu))
        level += (lp + lm) / (2.0 * K)
    if objective_weight > 0:
        cols.append(objective_weight * level)
    return np.column_stack(cols) if cols else np.zeros((len(X), 0))


def privatized_zo_sum(
    private: PrivateRows,
    loss_fn: Callable,
    models_plus: list,
    models_minus: list,
    *,
    mu: float,
    clip: float,
    noise_multiplier: float,
    sampling_rate: float,
    sample_rng: np.random.Generator,
    noise_rng: np.random.Generator,
    clip_mode: ClipMode = "vector",
    objective_weight: float = 0.0,
    stratum_weights: np.ndarray | None = None,
) -> np.ndarray:
    """The only function that reads real rows: returns ``Σ_i clip(v_i) + N(0, σ²C²I)``.

    ``v_i`` holds patient i's K two-point loss differences and, if ``objective_weight > 0``, a
    weighted mean loss used for the private objective estimate. ``stratum_weights`` (public
    numbers in [0, 1], one per class or event stratum) scale each clipped vector — a class-balanced
    loss whose sensitivity stays ``C``. Nothing else leaves.
    """
    X, targets = private.poisson_batch(sampling_rate, sample_rng)
    vectors = per_example_vectors(loss_fn, models_plus, models_minus, X, targets, mu, objective_weight)
    strata = targets["y"] if "y" in targets else targets["event"]
    weights = None if stratum_weights is None else np.asarray(stratum_weights, dtype=float)[strata]
    if objective_weight > 0 and np.isfinite(clip):
        # split the clip so the objective coordinate is never clipped (an unbiased estimate)
        # while the joint vector keeps norm <= clip: c_grad^2 + c_obj^2 = clip^2
        c_obj = min(objective_weight * LOSS_MAX, clip / 2.0)
        c_grad = math.sqrt(clip**2 - c_obj**2)
        total = np.concatenate([
            clipped_sum(vectors[:, :-1], c_grad, clip_mode, weights),
            clipped_sum(vectors[:, -1:], c_obj, "vector", weights),
        ])
    else:
        total = clipped_sum(vectors, clip, clip_mode, weights)
    if noise_multiplier > 0:
        total = total + noise_rng.normal(0.0, noise_multiplier * clip, size=total.shape)
    return total


def privatized_class_means(
    private: PrivateRows,
    lower: np.ndarray,
    upper: np.ndarray,
    *,
    epsilon: float,
    delta: float,
    noise_rng: np.random.Generator,
    row_clip: float = 1.0,
) -> tuple[np.ndarray, np.ndarray, float, float]:
    """Gaussian-mechanism release of per-stratum sums and counts of model-space rows.

    Strata are the classes (classification) or the event indicator (survival). Each row is
    clipped to the public box, whose largest norm is ``R0 = ||max(|lower|, |upper|)||``, and then
    to the L2 norm ``R = row_clip · R0`` (``row_clip < 1`` shrinks the outlying rows towards the
    box centre: less noise, some bias); the release vector per row is ``[x_i, R]`` in its
    stratum's block, so one row changes the whole release by at most ``R·√2`` (add/remove).
    Returns (noisy sums, noisy counts, σ, sensitivity).
    """
    X, targets = private.poisson_batch(1.0, np.random.default_rng(0))  # every row: no sampling
    strata = targets["y"] if "y" in targets else targets["event"]
    X = np.clip(X, lower, upper)
    radius = float(row_clip) * float(np.linalg.norm(np.maximum(np.abs(lower), np.abs(upper))))
    norms = np.linalg.norm(X, axis=1, keepdims=True)
    X = X * np.minimum(1.0, radius / np.maximum(norms, 1e-300))
    sensitivity = radius * math.sqrt(2.0)
    sigma = gaussian_mechanism_sigma(epsilon, delta, sensitivity)
    sums = np.stack([X[strata == c].sum(axis=0) for c in (0, 1)])
    counts = np.array([(strata == c).sum() for c in (0, 1)], dtype=float) * radius
    sums = sums + noise_rng.normal(0.0, sigma, size=sums.shape)
    counts = (counts + noise_rng.normal(0.0, sigma, size=counts.shape)) / radius
    return sums, counts, sigma, sensitivity


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
        from dpcondense.models.base import classification_loss, survival_loss

        if self.task == "classification":
            p = np.mean([m.predict_proba(X)[:, 1] for m in self.models], axis=0)
            return classification_loss(p, targets[0])
        time, event, grid = targets
        s = np.mean([m.predict_survival(X, grid) for m in self.models], axis=0)
        return survival_loss(s, time, event, grid)


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


@dataclass
class DPZOHistory:
    """Per-step record (public values only: noisy outputs and configuration)."""

    objective: list[float] = field(default_factory=list)
    step_seconds: list[float] = field(default_factory=list)


@register_method("dpzo")
class DPZOCondenser(CondensationMethod):
    """Differentially private zeroth-order dataset condensation.

    Parameters
    ----------
    model : str
        Condensing model family (``decision_tree``, ``cox_ph``, ...).
    size : int
        Rows per class (classification) or total rows (survival).
    epsilon, delta : float
        Privacy target; ``epsilon=inf`` runs the same algorithm without clipping or noise.
    steps : int
        Optimisation steps T.
    batch_size : float
        Expected Poisson batch size q·n (ignored if ``sampling_rate`` is given).
    sampling_rate : float, optional
        Poisson sampling rate q in (0, 1].
    directions : int
        Directions K per step.
    mu : float
        Smoothing radius in model-space units.
    clip : float
        Per-example L2 clip C.
    clip_mode : {"vector", "coordinate"}
    optimizer : {"adam", "sgd"}
    lr : float
    init : {"random", "dp_mean", "real_rows"}
        ``random`` draws rows uniformly in the public domain; ``dp_mean`` spends
        ``init_budget_share`` of (ε, δ) on Gaussian-mechanism class (or event-stratum) means and
        starts from them plus public noise of scale ``init_spread``; ``real_rows`` (ε = ∞ only)
        starts from real training rows and is labelled so in the ledger.
    init_budget_share : float
        Share of ε and δ spent on the ``dp_mean`` start (the rest goes to the ZO steps).
    init_spread : float
        Std of the public Gaussian noise around the DP means (model-space units).
    init_clip : float
        ``dp_mean``: each row is clipped to ``init_clip`` times the largest norm in the public box
        before the means are released (``1`` = no extra clipping; smaller = less noise, more bias).
    bagging : int
        Number of bootstrap fits averaged per perturbation (1 = the plain model).
    labels : {"auto", "hard", "soft", "teacher"}
        Classification only (survival ignores it). ``auto`` (default): ``soft`` for tree families
        (``piecewise_constant`` models: decision tree, random forest, XGBoost), ``hard`` for
        smooth learners (logistic regression, MLP), where soft labels measured no gain
        (``experiments/dpzo_defaults.md``). ``hard``: each point has its public class.
        ``soft`` and ``teacher`` give every point a label probability ``p_j``: every model is
        fitted on each point twice — labelled 1 with weight ``p_j``, 0 with weight ``1 - p_j`` —
        and the release carries that ``sample_weight`` column, so tree leaves hold graded
        probabilities instead of 0/1. ``soft`` learns ``p_j = sigmoid(z_j)`` by ZO together with
        the points (the logits are extra coordinates, in ``[-4, 4]``; no extra budget).
        ``teacher`` spends ``teacher_budget_share`` of (ε, δ) on a DP logistic regression
        (output perturbation, as ``dp_direct``) and sets ``p_j`` to its prediction at the
        current point ``x_j`` (post-processing); ZO then moves only the points.
    label_init : float
        ``soft``: initial logit magnitude, ``z_j = ±label_init`` by the point's class.
    label_scale : float
        ``soft``: the logits are optimised as ``z / label_scale``, so a perturbation of radius
        ``mu`` moves a logit by ``label_scale * mu`` (and a step by ``label_scale * lr``).
    teacher_budget_share : float
        ``teacher``: share of ε and δ spent on the DP logistic-regression teacher.
    teacher_regularization : float
        ``teacher``: L2 strength Λ of the teacher's summed objective (sensitivity ``L / Λ``).
    class_balance : bool
        Weight each patient's clipped vector by ``min_c n_c / n_{class}`` using the noisy class
        counts of the ``dp_mean`` release (no extra budget; requires ``init="dp_mean"``), so the
        objective is a class-balanced loss with sensitivity still ``C``. Ignored for survival.
    event_policy : {"all_events", "fraction"}
        Survival: every synthetic row is an event, or ``event_fraction`` of them are.
    accountant : {"pld", "rdp"}
    objective_weight : float
        Weight of the private objective coordinate (0 disables the objective estimate).
    n_public : int, optional
        Public training-set size when the dataset does not declare one.
    model_params : dict, optional
    random_state : int or Generator
    public_seed : int, optional
        Seed of the public stream alone (initial rows, directions, model seeds); ``None`` derives
        it from ``random_state`` with the sampling and noise streams. The privacy argument holds
        for any fixed public randomness, so the audit fixes it across runs (stronger attacker).
    progress : bool
        Show a progress bar over steps.
    _unsafe_disable_noise : bool
        TEST-ONLY. Runs with no noise (ZO steps and ``dp_mean`` start) and no clipping while the
        ledger still claims the calibrated (ε, δ): a deliberately broken mechanism for the
        privacy audit's tests (``dpcondense.audit``). Never set it in a real run.
    """

    private = True

    def __init__(
        self,
        *,
        model: str = "decision_tree",
        size: int = 10,
        epsilon: float = 1.0,
        delta: float = 1e-5,
        steps: int = 200,
        batch_size: float = 256,
        sampling_rate: float | None = None,
        directions: int = 8,
        mu: float = 0.1,
        clip: float = 1.0,
        clip_mode: ClipMode = "vector",
        optimizer: Literal["adam", "sgd"] = "adam",
        lr: float = 0.05,
        init: Literal["random", "dp_mean", "real_rows"] = "dp_mean",
        init_budget_share: float = 0.3,
        init_spread: float = 0.3,
        init_clip: float = 1.0,
        bagging: int = 1,
        labels: Literal["auto", "hard", "soft", "teacher"] = "auto",
        label_init: float = 2.0,
        label_scale: float = 2.0,
        teacher_budget_share: float = 0.3,
        teacher_regularization: float = 100.0,
        class_balance: bool = True,
        event_policy: Literal["all_events", "fraction"] = "all_events",
        event_fraction: float = 1.0,
        accountant: Literal["pld", "rdp"] = "pld",
        objective_weight: float = 0.1,
        n_public: int | None = None,
        model_params: dict[str, Any] | None = None,
        random_state: int | np.random.Generator | None = 0,
        progress: bool = False,
        public_seed: int | None = None,
        _unsafe_disable_noise: bool = False,
    ) -> None:
        super().__init__(
            model=model, size=size, epsilon=epsilon, delta=delta, random_state=random_state, model_params=model_params
        )
        self.steps = steps
        self.batch_size = batch_size
        self.sampling_rate = sampling_rate
        self.directions = directions
        self.mu = mu
        self.clip = clip
        self.clip_mode = clip_mode
        self.optimizer = optimizer
        self.lr = lr
        self.init = init
        self.init_budget_share = init_budget_share
        self.init_spread = init_spread
        self.init_clip = init_clip
        self.bagging = bagging
        self.labels = labels
        self.label_init = label_init
        self.label_scale = label_scale
        self.teacher_budget_share = teacher_budget_share
        self.teacher_regularization = teacher_regularization
        self.class_balance = class_balance
        self.event_policy = event_policy
        self.event_fraction = event_fraction
        self.accountant = accountant
        self.objective_weight = objective_weight
        self.n_public = n_public
        self.progress = progress
        self.public_seed = public_seed
        self._unsafe_disable_noise = _unsafe_disable_noise

    # ------------------------------------------------------------------ validation
    def _validate(self, dataset: Dataset) -> tuple[float, int]:
        eps = _as_epsilon(self.epsilon)
        if self.model not in MODELS:
            MODELS.get(self.model)  # raises with the list of families
        family = MODELS.get(self.model)
        if family.task != dataset.task:
            raise ValueError(
                f"model {self.model!r} is a {family.task} family but dataset {dataset.name!r} is "
                f"{dataset.task}; choose one of: {', '.join(n for n in MODELS.names() if MODELS.get(n).task == dataset.task)}"
            )
        n = self.n_public if self.n_public is not None else dataset.n_public
        if n is None:
            raise PrivacyParameterError(
                f"dataset {dataset.name!r} does not declare its row count public; pass n_public= "
                "(a public size) or declare public.n_rows in its schema"
            )
        q = self.sampling_rate if self.sampling_rate is not None else min(1.0, float(self.batch_size) / n)
        validate_privacy_params(
            epsilon=eps, delta=self.delta, sampling_rate=q, clip=self.clip, steps=self.steps, n=n
        )
        _check_choice("clip_mode", self.clip_mode, ("vector", "coordinate"))
        _check_choice("optimizer", self.optimizer, ("adam", "sgd"))
        _check_choice("init", self.init, ("random", "dp_mean", "real_rows"))
        if not 0.0 < float(self.init_clip) <= 1.0:
            raise ValueError(f"init_clip must be in (0, 1] (a fraction of the public box's largest row norm), got {self.init_clip}")
        if not 0.0 < self.init_budget_share < 1.0:
            raise ValueError(f"init_budget_share must be in (0, 1), got {self.init_budget_share}")
        if (self.class_balance and dataset.task == "classification" and self.init != "dp_mean"
                and math.isfinite(eps)):
            raise ValueError(
                "class_balance=True uses the DP class counts released by init='dp_mean'; set "
                f"init='dp_mean' or class_balance=false (got init={self.init!r})"
            )
        _check_choice("labels", self.labels, ("auto", "hard", "soft", "teacher"))
        teacher = self.labels == "teacher" and dataset.task == "classification"
        if teacher:
            if not 0.0 < self.teacher_budget_share < 1.0:
                raise ValueError(f"teacher_budget_share must be in (0, 1), got {self.teacher_budget_share}")
            if self.init == "dp_mean" and not self.init_budget_share + self.teacher_budget_share < 1.0:
                raise ValueError(
                    f"init_budget_share + teacher_budget_share must be < 1 (the rest pays for the ZO steps), got "
                    f"{self.init_budget_share} + {self.teacher_budget_share}"
                )
            if not (isinstance(self.teacher_regularization, (int, float)) and 0 < self.teacher_regularization < math.inf):
                raise ValueError(f"teacher_regularization must be a finite number > 0, got {self.teacher_regularization!r}")
        if not 0.0 <= float(self.label_init) <= LOGIT_BOUND:
            raise ValueError(f"label_init must be in [0, {LOGIT_BOUND:g}] (a logit magnitude), got {self.label_init}")
        if not float(self.label_scale) > 0:
            raise ValueError(f"label_scale must be > 0, got {self.label_scale}")
        if int(self.bagging) < 1:
            raise ValueError(f"bagging must be an integer >= 1, got {self.bagging}")
        _check_choice("event_policy", self.event_policy, ("all_events", "fraction"))
        _check_choice("accountant", self.accountant, ("pld", "rdp"))
        if not (int(self.directions) >= 1):
            raise ValueError(f"directions must be an integer >= 1, got {self.directions}")
        if not (self.mu > 0):
            raise ValueError(f"mu must be > 0 (smoothing radius in model-space units), got {self.mu}")
        if not (self.lr > 0):
            raise ValueError(f"lr must be > 0, got {self.lr}")
        if self.init == "real_rows" and math.isfinite(eps):
            raise PrivacyParameterError(
                "init='real_rows' copies real patients into the synthetic set and is allowed only "
                f"at epsilon=inf (got epsilon={eps}); use init='random'"
            )
        if not 0.0 <= self.event_fraction <= 1.0:
            raise ValueError(f"event_fraction must be in [0, 1], got {self.event_fraction}")
        return q, n

    # ------------------------------------------------------------------ fit
    def fit(self, dataset: Dataset) -> "DPZOCondenser":
        """Learn the synthetic set from ``dataset`` (the private training split)."""
        from tqdm.auto import tqdm

        q, n = self._validate(dataset)
        eps = _as_epsilon(self.epsilon)
        private_run = math.isfinite(eps)
        T, K, mu = int(self.steps), int(self.directions), float(self.mu)
        m = self._n_synthetic(dataset.task)
        schema = dataset.schema
        encoder = dataset.encoder()
        d = encoder.n_features_out
        task = dataset.task

        # independent streams: public (init, directions, model seeds), sampling, noise
        root = np.random.SeedSequence(_entropy(self.random_state))
        rng_public, rng_sample, rng_noise = (np.random.default_rng(s) for s in root.spawn(3))
        if self.public_seed is not None:
            rng_public = np.random.default_rng(np.random.SeedSequence(int(self.public_seed)).spawn(1)[0])

        # privacy calibration and ledger
        ledger = PrivacyLedger(eps, self.delta, n_public=n)
        use_dp_init = self.init == "dp_mean"
        labels = self.labels
        if labels == "auto":
            labels = "soft" if MODELS.get(self.model).piecewise_constant else "hard"
        self.labels_ = labels if task == "classification" else None
        soft = labels == "soft" and task == "classification"
        teacher = labels == "teacher" and task == "classification"
        if private_run:
            shares = {}
            if use_dp_init:
                shares["init"] = float(self.init_budget_share)
            if teacher:
                shares["teacher"] = float(self.teacher_budget_share)
            if shares:
                budget = split_budget(eps, self.delta, {**shares, "steps": 1.0 - sum(shares.values())})
                eps_init, delta_init = budget.get("init", (None, None))
                eps_teacher, delta_teacher = budget.get("teacher", (None, None))
                eps_steps, delta_steps = budget["steps"]
            else:
                eps_steps, delta_steps = eps, self.delta
            sigma = _calibrate_cached(eps_steps, delta_steps, q, T, self.accountant)
            spent = compute_epsilon(sigma, q, T, delta_steps, accountant=self.accountant)
            ledger.spend(
                "dpzo_steps",
                mechanism="poisson_subsampled_gaussian",
                epsilon=spent,
                delta=delta_steps,
                noise_multiplier=sigma,
                sampling_rate=q,
                steps=T,
                accountant=self.accountant,
                sensitivity=self.clip,
                clip=self.clip,
                directions=K,
            )
            clip = float(self.clip)
        else:
            sigma, clip = 0.0, math.inf
            ledger.spend(
                "dpzo_steps",
                mechanism="none (epsilon=inf: no clipping, no noise)",
                epsilon=math.inf,
                delta=0.0,
                noise_multiplier=0.0,
                sampling_rate=q,
                steps=T,
                accountant=self.accountant,
                init=self.init,
            )

        if self._unsafe_disable_noise:  # test-only broken mechanism: the ledger above still claims ε
            sigma, clip = 0.0, math.inf

        # public synthetic targets
        grid = schema.outcome.time_grid() if task == "survival" else None
        if task == "classification":
            y_s = balanced_labels(int(self.size))
            event_s = None
        else:
            n_events = m if self.event_policy == "all_events" else int(round(self.event_fraction * m))
            event_s = np.zeros(m, dtype=np.int64)
            event_s[:n_events] = 1
            y_s = None
            log_lo = math.log(grid[0] / 2.0)
            log_hi = math.log(schema.outcome.horizon)

        # parameters: model-space rows (+ a scaled log-time column for survival), in [-1, 1]-ish box
        lower = encoder.lower_
        upper = encoder.upper_
        if task == "survival":
            lower = np.append(lower, -1.0)
            upper = np.append(upper, 1.0)
        width = lower.size

        private = PrivateRows(dataset)
        if self.init == "real_rows":  # validated: epsilon = inf only
            theta = self._real_row_start(dataset, m, rng_public, log_lo if task == "survival" else None,
                                         log_hi if task == "survival" else None)
        elif use_dp_init:
            theta = rng_public.uniform(lower, upper, size=(m, width))
            feat_lo, feat_hi = encoder.lower_, encoder.upper_
            if private_run:
                sums, counts, sigma_init, sens = privatized_class_means(
                    private, feat_lo, feat_hi, epsilon=eps_init, delta=delta_init, noise_rng=rng_noise,
                    row_clip=float(self.init_clip),
                )
                ledger.spend(
                    "init_dp_means",
                    mechanism="gaussian",
                    epsilon=eps_init,
                    delta=delta_init,
                    noise_multiplier=sigma_init / sens,
                    sensitivity=sens,
                )
                if self._unsafe_disable_noise:  # test-only: exact means, the ledger keeps its claim
                    sums, counts = _exact_means(private, feat_lo, feat_hi)
            else:
                sums, counts = _exact_means(private, feat_lo, feat_hi)
            means = np.clip(sums / np.maximum(counts, 1.0)[:, None], feat_lo, feat_hi)
            if task == "classification":
                rows_mean = means[y_s]
            else:  # strata = event indicator of each synthetic row
                rows_mean = means[event_s]
            d_feat = encoder.n_features_out
            theta[:, :d_feat] = rows_mean + rng_public.normal(0.0, self.init_spread, size=(m, d_feat))
            noisy_counts = np.maximum(counts, 1.0)
        else:
            theta = rng_public.uniform(lower, upper, size=(m, width))
        theta = np.clip(theta, lower, upper)
        if soft:  # one label-logit coordinate per point, started at ±label_init by its class
            scale = float(self.label_scale)
            theta = np.column_stack([theta, (2.0 * y_s - 1.0) * float(self.label_init) / scale])
            lower = np.append(lower, -LOGIT_BOUND / scale)
            upper = np.append(upper, LOGIT_BOUND / scale)
            width += 1

        teacher_model = None
        if teacher:  # a DP logistic regression labels the points (its output is post-processed only)
            if private_run:
                teacher_model, t_sigma, t_sens = privatized_teacher(
                    private, schema, float(self.teacher_regularization), epsilon=eps_teacher, delta=delta_teacher,
                    noise_rng=rng_noise, disable_noise=self._unsafe_disable_noise,
                )
                ledger.spend(
                    "label_teacher",
                    mechanism="gaussian output perturbation (L2-regularised logistic regression)",
                    epsilon=eps_teacher,
                    delta=delta_teacher,
                    noise_multiplier=t_sigma / t_sens,
                    sensitivity=t_sens,
                    regularization=float(self.teacher_regularization),
                )
            else:
                teacher_model, _, _ = privatized_teacher(
                    private, schema, float(self.teacher_regularization), epsilon=math.inf, delta=0.0,
                    noise_rng=rng_noise, disable_noise=True,
                )

        stratum_weights = None
        if self.class_balance and task == "classification":  # post-processing of the released noisy counts
            if not use_dp_init:  # epsilon = inf (validated): exact counts
                noisy_counts = np.maximum(_exact_means(private, encoder.lower_, encoder.upper_)[1], 1.0)
            stratum_weights = np.clip(noisy_counts.min() / noisy_counts, 0.01, 1.0)

        if task == "classification":

            def loss_fn(model, X, t):
                return model.loss(X, t["y"])

        else:

            def loss_fn(model, X, t):
                return model.loss(X, t["time"], t["event"], grid)

        def fit_one(params: np.ndarray, seed: int, rows: np.ndarray | None = None):
            mdl = make_model(self.model, random_state=seed, **(self.model_params or {}))
            if rows is not None:
                params = params[rows]
            if soft:
                X2, y2, w2 = _soft_rows(params, scale)
                return mdl.fit(X2, y2, sample_weight=w2)
            if teacher:
                X2, y2, w2 = _teacher_rows(params, teacher_model)
                return mdl.fit(X2, y2, sample_weight=w2)
            if task == "classification":
                return mdl.fit(params, y_s if rows is None else y_s[rows])
            X = params[:, :-1]
            times = np.exp(log_lo + (params[:, -1] + 1.0) / 2.0 * (log_hi - log_lo))
            return mdl.fit(X, times, event_s if rows is None else event_s[rows])

        n_bags = int(self.bagging)

        def fit_model(params: np.ndarray, seed: int):
            if n_bags == 1:
                return fit_one(params, seed)
            bag_rng = np.random.default_rng(seed)  # public; same for the + and − fits
            return _Bagged([fit_one(params, seed + b, _stratified_bootstrap(bag_rng, y_s if task == "classification" else event_s))
                            for b in range(n_bags)], task)

        opt = _Adam(self.lr) if self.optimizer == "adam" else _SGD(self.lr)
        history = DPZOHistory()
        expected_batch = q * n
        iterator = range(T)
        if self.progress:
            iterator = tqdm(iterator, desc=f"dpzo {dataset.name}/{self.model} ε={eps:g}", unit="step", leave=False)
        self.n_model_fits_ = 0
        for _ in iterator:
            t0 = _time.perf_counter()
            U = rng_public.standard_normal((K, m, width))
            seeds = rng_public.integers(0, 2**31 - 1, size=K)
            plus = [fit_model(np.clip(theta + mu * U[k], lower, upper), int(seeds[k])) for k in range(K)]
            minus = [fit_model(np.clip(theta - mu * U[k], lower, upper), int(seeds[k])) for k in range(K)]
            self.n_model_fits_ += 2 * K * n_bags
            G = privatized_zo_sum(
                private,
                loss_fn,
                plus,
                minus,
                mu=mu,
                clip=clip,
                noise_multiplier=sigma,
                sampling_rate=q,
                sample_rng=rng_sample,
                noise_rng=rng_noise,
                clip_mode=self.clip_mode,
                objective_weight=float(self.objective_weight),
                stratum_weights=stratum_weights,
            )
            grad = np.tensordot(G[:K], U, axes=(0, 0)) / (K * expected_batch)
            theta = np.clip(opt.step(theta, grad), lower, upper)
            if self.objective_weight > 0:
                history.objective.append(float(G[K] / (self.objective_weight * expected_batch)))
            history.step_seconds.append(_time.perf_counter() - t0)

        # release
        if soft or teacher:
            X2, y2, w2 = _soft_rows(theta, scale) if soft else _teacher_rows(theta, teacher_model)
            synthetic = SyntheticSet(X=X2, y=y2, weight=w2)
        elif task == "classification":
            synthetic = SyntheticSet(X=theta, y=y_s)
        else:
            times = np.exp(log_lo + (theta[:, -1] + 1.0) / 2.0 * (log_hi - log_lo))
            synthetic = SyntheticSet(X=theta[:, :-1], time=times, event=event_s)
        self._set_release(synthetic, schema)
        if self.init == "real_rows":
            ledger.mark_not_dp("warm start from real rows (epsilon=inf only)")
        self.ledger_ = ledger
        self.noise_multiplier_ = sigma
        self.sampling_rate_ = q
        self.history_ = history.objective
        self.step_seconds_ = history.step_seconds
        return self

    def _real_row_start(self, dataset, m, rng, log_lo, log_hi) -> np.ndarray:
        """ε = ∞ only: start from real training rows (class-balanced / random)."""
        X_real = dataset.encoded()
        if dataset.task == "classification":
            idx = np.concatenate(
                [rng.choice(np.flatnonzero(dataset.y == c), int(self.size), replace=True) for c in (0, 1)]
            )
            return X_real[idx].copy()
        idx = rng.choice(dataset.n_rows, m, replace=False if m <= dataset.n_rows else True)
        tau = 2.0 * (np.log(np.clip(dataset.time[idx], math.exp(log_lo), math.exp(log_hi))) - log_lo) / (log_hi - log_lo) - 1.0
        return np.column_stack([X_real[idx], tau])


def privatized_teacher(
    private: PrivateRows,
    schema,
    regularization: float,
    *,
    epsilon: float,
    delta: float,
    noise_rng: np.random.Generator,
    disable_noise: bool = False,
):
    """The label teacher: an L2-regularised logistic regression released by output perturbation.

    Reads real rows (all of them, once). The summed objective is Λ-strongly convex with
    L-Lipschitz terms (rows clipped to the schema's norm bound L), so one patient moves the
    minimiser by at most ``L / Λ``: Gaussian noise of the analytic-mechanism σ for that
    sensitivity makes the weights (ε, δ)-DP (the argument of ``dp_direct``). Returns
    ``(model, σ, sensitivity)``; ``epsilon=inf`` or ``disable_noise`` gives the exact minimiser.
    """
    from dpcondense.methods.dp_direct import DPLogisticModel, _fit_logistic, feature_norm_bound

    X, targets = private.poisson_batch(1.0, np.random.default_rng(0))  # every row: no sampling
    bound = feature_norm_bound(schema)
    sensitivity = bound / regularization
    weights = _fit_logistic(X, np.asarray(targets["y"], dtype=np.int64), regularization, bound)
    sigma = gaussian_mechanism_sigma(epsilon, delta, sensitivity) if math.isfinite(epsilon) else 0.0
    if sigma > 0 and not disable_noise:
        weights = weights + noise_rng.normal(0.0, sigma, weights.shape)
    return DPLogisticModel(weights[:-1], weights[-1]), sigma, sensitivity


def _weighted_pairs(X: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Points with label probabilities ``p`` → hard rows: each point once per class, weights (1 - p, p)."""
    m = len(X)
    return np.vstack([X, X]), np.repeat(np.array([0, 1], dtype=np.int64), m), np.concatenate([1.0 - p, p])


def _teacher_rows(params: np.ndarray, teacher) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Points labelled by the teacher's probabilities."""
    return _weighted_pairs(params, teacher.predict_proba(params)[:, 1])


def _soft_rows(params: np.ndarray, scale: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Soft-labelled points; the last column of ``params`` is the label logit divided by ``scale``."""
    return _weighted_pairs(params[:, :-1], 1.0 / (1.0 + np.exp(-scale * params[:, -1])))


def _stratified_bootstrap(rng: np.random.Generator, strata: np.ndarray) -> np.ndarray:
    """Bootstrap indices drawn within each stratum (keeps both classes in every bag)."""
    out = [rng.choice(np.flatnonzero(strata == c), (strata == c).sum(), replace=True) for c in np.unique(strata)]
    return np.sort(np.concatenate(out))


def _exact_means(private: PrivateRows, lower: np.ndarray, upper: np.ndarray):
    """ε = ∞ only: exact per-stratum sums and counts (no noise)."""
    X, targets = private.poisson_batch(1.0, np.random.default_rng(0))
    strata = targets["y"] if "y" in targets else targets["event"]
    X = np.clip(X, lower, upper)
    sums = np.stack([X[strata == c].sum(axis=0) for c in (0, 1)])
    counts = np.array([(strata == c).sum() for c in (0, 1)], dtype=float)
    return sums, counts


_CALIBRATION_CACHE: dict[tuple, float] = {}


def _calibrate_cached(epsilon: float, delta: float, q: float, steps: int, accountant: str) -> float:
    """σ calibration is a pure function of public numbers; cache it across runs in a process."""
    key = (float(epsilon), float(delta), float(q), int(steps), accountant)
    if key not in _CALIBRATION_CACHE:
        _CALIBRATION_CACHE[key] = calibrate_noise_multiplier(epsilon, delta, q, steps, accountant=accountant)
    return _CALIBRATION_CACHE[key]


def _as_epsilon(epsilon: float | str) -> float:
    if isinstance(epsilon, str):
        if epsilon.strip().lower() in ("inf", "infinity", "+inf"):
            return math.inf
        try:
            return float(epsilon)
        except ValueError:
            raise PrivacyParameterError(f"epsilon must be a number > 0 or 'inf', got {epsilon!r}") from None
    return float(epsilon)


def _check_choice(name: str, value: Any, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ValueError(f"{name} must be one of {list(allowed)}, got {value!r}")


def _entropy(random_state: int | np.random.Generator | None) -> int:
    if isinstance(random_state, np.random.Generator):
        return int(random_state.integers(0, 2**63 - 1))
    return 0 if random_state is None else int(random_state)


__all__ = ["DPZOCondenser", "PrivateRows", "clipped_sum", "privatized_zo_sum", "per_example_vectors", "P_MIN"]
