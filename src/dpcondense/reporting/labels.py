"""How the report writes things: cell placeholders, ε, and the names of methods, families and metrics."""

from __future__ import annotations

import math

MISSING = "—"
NOT_APPLICABLE = "n/a"
UNDEFINED = "undefined"
DIGITS = 3

METHOD_LABELS = {
    "dpzo": "DP-ZO",
    "dp_gaussian": "DP Gaussian",
    "random_subset": "random subset",
    "kmeans": "k-means",
    "full_data": "full data",
}
MODEL_LABELS = {
    "decision_tree": "decision tree",
    "random_forest": "random forest",
    "xgboost": "XGBoost",
    "logistic_regression": "logistic regression",
    "mlp": "MLP",
    "cox_ph": "Cox PH",
    "random_survival_forest": "random survival forest",
    "xgboost_cox": "XGBoost Cox",
    "deepsurv": "DeepSurv",
}
METRIC_LABELS = {
    "auroc": "AUROC",
    "auprc": "AUPRC",
    "balanced_accuracy": "balanced accuracy",
    "brier": "Brier score",
    "c_index": "Harrell's C-index",
    "c_index_uno": "Uno's C-index",
    "ibs": "integrated Brier score",
}


def format_epsilon(epsilon: float) -> str:
    """``ε`` as shown in headers and legends (``∞`` for no noise, else the shortest decimal)."""
    return "∞" if math.isinf(epsilon) else f"{epsilon:g}"


def method_label(name: str) -> str:
    """The display name of method ``name`` (the name itself when it has none); a declared
    variant ``method[variant]`` is shown as ``<method's name> [variant]``."""
    if name.endswith("]") and "[" in name:
        method, variant = name[:-1].split("[", 1)
        return f"{_method_name(method)} [{variant}]"
    return _method_name(name)


def _method_name(name: str) -> str:
    """The registered method's own ``label`` (its class attribute), else :data:`METHOD_LABELS`, else the name."""
    from dpcondense.methods import METHODS

    if name in METHODS and METHODS.get(name).label:
        return METHODS.get(name).label
    return METHOD_LABELS.get(name, name)


def model_label(name: str | None) -> str:
    """The display name of family ``name`` (:data:`MISSING` for no family)."""
    return MODEL_LABELS.get(name, name) if name else MISSING


def metric_label(name: str) -> str:
    """The display name of metric ``name`` (the name itself when it has none)."""
    return METRIC_LABELS.get(name, name)
