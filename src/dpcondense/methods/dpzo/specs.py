"""DP-ZO's hyperparameters: type, range and meaning of each, checked at every surface before any work."""

from __future__ import annotations

import math
from typing import Any

from dpcondense.methods.dpzo.labels import LABEL_MODES, LABEL_STARTS, LOGIT_BOUND
from dpcondense.methods.dpzo.optimiser import ACCOUNTING_MODES, LR_SCHEDULES
from dpcondense.methods.dpzo.survival import SURVIVAL_LOSSES, TIME_SHRINKAGES
from dpcondense.params import ParamSpec
from dpcondense.privacy import PrivacyParameterError

#: ``init_spread: null``: the start's public spread per task (survival: around the time-stratum means)
DEFAULT_SPREAD = {"classification": 0.3, "survival": 0.05}
_SHARE = dict(low=0.0, high=1.0, low_open=True, high_open=True)
#: every hyperparameter's type and range (the checks of ``_validate`` that need no dataset)
PARAM_SPECS: dict[str, ParamSpec] = {
    "steps": ParamSpec(int, low=1, doc="optimisation steps T"),
    "batch_size": ParamSpec(float, low=0.0, low_open=True, doc="expected Poisson batch size q*n"),
    "sampling_rate": ParamSpec(float, low=0.0, high=1.0, low_open=True, allow_none=True, doc="Poisson sampling rate q"),
    "directions": ParamSpec(int, low=1, doc="random directions K per step"),
    "mu": ParamSpec(float, low=0.0, low_open=True, doc="smoothing radius in model-space units"),
    "clip": ParamSpec(float, low=0.0, low_open=True, doc="per-patient L2 clip C"),
    "clip_mode": ParamSpec(str, choices=("vector", "coordinate"), doc="how each patient's vector is clipped"),
    "optimizer": ParamSpec(str, choices=("adam", "sgd"), doc="the optimiser of the synthetic rows"),
    "lr": ParamSpec(float, low=0.0, low_open=True, doc="step size of the optimiser"),
    "init": ParamSpec(str, choices=("random", "dp_mean", "real_rows"), doc="the start of the synthetic rows"),
    "init_budget_share": ParamSpec(float, **_SHARE, doc="share of the budget of the dp_mean start"),
    "init_spread": ParamSpec(float, low=0.0, allow_none=True, doc="std of the public noise around the DP means (null = task default)"),
    "init_clip": ParamSpec(float, low=0.0, high=1.0, low_open=True, doc="row clip of the dp_mean start, a fraction of the box"),
    "bagging": ParamSpec(int, low=1, doc="bootstrap fits averaged per perturbation"),
    "labels": ParamSpec(str, choices=LABEL_MODES, doc="classification labels of the synthetic points"),
    "label_init": ParamSpec(float, low=0.0, high=LOGIT_BOUND, doc="soft labels: initial logit magnitude"),
    "label_start": ParamSpec(str, choices=LABEL_STARTS, doc="soft labels: start logits by class or by the DP class means"),
    "label_scale": ParamSpec(float, low=0.0, low_open=True, doc="soft labels: unit of the optimised logits"),
    "teacher_budget_share": ParamSpec(float, **_SHARE, doc="share of the budget of the label teacher"),
    "teacher_regularization": ParamSpec(float, low=0.0, low_open=True, doc="L2 strength of the label teacher"),
    "class_balance": ParamSpec(bool, doc="weight patients by the DP class counts"),
    "event_policy": ParamSpec(str, choices=("all_events", "fraction"), doc="survival: events of the synthetic rows"),
    "event_fraction": ParamSpec(float, low=0.0, high=1.0, doc="share of synthetic events when event_policy=fraction"),
    "accountant": ParamSpec(str, choices=("pld", "rdp"), doc="privacy accountant of the steps"),
    "accounting": ParamSpec(str, choices=ACCOUNTING_MODES, doc="how the run's mechanisms share the budget"),
    "objective_weight": ParamSpec(float, low=0.0, doc="weight of the private objective estimate"),
    "time_bins": ParamSpec(int, low=0, doc="survival dp_mean start: public time bins of the event strata (0 = none)"),
    "time_shrinkage": ParamSpec(str, choices=TIME_SHRINKAGES, doc="survival: shrink the noisy time-bin means of the start towards their pooled mean"),
    "survival_loss": ParamSpec(str, choices=SURVIVAL_LOSSES, doc="survival: per-patient loss of the steps"),
    "rank_weight": ParamSpec(float, low=0.0, doc="survival, mixed loss: weight of the concordance term"),
    "rank_temperature": ParamSpec(float, low=0.0, low_open=True, doc="survival: temperature of the smoothed concordance"),
    "lr_schedule": ParamSpec(str, choices=LR_SCHEDULES, doc="step size over the steps"),
    "average": ParamSpec(float, low=0.0, high=1.0, doc="fraction of the last iterates averaged into the release"),
    "n_public": ParamSpec(int, low=1, allow_none=True, doc="public training-set size"),
    "public_seed": ParamSpec(int, low=0, allow_none=True, doc="seed of the public randomness alone"),
}


