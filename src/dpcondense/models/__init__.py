"""Model families: importing this package registers every family in ``MODELS``.

Classification: ``decision_tree``, ``random_forest``, ``xgboost``, ``logistic_regression``,
``mlp``. Survival: ``cox_ph``, ``random_survival_forest``, ``xgboost_cox``, ``deepsurv``.
"""

from dpcondense.models import (  # noqa: F401  (imported for their @register_model side effect)
    cox_ph,
    decision_tree,
    deepsurv,
    logistic_regression,
    mlp,
    random_forest,
    random_survival_forest,
    xgboost_classifier,
    xgboost_cox,
)
from dpcondense.models.base import ClassificationModel, ModelFamily, SurvivalModel, make_model, MODELS

__all__ = ["MODELS", "make_model", "ClassificationModel", "SurvivalModel", "ModelFamily"]
