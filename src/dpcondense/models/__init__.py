"""Model families: importing this package registers every family in ``MODELS``.

Classification: ``decision_tree``, ``random_forest``, ``xgboost``, ``logistic_regression``,
``mlp``. Survival: ``cox_ph``, ``random_survival_forest``, ``xgboost_cox``, ``deepsurv``.
A new family is one new module with a ``@register_model("name")`` class (its capabilities as
class attributes: ``task``, ``piecewise_constant``, ``stochastic``, ``label``, ``version``),
plus ``conf/model/<name>.yaml`` holding its default hyperparameters.
"""

from __future__ import annotations

from dpcondense.models.base import MODELS, ClassificationModel, ModelFamily, SurvivalModel, make_model, register_model
from dpcondense.registry import import_components

__all__ = ["MODELS", "make_model", "register_model", "ClassificationModel", "SurvivalModel", "ModelFamily"]


# last: every module of this package registers its family
import_components(__name__, __path__)
