"""Train-on-release, test-on-real evaluation shared by every method, CLI command and sweep."""

from __future__ import annotations

from typing import Any

import numpy as np

from dpcondense.data import Dataset
from dpcondense.methods.base import SyntheticSet
from dpcondense.metrics import classification_metrics, survival_metrics
from dpcondense.models import MODELS, make_model


def check_eval_model(name: str, task: str) -> None:
    """Raise a clear error when ``name`` is unknown or belongs to the other task."""
    family = MODELS.get(name)
    if family.task != task:
        allowed = [n for n in MODELS.names() if MODELS.get(n).task == task]
        raise ValueError(
            f"eval model {name!r} is a {family.task} family and cannot evaluate a {task} dataset; "
            f"allowed: {', '.join(allowed)}"
        )


def evaluate_release(
    release: SyntheticSet,
    train: Dataset,
    test: Dataset,
    model: str,
    *,
    random_state: int = 0,
    model_params: dict[str, Any] | None = None,
) -> dict[str, float]:
    """Fit ``model`` on the released rows and score it on the test split.

    ``train`` supplies only the reference outcome needed by Uno's C-index and the IBS censoring
    weights (evaluation, never part of a release). A release that carries a ``released_model``
    (a model release such as ``dp_direct``'s) is scored as is; ``model`` is then not fitted.
    """
    check_eval_model(model, test.task)
    mdl = make_model(model, random_state=random_state, **(model_params or {}))
    X_test = test.encoded()
    released_model = getattr(release, "released_model", None)
    if released_model is not None:  # a model release (dp_direct): score the released model as is
        return classification_metrics(test.y, released_model.predict_proba(X_test)[:, 1])
    if test.task == "classification":
        mdl.fit(release.X, release.y, sample_weight=getattr(release, "weight", None))
        return classification_metrics(test.y, mdl.predict_proba(X_test)[:, 1])
    grid = test.schema.outcome.time_grid()
    mdl.fit(release.X, release.time, release.event, sample_weight=getattr(release, "weight", None))
    surv = mdl.predict_survival(X_test, grid)
    risk = -surv.sum(axis=1)
    return survival_metrics(train.time, train.event, test.time, test.event, risk, surv, grid)


def mean_std(records: list[dict[str, float]]) -> dict[str, dict[str, float]]:
    """Mean and std (ddof=0) of every metric over seeds."""
    keys = sorted({k for r in records for k in r})
    return {
        k: {"mean": float(np.nanmean([r.get(k, np.nan) for r in records])), "std": float(np.nanstd([r.get(k, np.nan) for r in records]))}
        for k in keys
    }
