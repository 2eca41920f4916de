"""Fit cost of every registered condensation method, one dataset per task, small settings.

Size 10 (rows per class / rows) on pima_diabetes (classification) and gbsg (survival), the task's
default condensing family, each method's ``conf/method/<name>.yaml`` parameters with the
iterative ones shortened (:data:`SMALL`). DP methods run at ε = 1, the others at ε = ∞. A method
registered in ``dpcondense.methods.METHODS`` is benchmarked with no edit here; a method that
rejects a task (``ValueError`` "... datasets only") is skipped for it.
"""

from __future__ import annotations

import math
import re
from typing import Any

import pytest
from omegaconf import OmegaConf

from dpcondense.conventions import default_model, to_jsonable
from dpcondense.methods import METHODS, make_method
from dpcondense.models.defaults import family_params
from dpcondense.paths import CONF_DIR

DATASETS = ("pima_diabetes", "gbsg")
SIZE = 10
DELTA = 1e-5
#: fewer iterations for the iterative methods, so the suite stays a few minutes
SMALL: dict[str, dict[str, Any]] = {"dpzo": {"steps": 5}, "dp_dm": {"steps": 20}}
#: how a method says it does not support a dataset's task
_UNSUPPORTED = re.compile(r"supports \w+ datasets only")


def method_params(name: str) -> dict[str, Any]:
    """The method's parameters from ``conf/method/<name>.yaml`` ({} without a file), shortened."""
    path = CONF_DIR / "method" / f"{name}.yaml"
    params = (OmegaConf.to_container(OmegaConf.load(path)).get("params") or {}) if path.is_file() else {}
    return {**params, **SMALL.get(name, {})}


@pytest.mark.parametrize("dataset", DATASETS)
@pytest.mark.parametrize("method", METHODS.names())
def test_method_fit(benchmark, measure, split, method: str, dataset: str) -> None:
    benchmark.group = f"methods: fit at size {SIZE}, {dataset}"
    train, _ = split(dataset)
    model = default_model(train.task)
    epsilon = 1.0 if METHODS.get(method).private else math.inf
    params = method_params(method)

    def fit() -> Any:
        return make_method(method, **params).fit(train, model=model, size=SIZE, epsilon=epsilon, delta=DELTA, random_state=0, model_params=family_params(model))

    try:
        est = measure(fit, rounds=3)
    except ValueError as exc:
        if _UNSUPPORTED.search(str(exc)):
            pytest.skip(f"{method} on {dataset}: {exc}")
        raise
    # inf as the string "inf": the saved JSON stays strict
    benchmark.extra_info.update({"epsilon": to_jsonable(epsilon), "epsilon_spent": to_jsonable(float(est.ledger_.total_epsilon)),
                                 "rows": int(len(est.synthetic_))})
    # dp_direct releases a model, not rows: the ledger is what every method has
    assert est.ledger_.total_epsilon <= epsilon
