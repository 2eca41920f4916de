"""Running the audit: the audit rows, R runs of the method with and without the canary, the result.

See :mod:`dpcondense.privacy.audit` for the design (audit rows, canary, statistic, threshold
rule, DCR); the attack and the bound are in :mod:`dpcondense.privacy.audit.attack`. DP-ZO's
runs are also tapped white-box (:mod:`dpcondense.privacy.audit.whitebox`): noise scale,
sampling, parameters and gradient canaries, pooled over the runs into ``AuditResult.whitebox``.
"""

from __future__ import annotations

import inspect
import math
import time as _time
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np
from tqdm.auto import tqdm

from dpcondense.conventions import derived_rng
from dpcondense.data import Dataset, train_test_split
from dpcondense.datasets import load_dataset
from dpcondense.methods import METHODS
from dpcondense.privacy.audit.attack import (
    STATISTICS,
    THRESHOLD_RULES,
    Statistic,
    ThresholdRule,
    canary_score,
    choose_threshold,
    clopper_pearson,
    distance_to_closest,
    epsilon_lower_bound,
    fixed_threshold,
    guesses,
    max_certifiable_epsilon,
)
from dpcondense.privacy.audit.whitebox import (
    GradientCanaries,
    WhiteboxAccumulator,
    tapped_fit,
)
from dpcondense.privacy.audit.worlds import (
    AUDIT_ROWS,
    AuditWorlds,
    audit_dataset,
    audit_worlds,
)
from dpcondense.privacy.validation import parse_epsilon

#: Per-run defaults for methods that take them: the audit is about the mechanism, so each run is
#: small (few steps and directions on a few hundred rows; with the default 200 audit rows a batch
#: of 64 is a Poisson rate q = 0.32, so subsampling is audited too); ``--param`` overrides them.
AUDIT_METHOD_DEFAULTS: dict[str, Any] = {"steps": 20, "directions": 4, "batch_size": 64}
#: white-box gradient canaries per DP-ZO run by default
AUDIT_CANARIES = 1000


# ------------------------------------------------------------------------------------ the audit


@dataclass
class AuditResult:
    """Outcome of :func:`run_audit` (``to_dict`` is what ``dpcondense audit --json`` prints).

    ``max_certifiable_epsilon`` is the most these trials could certify (a perfect attack);
    ``sampling_rate`` the Poisson rate q of the runs (None for methods without one); ``whitebox``
    the pooled white-box checks of DP-ZO's steps (``WhiteboxResult.to_dict()``; None otherwise).
    """

    method: str
    dataset: str
    model: str
    epsilon_claimed: float
    delta: float
    trials: int
    epsilon_lower_bound: float
    max_certifiable_epsilon: float
    statistic: str
    threshold_rule: str
    threshold: float
    threshold_direction: int
    evaluation_trials: int
    true_positives: int
    false_positives: int
    members_evaluated: int
    non_members_evaluated: int
    tpr: float
    fpr: float
    tpr_interval: tuple[float, float]
    fpr_interval: tuple[float, float]
    dcr_train_median: float
    dcr_test_median: float
    audit_rows: int
    sampling_rate: float | None
    public_randomness_fixed: bool
    ledger_label: str
    wall_seconds: float
    seconds_per_trial: float
    canary: dict[str, Any]
    method_params: dict[str, Any]
    whitebox: dict[str, Any] | None = None
    scores: list[float] = field(default_factory=list)
    members: list[bool] = field(default_factory=list)

    def to_dict(self, *, with_trials: bool = False) -> dict[str, Any]:
        out = asdict(self)
        out["tpr_interval"] = list(self.tpr_interval)
        out["fpr_interval"] = list(self.fpr_interval)
        out["canary"] = {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in self.canary.items()}
        if not with_trials:
            out.pop("scores")
            out.pop("members")
        return out


def check_audit_rows(dataset: str | Dataset, n_rows: int, *, seed: int = 0, name: str = "n_rows") -> int:
    """The rows of ``dataset``'s training split; refuses an ``n_rows`` above them instead of clamping.

    Raises
    ------
    ValueError
        When ``n_rows`` asks for more audit rows than the training split (for ``seed``) has.
    """
    ds = load_dataset(dataset) if isinstance(dataset, str) else dataset
    available = train_test_split(ds, seed=seed)[0].n_rows
    if n_rows > available:
        raise ValueError(
            f"{name} {n_rows} asks for more audit rows than the {available} of {ds.name}'s training split; "
            f"use at most {name} {available}"
        )
    return available


