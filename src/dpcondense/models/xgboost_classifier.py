"""Gradient-boosted trees (XGBoost ``binary:logistic``), single-threaded.

The native API is used instead of ``XGBClassifier``: it has the same model and far less per-fit
overhead, which matters when DP-ZO refits thousands of times. :func:`train_booster` goes one step
further than ``xgboost.train`` and drops the Python work that does not shape the model (see there).
"""

from __future__ import annotations

import ctypes
from typing import Any

import numpy as np
import xgboost as xgb
from xgboost.core import _LIB, _check_call

from dpcondense.models.base import ClassificationModel, register_model, seed_from
from dpcondense.params import ParamSpec


def booster_params(params: dict[str, Any], objective: str, seed: int) -> tuple[dict[str, Any], int]:
    """XGBoost training parameters and the number of rounds from our hyperparameters."""
    p = dict(params)
    rounds = int(p.pop("n_estimators"))
    p["eta"] = p.pop("learning_rate")
    p.update(objective=objective, nthread=1, seed=seed, verbosity=0, tree_method="hist")
    return p, rounds


def train_booster(params: dict[str, Any], dtrain: xgb.DMatrix, rounds: int) -> xgb.Booster:
    """The booster ``xgboost.train(params, dtrain, num_boost_round=rounds)`` returns, made faster.

    ``xgboost.train`` builds the booster on ``dtrain`` (which records its feature names and types)
    and runs the boosting rounds (``XGBoosterUpdateOneIter``) plus, per round, an evaluation on
    an empty list of data sets (its callback container) and a re-check of the DMatrix's feature
    names and types, and at the end ``Booster.reset``, which saves the model and loads it back to
    drop the training caches. None of that changes a tree or the intercept (the float32 values
    survive the round trip exactly), yet on DP-ZO's 20–100 rows it is 20–60 % of a fit. Here the
    rounds go straight to the library. Unreset, a live booster keeps its training caches (about
    0.2 MiB) until it is freed. ``tests/unit/test_xgboost_fast.py`` compares the boosters with
    ``xgboost.train``'s.
    """
    if rounds < 1:  # no trees: whatever ``train`` does with that
        return xgb.train(params, dtrain, num_boost_round=rounds)
    booster = xgb.Booster(params, [dtrain])
    for iteration in range(rounds):
        _check_call(_LIB.XGBoosterUpdateOneIter(booster.handle, ctypes.c_int(iteration), dtrain.handle))
    return booster


@register_model("xgboost")
class XGBoost(ClassificationModel):
    """Boosted classification trees on the log-loss.

    Parameters
    ----------
    n_estimators : int
        Boosting rounds (small: DP-ZO refits thousands of times).
    max_depth : int
        Maximum depth of each tree.
    learning_rate : float
        Shrinkage applied to each tree (XGBoost ``eta``).
    min_child_weight : float
        Minimum summed Hessian (≈ p(1−p) per row) in a child; lower allows splits on tiny sets.
    reg_lambda : float
        L2 penalty on leaf values.
    subsample : float
        Row subsampling per tree (1.0 = deterministic boosting).
    random_state : int, Generator or None
        Seeds XGBoost (only matters when ``subsample`` < 1).
    """

    label = "XGBoost"
    stochastic = False

    piecewise_constant = True
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
        learning_rate: float = 0.3,
        min_child_weight: float = 1.0,
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

    def _fit(self, X, y, sample_weight) -> None:
        params, rounds = booster_params(self.params, "binary:logistic", seed_from(self.random_state))
        dtrain = xgb.DMatrix(X, label=y, weight=sample_weight, nthread=1)
        self.booster_ = train_booster(params, dtrain, rounds)

    def _predict_proba(self, X):
        return self.booster_.inplace_predict(X)
