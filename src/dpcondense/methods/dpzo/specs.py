"""DP-ZO's hyperparameters: type, range and meaning of each, checked at every surface before any work."""

from __future__ import annotations

from dpcondense.methods.dpzo.labels import LABEL_MODES, LOGIT_BOUND
from dpcondense.methods.dpzo.optimiser import ACCOUNTING_MODES
from dpcondense.params import ParamSpec

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
    "init_spread": ParamSpec(float, low=0.0, doc="std of the public noise around the DP means"),
    "init_clip": ParamSpec(float, low=0.0, high=1.0, low_open=True, doc="row clip of the dp_mean start, a fraction of the box"),
    "bagging": ParamSpec(int, low=1, doc="bootstrap fits averaged per perturbation"),
    "labels": ParamSpec(str, choices=LABEL_MODES, doc="classification labels of the synthetic points"),
    "label_init": ParamSpec(float, low=0.0, high=LOGIT_BOUND, doc="soft labels: initial logit magnitude"),
    "label_scale": ParamSpec(float, low=0.0, low_open=True, doc="soft labels: unit of the optimised logits"),
    "teacher_budget_share": ParamSpec(float, **_SHARE, doc="share of the budget of the label teacher"),
    "teacher_regularization": ParamSpec(float, low=0.0, low_open=True, doc="L2 strength of the label teacher"),
    "class_balance": ParamSpec(bool, doc="weight patients by the DP class counts"),
    "event_policy": ParamSpec(str, choices=("all_events", "fraction"), doc="survival: events of the synthetic rows"),
    "event_fraction": ParamSpec(float, low=0.0, high=1.0, doc="share of synthetic events when event_policy=fraction"),
    "accountant": ParamSpec(str, choices=("pld", "rdp"), doc="privacy accountant of the steps"),
    "accounting": ParamSpec(str, choices=ACCOUNTING_MODES, doc="how the run's mechanisms share the budget"),
    "objective_weight": ParamSpec(float, low=0.0, doc="weight of the private objective estimate"),
    "n_public": ParamSpec(int, low=1, allow_none=True, doc="public training-set size"),
    "public_seed": ParamSpec(int, low=0, allow_none=True, doc="seed of the public randomness alone"),
}
