"""One condensation run end to end: split, condense, evaluate (shared by the CLI and the Hydra app)."""

from __future__ import annotations

import time
from typing import Any

from dpcondense.data import Dataset, train_test_split
from dpcondense.datasets import load_dataset
from dpcondense.evaluate import evaluate_release
from dpcondense.methods import make_method


def condense(
    *,
    dataset_name: str | None = None,
    dataset: Dataset | None = None,
    method: str,
    model: str,
    eval_models: list[str],
    epsilon: float,
    delta: float,
    size: int,
    seed: int,
    method_params: dict[str, Any] | None = None,
    references: bool = True,
    eval_model_params: dict[str, dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Split, condense, evaluate. Returns the release, ledger, metrics and timings.

    ``eval_model_params`` maps an eval model name to its hyperparameters (default: the family's).
    Give exactly one of ``dataset_name`` (a built-in dataset) or ``dataset`` (a loaded
    :class:`~dpcondense.data.Dataset`, e.g. a custodian's CSV); both take the same split.
    """
    if (dataset is None) == (dataset_name is None):
        raise ValueError("condense() needs exactly one of dataset_name= or dataset=")
    eval_params = eval_model_params or {}
    if dataset is None:
        dataset = load_dataset(dataset_name)
    train, test = train_test_split(dataset, seed=seed)
    est = make_method(
        method, model=model, size=size, epsilon=epsilon, delta=delta, random_state=seed, **(method_params or {})
    )
    t0 = time.perf_counter()
    est.fit(train)
    wall = time.perf_counter() - t0
    metrics: dict[str, Any] = {
        em: evaluate_release(est.synthetic_encoded_, train, test, em, random_state=seed, model_params=eval_params.get(em))
        for em in eval_models
    }
    if references:
        for ref in ("full_data", "random_subset"):
            ref_est = make_method(ref, model=model, size=size, delta=delta, random_state=seed).fit(train)
            metrics[ref] = {
                em: evaluate_release(ref_est.synthetic_encoded_, train, test, em, random_state=seed, model_params=eval_params.get(em))
                for em in eval_models
            }
    return {
        "estimator": est,
        "synthetic": est.synthetic_,
        "ledger": est.ledger_,
        "metrics": metrics,
        "wall_seconds": wall,
        "config": {
            "dataset": dataset_name or dataset.name,
            "method": method,
            "model": model,
            "eval_models": eval_models,
            "epsilon": epsilon,
            "delta": delta,
            "size": size,
            "seed": seed,
            "method_params": method_params or {},
        },
    }