def _check_choice(name: str, value: Any, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ValueError(f"{name} must be one of {list(allowed)}, got {value!r}")


def validate_options(est: Any, task: str, eps: float) -> None:
    """The non-budget options of a DP-ZO estimator ``est`` (after the privacy parameters, in this order)."""
    _check_choice("clip_mode", est.clip_mode, ("vector", "coordinate"))
    _check_choice("optimizer", est.optimizer, ("adam", "sgd"))
    _check_choice("init", est.init, ("random", "dp_mean", "real_rows"))
    if not 0.0 < float(est.init_clip) <= 1.0:
        raise ValueError(f"init_clip must be in (0, 1] (a fraction of the public box's largest row norm), got {est.init_clip}")
    if not 0.0 < est.init_budget_share < 1.0:
        raise ValueError(f"init_budget_share must be in (0, 1), got {est.init_budget_share}")
    if est.class_balance and task == "classification" and est.init != "dp_mean" and math.isfinite(eps):
        raise ValueError(
            "class_balance=True uses the DP class counts released by init='dp_mean'; set "
            f"init='dp_mean' or class_balance=false (got init={est.init!r})"
        )
    _check_choice("labels", est.labels, LABEL_MODES)
    if est.labels == "teacher" and task == "classification":
        _validate_teacher(est)
    _check_choice("label_start", est.label_start, LABEL_STARTS)
    uses_means = est.labels == "centroid" or (est.labels in ("soft", "auto") and est.label_start == "centroid")
    # (label_start="auto" takes the centroid start only when init="dp_mean" releases the means)
    if uses_means and task == "classification" and est.init != "dp_mean":
        raise ValueError(
            "labels='centroid' and label_start='centroid' use the class means of init='dp_mean'; set "
            f"init='dp_mean' (got init={est.init!r}, labels={est.labels!r}, label_start={est.label_start!r})"
        )
    if not 0.0 <= float(est.label_init) <= LOGIT_BOUND:
        raise ValueError(f"label_init must be in [0, {LOGIT_BOUND:g}] (a logit magnitude), got {est.label_init}")
    if not float(est.label_scale) > 0:
        raise ValueError(f"label_scale must be > 0, got {est.label_scale}")
    if int(est.bagging) < 1:
        raise ValueError(f"bagging must be an integer >= 1, got {est.bagging}")
    _check_choice("event_policy", est.event_policy, ("all_events", "fraction"))
    _check_choice("accountant", est.accountant, ("pld", "rdp"))
    _check_choice("accounting", est.accounting, ACCOUNTING_MODES)
    if not (int(est.directions) >= 1):
        raise ValueError(f"directions must be an integer >= 1, got {est.directions}")
    if not (est.mu > 0):
        raise ValueError(f"mu must be > 0 (smoothing radius in model-space units), got {est.mu}")
    if not (est.lr > 0):
        raise ValueError(f"lr must be > 0, got {est.lr}")
    if est.init == "real_rows" and math.isfinite(eps):
        raise PrivacyParameterError(
            "init='real_rows' copies real patients into the synthetic set and is allowed only "
            f"at epsilon=inf (got epsilon={eps}); use init='random'"
        )
    if not 0.0 <= est.event_fraction <= 1.0:
        raise ValueError(f"event_fraction must be in [0, 1], got {est.event_fraction}")
    _validate_schedule(est, task)


def _validate_teacher(est: Any) -> None:
    if not 0.0 < est.teacher_budget_share < 1.0:
        raise ValueError(f"teacher_budget_share must be in (0, 1), got {est.teacher_budget_share}")
    if est.init == "dp_mean" and not est.init_budget_share + est.teacher_budget_share < 1.0:
        raise ValueError(
            f"init_budget_share + teacher_budget_share must be < 1 (the rest pays for the ZO steps), got "
            f"{est.init_budget_share} + {est.teacher_budget_share}"
        )
    if not (isinstance(est.teacher_regularization, (int, float)) and 0 < est.teacher_regularization < math.inf):
        raise ValueError(f"teacher_regularization must be a finite number > 0, got {est.teacher_regularization!r}")


def _validate_schedule(est: Any, task: str) -> None:
    """The survival options, the step-size schedule and iterate averaging."""
    _check_choice("survival_loss", est.survival_loss, SURVIVAL_LOSSES)
    _check_choice("time_shrinkage", est.time_shrinkage, TIME_SHRINKAGES)
    _check_choice("lr_schedule", est.lr_schedule, LR_SCHEDULES)
    if not 0.0 <= float(est.average) <= 1.0:
        raise ValueError(f"average must be in [0, 1] (the fraction of the last iterates averaged), got {est.average}")
    if int(est.time_bins) < 0:
        raise ValueError(f"time_bins must be an integer >= 0 (0 = no time strata), got {est.time_bins}")
    if task == "survival" and est.survival_loss != "curve_nll" and int(est.bagging) > 1:
        raise ValueError(f"survival_loss={est.survival_loss!r} needs bagging=1 (the ranking loss reads one fitted model), got {est.bagging}")
    if not float(est.rank_temperature) > 0:
        raise ValueError(f"rank_temperature must be > 0, got {est.rank_temperature}")
