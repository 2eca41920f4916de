"""Boosted Cox model (XGBoost ``survival:cox``) with a Breslow baseline for survival curves."""

from __future__ import annotations

from typing import Any

import numpy as np
import xgboost as xgb

from dpcondense.models._breslow import breslow_baseline
from dpcondense.models.base import SurvivalModel, register_model, seed_from
from dpcondense.models.xgboost_classifier import booster_params, train_booster
from dpcondense.params import ParamSpec


@register_model("xgboost_cox")
class XGBoostCox(SurvivalModel):
    """Trees boosted on the Cox partial likelihood (XGBoost uses Breslow ties).

    The boosted margin is the log-risk η(x); the Breslow baseline is fitted on the training
    margins, so Ŝ(t | x) = exp(−H0(t) exp(η(x))).

    Parameters
    ----------
    n_estimators : int
        Boosting rounds.
    max_depth : int
        Maximum depth of each tree.
    learning_rate : float
        Shrinkage applied to each tree (XGBoost ``eta``).
    min_child_weight : float
        Minimum summed Cox Hessian in a child; Cox Hessians are small, so this is low by default.
    reg_lambda : float
        L2 penalty on leaf values.
    subsample : float
        Row subsampling per tree (1.0 = deterministic boosting).
    random_state : int, Generator or None
        Seeds XGBoost (only matters when ``subsample`` < 1).
    """

    label = "XGBoost Cox"
    stochastic = False
    param_specs = {
        "n_estimators": ParamSpec(int, low=1, high=10_000, doc="boosting rounds (each tree is stored)"),
        "max_depth": ParamSpec(int, low=0, doc="maximum depth of each tree (0: no limit)"),
        "learning_rate": ParamSpec(float, low=0.0, high=1.0, low_open=True, doc="shrinkage per tree (XGBoost eta)"),
        "min_child_weight": ParamSpec(float, low=0.0, doc="minimum summed Hessian in a child"),
        "reg_lambda": ParamSpec(float, low=0.0, doc="L2 penalty on leaf values"),
        "subsample": ParamSpec(float, low=0.0, high=1.0, low_open=True, doc="row subsampling per tree"),
    }

    def __init__(
        self,
        *,
        n_estimators: int = 50,
        max_depth: int = 3,
        learning_rate: float = 0.1,
        min_child_weight: float = 0.1,
        reg_lambda: float = 1.0,
        subsample: float = 1.0,
        random_state: int | np.random.Generator | None = None,
        **params: Any,
    ) -> None:
        super().__init__(
            random_state=random_state,
            n_estimators=n_estimators,
            max_depth=max_depth,
            learning_rate=learning_rate,
            min_child_weight=min_child_weight,
            reg_lambda=reg_lambda,
            subsample=subsample,
            **params,
        )

    def _fit(self, X, time, event, sample_weight) -> None:
        params, rounds = booster_params(self.params, "survival:cox", seed_from(self.random_state))
        # XGBoost's Cox label: +time for an event, -time for a censored row (time must be > 0)
        t = np.maximum(time, 1e-12)
        label = np.where(event == 1, t, -t)
        dtrain = xgb.DMatrix(X, label=label, weight=sample_weight, nthread=1)
        self.booster_ = train_booster(params, dtrain, rounds)
        self.baseline_ = breslow_baseline(time, event, self.predict_log_risk(X), sample_weight)

    def predict_log_risk(self, X: np.ndarray) -> np.ndarray:
        """The boosted margin η(x) (log hazard ratio up to a constant)."""
        return self.booster_.inplace_predict(np.asarray(X, dtype=float), predict_type="margin")

    def _predict_survival(self, X, grid):
        return self.baseline_.survival(self.predict_log_risk(X), grid)
