"""The audit's fixed data: the audit rows, an equally large held-out set, and the canary worlds.

Shared by :mod:`~dpcondense.privacy.audit.runner` (the black-box audit, with its IN and OUT
worlds) and :mod:`~dpcondense.privacy.audit.whitebox_runner` (DP-ZO's white-box audit, which
needs the rows only).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split as _sk_split

from dpcondense.conventions import default_model
from dpcondense.data import Dataset, from_frame, train_test_split
from dpcondense.datasets import load_dataset
from dpcondense.privacy.audit.attack import (
    Statistic,
    ThresholdRule,
    _canary_arrays,
    _with_canary,
    craft_canary,
    fixed_threshold,
)
from dpcondense.privacy.validation import validate_privacy_params

#: audit training rows drawn from the training split by default (DP-ZO's default audit batch
#: of 64 is then a Poisson rate q = 0.32)
AUDIT_ROWS = 200


def audit_data(dataset: Dataset, *, n_rows: int | None, seed: int) -> tuple[Dataset, Dataset]:
    """The fixed audit training rows (from the training split) and an equally large held-out set.

    Both are stratified, seeded subsamples; ``n_rows=None`` uses the whole training split.
    """
    train, test = train_test_split(dataset, seed=seed)
    if n_rows is not None and n_rows < 4:
        raise ValueError(f"n_rows must be >= 4 (audit training rows), got {n_rows}")
    if n_rows is None or n_rows >= train.n_rows:
        picked = train
    else:
        idx, _ = _sk_split(np.arange(train.n_rows), train_size=n_rows, random_state=seed, stratify=train.strata())
        picked = train.subset(np.sort(idx))
    if picked.n_rows >= test.n_rows:
        return picked, test
    idx, _ = _sk_split(np.arange(test.n_rows), train_size=picked.n_rows, random_state=seed, stratify=test.strata())
    return picked, test.subset(np.sort(idx))


@dataclass
class AuditWorlds:
    """The audit's fixed data: the OUT world (``base``), the IN world, the held-out rows and the canary."""

    base: Dataset
    holdout: Dataset
    with_canary: Dataset
    canary: pd.DataFrame
    canary_X: np.ndarray
    canary_targets: dict[str, np.ndarray]
    grid: np.ndarray | None
    X_in: np.ndarray
    X_out: np.ndarray
    X_hold: np.ndarray


def audit_dataset(
    dataset: str | Dataset, model: str | None, *, statistic: Statistic, threshold: ThresholdRule
) -> tuple[Dataset, str]:
    """The dataset (loaded by name if needed) and the condensing family (the task's default if None)."""
    ds = load_dataset(dataset) if isinstance(dataset, str) else dataset
    if model is None:
        model = default_model(ds.task)
    if threshold == "fixed":
        fixed_threshold(statistic, ds.task)  # raises if undefined
    return ds, model


def audit_worlds(
    ds: Dataset, *, n_rows: int | None, seed: int, corner: Literal["far", "other_class"], eps: float, delta: float
) -> AuditWorlds:
    """Draw the audit rows, check the budget against their public n, and craft the canary."""
    base, holdout = audit_data(ds, n_rows=n_rows, seed=seed)
    n_public = base.n_rows  # the same public n in both worlds: n must not reveal membership
    validate_privacy_params(epsilon=eps, delta=delta, n=n_public + 1)
    canary = craft_canary(base, corner=corner)
    with_canary = _with_canary(base, canary)
    canary_ds = from_frame(canary, ds.schema, source="canary")
    canary_X, canary_targets = _canary_arrays(canary_ds)
    grid = ds.schema.outcome.time_grid() if ds.task == "survival" else None
    return AuditWorlds(
        base=base,
        holdout=holdout,
        with_canary=with_canary,
        canary=canary,
        canary_X=canary_X,
        canary_targets=canary_targets,
        grid=grid,
        X_in=with_canary.encoded(),
        X_out=base.encoded(),
        X_hold=holdout.encoded(),
    )