def _accepted_params(method: str) -> set[str]:
    sig = inspect.signature(METHODS.get(method).__init__)
    return {k for k, p in sig.parameters.items() if p.kind == inspect.Parameter.KEYWORD_ONLY}


@dataclass
class _TrialOutcome:
    """What the R runs produced: one score per run, the DCR distances, the last ledger label and q, the white-box taps."""

    scores: np.ndarray
    dcr_train: list[np.ndarray]
    dcr_test: list[np.ndarray]
    ledger_label: str
    sampling_rate: float | None
    whitebox: WhiteboxAccumulator
    wall: float


def _check_audit_args(
    statistic: str, threshold: str, calibration_fraction: float, trials: Any, epsilon: Any
) -> tuple[int, int, float]:
    """Validate the audit's arguments; returns (trials, number of calibration runs, epsilon)."""
    if statistic not in STATISTICS:
        raise ValueError(f"statistic must be one of {list(STATISTICS)}, got {statistic!r}")
    if threshold not in THRESHOLD_RULES:
        raise ValueError(f"threshold must be one of {list(THRESHOLD_RULES)}, got {threshold!r}")
    if not 0.0 < calibration_fraction < 1.0:
        raise ValueError(f"calibration_fraction must be in (0, 1), got {calibration_fraction}")
    if isinstance(trials, bool) or int(trials) != trials or trials < 4:
        raise ValueError(f"trials must be an integer >= 4, got {trials}")
    trials = int(trials)
    n_calibration = round(calibration_fraction * trials) if threshold == "split" else 0
    if threshold == "split" and min(n_calibration, trials - n_calibration) < 2:
        raise ValueError(f"trials={trials} is too few to split into calibration and evaluation runs")
    return trials, n_calibration, parse_epsilon(epsilon)


def _run_params(
    method: str,
    *,
    n_public: int,
    seed: int,
    fix_public_randomness: bool,
    method_params: dict[str, Any] | None,
    model_params: dict[str, Any] | None,
) -> tuple[dict[str, Any], bool]:
    """Per-run method parameters (audit defaults, public n and seed, overrides) and whether public randomness is fixed."""
    accepted = _accepted_params(method)
    params: dict[str, Any] = {k: v for k, v in AUDIT_METHOD_DEFAULTS.items() if k in accepted}
    if "n_public" in accepted:
        params["n_public"] = n_public
    fixed_public = bool(fix_public_randomness and "public_seed" in accepted)
    if fixed_public:
        params["public_seed"] = int(np.random.SeedSequence([seed, 0xB11C]).generate_state(1)[0])
    params.update(method_params or {})
    unknown = sorted(set(params) - accepted)
    if unknown:
        raise ValueError(f"method {method!r} has no parameter(s) {unknown}; its parameters: {sorted(accepted)}")
    return params, fixed_public


