"""The DP-ZO estimator: parameter checks, the budget plan, the start, the ZO steps and the release.

The ledger composes the run's mechanisms — prior spends, the ``dp_mean`` start, the label teacher
and the T steps — jointly (privacy loss distributions) unless ``accounting="split"``.

Reads no real row itself: every access goes through :mod:`~dpcondense.methods.dpzo.primitives`.
"""

from __future__ import annotations

import math
from typing import Any, Iterable, Literal

import numpy as np

from dpcondense.conventions import seed_sequence
from dpcondense.data import Dataset
from dpcondense.data.encoder import Encoder
from dpcondense.data.schema import Schema
from dpcondense.methods.base import CondensationMethod, SyntheticSet, register_method
from dpcondense.methods.dpzo.labels import (
    CentroidLabeller,
    PublicTargets,
    _soft_rows,
    _teacher_rows,
    add_label_logits,
    fit_teacher,
    public_targets,
    resolve_labels,
)
from dpcondense.methods.dpzo.optimiser import (
    Accounting,
    BudgetPlan,
    CandidateFitter,
    ZORun,
    learning_rate,
    make_loss_fn,
    make_optimiser,
    open_ledger,
    plan_budget,
    record_steps,
    zo_step,
)
from dpcondense.methods.dpzo.primitives import (
    ClipMode,
    PrivateRows,
    _exact_means,
    class_means_sensitivity,
    privatized_class_means,
    real_row_start,
    teacher_sensitivity,
)
from dpcondense.methods.dpzo.survival import shrink_bin_means, stratified_start, tail_average_start, time_strata
from dpcondense.models.base import MODELS
from dpcondense.methods.dpzo.specs import DEFAULT_SPREAD, PARAM_SPECS, validate_options
from dpcondense.privacy import (
    PrivacyLedger,
    PrivacyParameterError,
    gaussian_event,
    parse_epsilon,
    validate_privacy_params,
)



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
        Share of ε and δ that calibrates the ``dp_mean`` start's noise (the steps: ``accounting``).
    init_spread : float, optional
        Std of the public Gaussian noise around the DP means (model-space units); ``None`` = the
        task's default, 0.3 for classification and 0.05 for survival (around the time-stratum
        means, whose signal a wider spread drowns: ``experiments/dpzo_survival.md``).
    init_clip : float
        ``dp_mean``: each row is clipped to ``init_clip`` times the largest norm in the public box
        before the means are released (``1`` = no extra clipping; smaller = less noise, more bias).
    bagging : int
        Number of bootstrap fits averaged per perturbation (1 = the plain model).
    labels : {"auto", "hard", "soft", "teacher", "centroid"}
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
        current point ``x_j`` (post-processing); ZO then moves only the points. ``centroid`` is a
        teacher for free: the nearest-centroid rule of the ``dp_mean`` start's class means
        (:class:`~dpcondense.methods.dpzo.labels.CentroidLabeller`, logit ``label_init`` at a
        class mean; needs ``init="dp_mean"``).
    label_init : float
        ``soft``: initial logit magnitude, ``z_j = ±label_init`` by the point's class;
        ``centroid`` (and ``label_start="centroid"``): the logit at a class mean.
    label_start : {"auto", "class", "centroid"}
        ``soft``: start each logit at ``±label_init`` by the point's class, or graded by the
        nearest-centroid rule of the start's DP class means (needs ``init="dp_mean"``; free).
        ``auto`` (default): ``centroid`` with the ``dp_mean`` start, ``class`` otherwise.
    label_scale : float
        ``soft``: the logits are optimised as ``z / label_scale``, so a perturbation of radius
        ``mu`` moves a logit by ``label_scale * mu`` (and a step by ``label_scale * lr``).
    teacher_budget_share : float
        ``teacher``: share of ε and δ that calibrates the DP logistic-regression teacher's noise.
    teacher_regularization : float
        ``teacher``: L2 strength Λ of the teacher's summed objective (sensitivity ``L / Λ``).
    class_balance : bool
        Weight each patient's clipped vector by ``min_c n_c / n_{class}`` using the noisy class
        counts of the ``dp_mean`` release (no extra budget; requires ``init="dp_mean"``), so the
        objective is a class-balanced loss with sensitivity still ``C``. Ignored for survival.
    event_policy : {"all_events", "fraction"}
        Survival: every synthetic row is an event, or ``event_fraction`` of them are.
    accountant : {"pld", "rdp"}
        The accountant of the steps' calibration.
    accounting : {"joint", "split"}
        How the run's mechanisms share (ε, δ). ``joint`` (default): the ``dp_mean`` start and the
        teacher keep their shares' noise; the steps' σ is calibrated so that every mechanism of
        the run (prior spends included) composed with privacy loss distributions meets ε at the
        run's δ, and the ledger totals them so (``composition="pld"``). ``split``: basic
        composition, the steps get what the shares leave (the ablation of the joint accounting).
    objective_weight : float
        Weight of the private objective coordinate (0 disables the objective estimate).
    time_bins : int
        Survival, ``init="dp_mean"``: ``B > 0`` releases the start's means per (event, public
        time bin) stratum and starts each synthetic event in its bin
        (:mod:`~dpcondense.methods.dpzo.survival`); 0 = per event stratum only; ignored by the
        other starts.
    time_shrinkage : {"empirical_bayes", "none"}
        Survival, ``time_bins > 0``: shrink the noisy event-bin means towards their pooled mean by
        their released noise variance (post-processing; no change at ε = ∞), or use them as
        released (``none``, DP-ZO v4 and before). ``bin_shrinkage_`` holds the factor per bin.
    survival_loss : {"curve_nll", "concordance", "mixed"}
        Survival: the per-patient loss of the steps — the survival-curve NLL, a smoothed
        concordance against the synthetic rows, or NLL + ``rank_weight`` × concordance.
    rank_weight, rank_temperature : float
        Weight of the concordance term in ``mixed``; temperature τ of its sigmoid.
    lr_schedule : {"constant", "cosine"}
        Step size over the steps: constant, or cosine decay to a tenth of ``lr``.
    average : float
        Release the mean of the last ``average`` fraction of the iterates (0 = the last one;
        post-processing, free).
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
        privacy audit's tests (``dpcondense.privacy.audit``). Never set it in a real run.
    """

    private = True
    #: 3: survival defaults time_bins=5, survival_loss="concordance" (experiments/dpzo_survival.md)
    #: 4: init_budget_share 0.5, soft labels started by the centroid rule (label_start="centroid",
    #: label_init 1; experiments/dpzo_defaults.md), Poisson batches drawn as a binomial count of
    #: rows without replacement (the same distribution), smooth families fitted stacked
    #: 5: survival, time_shrinkage="empirical_bayes" (experiments/dpzo_survival.md); classification
    #: releases unchanged, so its runs keep version 4 and their identities
    version = 5
    task_versions = {"classification": 4}
    late_params = ("time_shrinkage",)
    joint_accounting = True
    param_specs = PARAM_SPECS

    def __init__(
        self,
        *,
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
        init_budget_share: float = 0.5,
        init_spread: float | None = None,
        init_clip: float = 1.0,
        bagging: int = 1,
        labels: Literal["auto", "hard", "soft", "teacher", "centroid"] = "auto",
        label_init: float = 1.0,
        label_start: Literal["auto", "class", "centroid"] = "auto",
        label_scale: float = 2.0,
        teacher_budget_share: float = 0.3,
        teacher_regularization: float = 100.0,
        class_balance: bool = True,
        event_policy: Literal["all_events", "fraction"] = "all_events",
        event_fraction: float = 1.0,
        accountant: Literal["pld", "rdp"] = "pld",
        accounting: Accounting = "joint",
        objective_weight: float = 0.1,
        time_bins: int = 5,
        time_shrinkage: str = "empirical_bayes",
        survival_loss: str = "concordance",
        rank_weight: float = 1.0,
        rank_temperature: float = 0.5,
        lr_schedule: str = "constant",
        average: float = 0.0,
        n_public: int | None = None,
        progress: bool = False,
        public_seed: int | None = None,
        _unsafe_disable_noise: bool = False,
    ) -> None:
        super().__init__()
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
        self.label_start = label_start
        self.label_scale = label_scale
        self.teacher_budget_share = teacher_budget_share
        self.teacher_regularization = teacher_regularization
        self.class_balance = class_balance
        self.event_policy = event_policy
        self.event_fraction = event_fraction
        self.accountant = accountant
        self.accounting = accounting
        self.objective_weight = objective_weight
        self.time_bins = time_bins
        self.time_shrinkage = time_shrinkage
        self.survival_loss = survival_loss
        self.rank_weight = rank_weight
        self.rank_temperature = rank_temperature
        self.lr_schedule = lr_schedule
        self.average = average
        self.n_public = n_public
        self.progress = progress
        self.public_seed = public_seed
        self._unsafe_disable_noise = _unsafe_disable_noise

    # ------------------------------------------------------------------ validation
    def _validate(self, dataset: Dataset) -> tuple[float, float, int]:
        """Check every parameter against ``dataset``'s task; return (ε, sampling rate q, public n)."""
        eps = parse_epsilon(self.epsilon)
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
        self._validate_options(dataset.task, eps)
        return eps, q, n

    @classmethod
    def check_run(cls, params: dict[str, Any], *, task: str, epsilon: float) -> None:
        """The option combinations ``fit`` would refuse (class balance without the DP start, budget
        shares of 1 or more, a real-row start at finite ε, ...), checked before any run."""
        cls(**{k: v for k, v in params.items() if k != "progress"})._validate_options(task, epsilon)

    def _validate_options(self, task: str, eps: float) -> None:
        """The non-budget options (checked after the privacy parameters)."""
        validate_options(self, task, eps)

    # ------------------------------------------------------------------ fit
    def _fit(self, dataset: Dataset) -> "DPZOCondenser":
        """Learn the synthetic set from ``dataset`` (the private training split)."""
        eps, q, n = self._validate(dataset)
        task = dataset.task
        m = self._n_synthetic(task)
        schema = dataset.schema
        encoder = dataset.encoder()
        rng_public, rng_sample, rng_noise = self._streams()

        ledger = open_ledger(eps, self.delta, n=n, accounting=self.accounting, prior=self.prior)
        self.labels_ = resolve_labels(self.labels, self.model, task)
        soft, teacher = self.labels_ == "soft", self.labels_ == "teacher"
        plan = self._plan_budget(eps, q, n, teacher, encoder, schema)

        targets = public_targets(task, schema, self.size, m, self.event_policy, self.event_fraction)
        private = PrivateRows(dataset)
        theta, lower, upper, noisy_counts, means = self._start(
            dataset, encoder, private, targets, plan, ledger, rng_public, rng_noise
        )
        label_scale = float(self.label_scale) if soft else None
        centroid = None if means is None or task != "classification" else CentroidLabeller(means, self.label_init)
        if soft:
            start = centroid.logits(theta) if self.label_start != "class" and centroid is not None else None
            theta, lower, upper = add_label_logits(theta, lower, upper, targets.y, self.label_init, label_scale, start)
        teacher_model = centroid if self.labels_ == "centroid" else None
        if teacher:
            teacher_model = fit_teacher(
                private, schema, float(self.teacher_regularization), budget=plan.teacher if plan.private else None,
                noise_rng=rng_noise, disable_noise=self._unsafe_disable_noise, ledger=ledger,
            )
        record_steps(ledger, plan, steps=int(self.steps), directions=int(self.directions),
                     accountant=self.accountant, init=self.init)
        if self._unsafe_disable_noise:  # test-only broken mechanism: the ledger keeps its claim
            plan.sigma, plan.clip = 0.0, math.inf
        run = ZORun(
            plan=plan,
            private=private,
            fitter=CandidateFitter(self.model, self.model_params, targets, int(self.bagging), label_scale, teacher_model),
            loss_fn=make_loss_fn(targets, self.survival_loss, float(self.rank_weight), float(self.rank_temperature)),
            optimiser=make_optimiser(self.optimizer, self.lr),
            lower=lower,
            upper=upper,
            stratum_weights=self._stratum_weights(task, private, encoder, noisy_counts),
            rng_public=rng_public,
            rng_sample=rng_sample,
            rng_noise=rng_noise,
            directions=int(self.directions),
            mu=float(self.mu),
            clip_mode=self.clip_mode,
            objective_weight=float(self.objective_weight),
        )
        theta = self._optimise(run, theta, f"dpzo {dataset.name}/{self.model} ε={eps:g}")
        self._release(theta, run.fitter, schema)
        if self.init == "real_rows":
            ledger.mark_not_dp("warm start from real rows (epsilon=inf only)")
        self.ledger_ = ledger
        self.start_means_ = means  # the dp_mean start's stratum means as used (None otherwise)
        self.start_counts_ = noisy_counts  # and its released stratum counts, floored at 1
        self.noise_multiplier_ = plan.sigma
        self.sampling_rate_ = q
        self.n_model_fits_ = run.n_model_fits
        self.history_ = run.objective
        self.step_seconds_ = run.step_seconds
        return self

    def _optimise(self, run: ZORun, theta: np.ndarray, desc: str) -> np.ndarray:
        """The T steps (step size per ``lr_schedule``); the last iterate, or the tail average."""
        steps = int(self.steps)
        first_averaged = tail_average_start(steps, float(self.average))
        total, n_avg = np.zeros_like(theta), 0
        for step in self._progress(range(steps), desc):
            run.optimiser.lr = learning_rate(float(self.lr), self.lr_schedule, step, steps)
            theta = zo_step(run, theta)
            if step >= first_averaged:
                total, n_avg = total + theta, n_avg + 1
        return total / n_avg if n_avg else theta

    def _streams(self) -> tuple[np.random.Generator, np.random.Generator, np.random.Generator]:
        """Independent streams: public (init, directions, model seeds), sampling, noise."""
        root = seed_sequence(self.random_state)
        public_seed, sample_seed, noise_seed = root.spawn(3)
        # Poisson sampling and noise are the mechanism's: secret unless in the seeded benchmark mode
        rng_public, rng_sample, rng_noise = (
            np.random.default_rng(public_seed), self._noise_rng(sample_seed), self._noise_rng(noise_seed)
        )
        if self.public_seed is not None:
            rng_public = np.random.default_rng(np.random.SeedSequence(int(self.public_seed)).spawn(1)[0])
        return rng_public, rng_sample, rng_noise

    def _plan_budget(
        self, eps: float, q: float, n: int, teacher: bool, encoder: Encoder, schema: Schema
    ) -> BudgetPlan:
        """Share (ε, δ) between the ``dp_mean`` start, the teacher and the steps (public numbers only)."""
        shares, sensitivities = {}, {}
        if self.init == "dp_mean":
            shares["init"] = float(self.init_budget_share)
            sensitivities["init"] = class_means_sensitivity(encoder.lower_, encoder.upper_, float(self.init_clip))
        if teacher:
            shares["teacher"] = float(self.teacher_budget_share)
            sensitivities["teacher"] = teacher_sensitivity(schema, float(self.teacher_regularization))
        return plan_budget(
            epsilon=eps, delta=self.delta, sampling_rate=q, n=n, steps=int(self.steps), clip=self.clip,
            accountant=self.accountant, accounting=self.accounting, shares=shares, sensitivities=sensitivities,
            prior=self.prior,
        )

    def _start(
        self,
        dataset: Dataset,
        encoder: Encoder,
        private: PrivateRows,
        targets: PublicTargets,
        plan: BudgetPlan,
        ledger: PrivacyLedger,
        rng_public: np.random.Generator,
        rng_noise: np.random.Generator,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None, np.ndarray | None]:
        """Initial parameters, their public box, the noisy stratum counts and means (``dp_mean`` only).

        Parameters are model-space rows (plus, for survival, a log-time column in [-1, 1]).
        """
        lower, upper = encoder.lower_, encoder.upper_
        if dataset.task == "survival":
            lower, upper = np.append(lower, -1.0), np.append(upper, 1.0)
        m, width = len(targets.strata), lower.size
        noisy_counts = means = self.bin_shrinkage_ = None
        if self.init == "real_rows":  # validated: epsilon = inf only
            theta = real_row_start(dataset, self.size, m, rng_public, targets.log_lo, targets.log_hi)
        elif self.init == "dp_mean" and dataset.task == "survival" and int(self.time_bins) > 0:
            B = int(self.time_bins)
            strata_of = time_strata(B, targets.log_lo, targets.log_hi)
            means, noisy_counts, sigma = self._stratum_means(encoder, private, plan, ledger, rng_noise, strata_of, 1 + B)
            if self.time_shrinkage == "empirical_bayes":  # post-processing of the released means
                means, self.bin_shrinkage_ = shrink_bin_means(means, noisy_counts, sigma)
            theta = stratified_start(means, noisy_counts, targets, B, self._spread(dataset.task), rng_public)
        elif self.init == "dp_mean":
            theta = rng_public.uniform(lower, upper, size=(m, width))
            means, noisy_counts, _ = self._stratum_means(encoder, private, plan, ledger, rng_noise)
            d_feat = encoder.n_features_out
            theta[:, :d_feat] = means[targets.strata] + rng_public.normal(0.0, self._spread(dataset.task), size=(m, d_feat))
        else:
            theta = rng_public.uniform(lower, upper, size=(m, width))
        return np.clip(theta, lower, upper), lower, upper, noisy_counts, means

    def _spread(self, task: str) -> float:
        """``init_spread``, or its task default (``None``): 0.3 classification, 0.05 survival."""
        return float(self.init_spread) if self.init_spread is not None else DEFAULT_SPREAD[task]

    def _stratum_means(
        self,
        encoder: Encoder,
        private: PrivateRows,
        plan: BudgetPlan,
        ledger: PrivacyLedger,
        rng_noise: np.random.Generator,
        strata_of: Any = None,
        n_strata: int = 2,
    ) -> tuple[np.ndarray, np.ndarray, float]:
        """``dp_mean``: per-stratum means (DP unless ε = ∞), the counts floored at 1, and the noise std of the sums.

        The noise std is 0 when the sums are exact (ε = ∞, or the test-only noiseless switch).
        """
        feat_lo, feat_hi = encoder.lower_, encoder.upper_
        sigma = 0.0
        if plan.private:
            eps_init, delta_init = plan.init
            sums, counts, sigma_init, sens = privatized_class_means(
                private, feat_lo, feat_hi, epsilon=eps_init, delta=delta_init, noise_rng=rng_noise,
                row_clip=float(self.init_clip), strata_of=strata_of, n_strata=n_strata,
            )
            ledger.spend(
                "init_dp_means",
                mechanism="gaussian",
                epsilon=eps_init,
                delta=delta_init,
                noise_multiplier=sigma_init / sens,
                sensitivity=sens,
                event=gaussian_event(sigma_init / sens),
            )
            sigma = float(sigma_init)
            if self._unsafe_disable_noise:  # test-only: exact means, the ledger keeps its claim
                sums, counts = _exact_means(private, feat_lo, feat_hi, strata_of, n_strata)
                sigma = 0.0
        else:
            sums, counts = _exact_means(private, feat_lo, feat_hi, strata_of, n_strata)
        means = np.clip(sums / np.maximum(counts, 1.0)[:, None], feat_lo, feat_hi)
        return means, np.maximum(counts, 1.0), sigma

    def _stratum_weights(
        self, task: str, private: PrivateRows, encoder: Encoder, noisy_counts: np.ndarray | None
    ) -> np.ndarray | None:
        """Class-balance weights ``min_c n_c / n_class`` (post-processing of the released counts)."""
        if not (self.class_balance and task == "classification"):
            return None
        if noisy_counts is None:  # no dp_mean start, so epsilon = inf (validated): exact counts
            noisy_counts = np.maximum(_exact_means(private, encoder.lower_, encoder.upper_)[1], 1.0)
        return np.clip(noisy_counts.min() / noisy_counts, 0.01, 1.0)

    def _progress(self, steps: Iterable[int], desc: str) -> Iterable[int]:
        if not self.progress:
            return steps
        from tqdm.auto import tqdm  # lazy: only progress bars need it

        return tqdm(steps, desc=desc, unit="step", leave=False)

    def _release(self, theta: np.ndarray, fitter: CandidateFitter, schema: Schema) -> None:
        """Decode the final parameters into the released synthetic set."""
        t = fitter.targets
        if fitter.label_scale is not None:
            X2, y2, w2 = _soft_rows(theta, fitter.label_scale)
            synthetic = SyntheticSet(X=X2, y=y2, weight=w2)
        elif fitter.teacher is not None:
            X2, y2, w2 = _teacher_rows(theta, fitter.teacher)
            synthetic = SyntheticSet(X=X2, y=y2, weight=w2)
        elif t.task == "classification":
            synthetic = SyntheticSet(X=theta, y=t.y)
        else:
            synthetic = SyntheticSet(X=theta[:, :-1], time=t.times(theta[:, -1]), event=t.event)
        self._set_release(synthetic, schema)


__all__ = ["DPZOCondenser"]