def _assign_members(seed: int, trials: int, n_calibration: int) -> tuple[np.ndarray, np.ndarray]:
    """Seeded IN/OUT assignment, balanced inside the calibration and the evaluation runs, and the runs' seeds."""
    rng = derived_rng(seed, 0xA0D17)
    parts = [n for n in (n_calibration, trials - n_calibration) if n > 0]
    members = np.concatenate([rng.permutation(np.arange(n) < (n + 1) // 2) for n in parts])
    trial_seeds = np.random.SeedSequence([seed, 0x5EED]).generate_state(trials)
    return members, trial_seeds


def _trial_canaries(count: int, seed: int, run: int) -> GradientCanaries | None:
    # the memberships are the auditor's own coin flips, a stream of their own per run
    if count < 1:
        return None
    return GradientCanaries(count, np.random.default_rng(np.random.SeedSequence([seed, 0xCA7A, run])))


def _run_trials(
    method: str,
    worlds: AuditWorlds,
    members: np.ndarray,
    trial_seeds: np.ndarray,
    *,
    task: str,
    model: str,
    params: dict[str, Any],
    fit_kwargs: dict[str, Any],
    statistic: Statistic,
    whitebox: bool,
    canaries: int,
    seed: int,
    progress: bool,
) -> _TrialOutcome:
    """Fit the method once per run (on the IN or OUT world, tapped white-box) and score each release."""
    trials = len(members)
    scores = np.empty(trials)
    dcr_train: list[np.ndarray] = []
    dcr_test: list[np.ndarray] = []
    ledger_label, q = "", None
    pooled = WhiteboxAccumulator()
    model_params = fit_kwargs.get("model_params")
    t0 = _time.perf_counter()
    iterator: Any = range(trials)
    if progress:
        iterator = tqdm(iterator, desc=f"audit {method} eps={fit_kwargs['epsilon']:g}", unit="run", leave=False)
    for r in iterator:
        data = worlds.with_canary if members[r] else worlds.base
        est, tap = tapped_fit(
            method, data, params, {**fit_kwargs, "random_state": int(trial_seeds[r])},
            canaries=_trial_canaries(canaries, seed, r), whitebox=whitebox,
        )
        if tap is not None:
            pooled.add(tap, est.ledger_)
        release = est.synthetic_encoded_
        ledger_label, q = est.ledger_.label, getattr(est, "sampling_rate_", None)
        scores[r] = canary_score(
            release, worlds.canary_X, worlds.canary_targets, task=task, statistic=statistic, model=model,
            model_params=model_params, grid=worlds.grid,
        )
        if len(release.X):  # a released model has no rows to measure
            dcr_train.append(distance_to_closest(release.X, worlds.X_in if members[r] else worlds.X_out))
            dcr_test.append(distance_to_closest(release.X, worlds.X_hold))
    wall = _time.perf_counter() - t0
    return _TrialOutcome(
        scores=scores, dcr_train=dcr_train, dcr_test=dcr_test, ledger_label=ledger_label, sampling_rate=q,
        whitebox=pooled, wall=wall,
    )


def _threshold_runs(
    scores: np.ndarray,
    members: np.ndarray,
    *,
    n_calibration: int,
    threshold: ThresholdRule,
    statistic: Statistic,
    task: str,
    delta: float,
    confidence: float,
) -> tuple[float, int, np.ndarray]:
    """The threshold, its direction and the mask of the runs it is evaluated on."""
    trials = len(scores)
    if threshold == "split":
        calib = np.arange(trials) < n_calibration
        thr, direction = choose_threshold(scores[calib], members[calib], delta=delta, confidence=confidence)
        return thr, direction, ~calib
    return fixed_threshold(statistic, task), 1, np.ones(trials, dtype=bool)


def _median_or_nan(parts: list[np.ndarray]) -> float:
    # a released model has no rows, so no run may have contributed distances
    return float(np.median(np.concatenate(parts))) if parts else math.nan


def _audit_result(
    *,
    method: str,
    ds: Dataset,
    model: str,
    eps: float,
    delta: float,
    statistic: Statistic,
    threshold: ThresholdRule,
    n_calibration: int,
    members: np.ndarray,
    worlds: AuditWorlds,
    runs: _TrialOutcome,
    fixed_public: bool,
    params: dict[str, Any],
    confidence: float,
) -> AuditResult:
    """Set the threshold, count the attack's hits on the evaluated runs and assemble the result."""
    trials = len(members)
    thr, direction, evaluate = _threshold_runs(
        runs.scores, members, n_calibration=n_calibration, threshold=threshold, statistic=statistic,
        task=ds.task, delta=delta, confidence=confidence,
    )
    white = runs.whitebox.result(confidence=confidence)
    guess = guesses(runs.scores[evaluate], thr, direction)
    mem = members[evaluate]
    tp, fp = int((guess & mem).sum()), int((guess & ~mem).sum())
    n_in, n_out = int(mem.sum()), int((~mem).sum())
    return AuditResult(
        method=method,
        dataset=ds.name,
        model=model,
        epsilon_claimed=eps,
        delta=float(delta),
        trials=trials,
        epsilon_lower_bound=epsilon_lower_bound(tp, n_in, fp, n_out, delta=delta, confidence=confidence),
        max_certifiable_epsilon=max_certifiable_epsilon(n_in, n_out, delta=delta, confidence=confidence),
        statistic=statistic,
        threshold_rule=threshold,
        threshold=float(thr),
        threshold_direction=int(direction),
        evaluation_trials=int(evaluate.sum()),
        true_positives=tp,
        false_positives=fp,
        members_evaluated=n_in,
        non_members_evaluated=n_out,
        tpr=tp / n_in,
        fpr=fp / n_out,
        tpr_interval=clopper_pearson(tp, n_in, confidence=confidence),
        fpr_interval=clopper_pearson(fp, n_out, confidence=confidence),
        dcr_train_median=_median_or_nan(runs.dcr_train),
        dcr_test_median=_median_or_nan(runs.dcr_test),
        audit_rows=worlds.base.n_rows,
        sampling_rate=runs.sampling_rate,
        public_randomness_fixed=fixed_public,
        ledger_label=runs.ledger_label,
        wall_seconds=runs.wall,
        seconds_per_trial=runs.wall / trials,
        canary={k: (v.item() if hasattr(v, "item") else v) for k, v in worlds.canary.iloc[0].items()},
        method_params=dict(params),
        whitebox=None if white is None else white.to_dict(),
        scores=[float(x) for x in runs.scores],
        members=[bool(m) for m in members],
    )


def run_audit(
    *,
    method: str,
    dataset: str | Dataset,
    epsilon: float,
    trials: int,
    delta: float = 1e-5,
    model: str | None = None,
    size: int = 5,
    n_rows: int | None = AUDIT_ROWS,
    statistic: Statistic = "distance",
    threshold: ThresholdRule = "split",
    calibration_fraction: float = 0.5,
    fix_public_randomness: bool = True,
    corner: Literal["far", "other_class"] = "far",
    seed: int = 0,
    method_params: dict[str, Any] | None = None,
    model_params: dict[str, Any] | None = None,
    confidence: float = 0.95,
    whitebox: bool = True,
    canaries: int = AUDIT_CANARIES,
    noise: str = "seeded",
    progress: bool = False,
) -> AuditResult:
    """Canary membership-inference audit of ``method`` at ``epsilon`` over ``trials`` runs.

    Parameters
    ----------
    method : str
        A registered condensation method.
    dataset : str or Dataset
        A built-in dataset name, or a custodian's dataset.
    epsilon, delta : float
        The privacy target each run claims.
    trials : int
        Number of runs R (half of them with the canary).
    model : str, optional
        Condensing model family (default: decision_tree / cox_ph by task).
    size : int
        Synthetic rows per class (classification) / in total (survival).
    n_rows : int or None
        Audit training rows drawn (stratified, seeded) from the training split; None = all.
    statistic : {"distance", "loss"}
        Membership score of a release (see the module docstring).
    threshold : {"split", "fixed"}
        ``split``: choose threshold and direction on the first ``calibration_fraction`` of the
        trials, count only the rest. ``fixed``: the a-priori threshold of ``statistic="loss"``.
    fix_public_randomness : bool
        Hold the public randomness (initial rows, directions, model seeds) fixed across runs
        when the method accepts ``public_seed``; sampling and noise stay fresh in every run.
        DP holds for every fixed value of the public randomness, so this is a valid audit
        against a stronger attacker who knows it. False: fresh ``random_state`` only.
    corner : {"far", "other_class"}
        Where the canary sits (:func:`craft_canary`).
    seed : int
        Seeds the audit rows, the IN/OUT assignment and every run's seeds.
    method_params : dict, optional
        Extra method parameters (override :data:`AUDIT_METHOD_DEFAULTS`).
    whitebox : bool
        Tap DP-ZO's steps in every run (:class:`~dpcondense.privacy.audit.whitebox.ZOStepTap`):
        the noise-scale, sampling and parameter checks and the gradient canaries, pooled over
        the runs into ``AuditResult.whitebox`` (None for methods without DP-ZO steps).
    canaries : int
        White-box gradient canaries per run (0: none; the one-run bound is then skipped).
    noise : {"seeded", "secure"}
        Where each run's noise and sampling come from (seeded: the audit is reproducible).

    Raises
    ------
    ValueError
        An unknown statistic or threshold rule, too few trials, or a bad method parameter.
    PrivacyParameterError
        ``epsilon`` or ``delta`` out of range.
    """
    trials, n_calibration, eps = _check_audit_args(statistic, threshold, calibration_fraction, trials, epsilon)
    ds, model = audit_dataset(dataset, model, statistic=statistic, threshold=threshold)
    worlds = audit_worlds(ds, n_rows=n_rows, seed=seed, corner=corner, eps=eps, delta=delta)
    params, fixed_public = _run_params(
        method, n_public=worlds.base.n_rows, seed=seed, fix_public_randomness=fix_public_randomness,
        method_params=method_params, model_params=model_params,
    )
    members, trial_seeds = _assign_members(seed, trials, n_calibration)
    fit_kwargs = {"model": model, "size": size, "epsilon": eps, "delta": delta, "model_params": model_params, "noise": noise}
    runs = _run_trials(
        method, worlds, members, trial_seeds, task=ds.task, model=model, params=params, fit_kwargs=fit_kwargs,
        statistic=statistic, whitebox=whitebox, canaries=int(canaries), seed=seed, progress=progress,
    )
    return _audit_result(
        method=method, ds=ds, model=model, eps=eps, delta=delta, statistic=statistic, threshold=threshold,
        n_calibration=n_calibration, members=members, worlds=worlds, runs=runs, fixed_public=fixed_public,
        params=params, confidence=confidence,
    )
