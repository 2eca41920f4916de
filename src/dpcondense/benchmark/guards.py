"""Run-level guards, checked by :func:`~dpcondense.benchmark.resolve.resolve_run` before any work.

Each parameter is checked on its own against its declared range (:mod:`dpcondense.params`); the
guards here check what only the whole run shows: an ε so large that its noise is irrelevant, a
synthetic set larger than the data it condenses, and inputs whose product would allocate or
compute out of proportion. Every limit is a constant with its reason.
"""

from __future__ import annotations

import inspect
import math
from dataclasses import dataclass
from typing import Any, Callable, Mapping

from dpcondense.benchmark.spec import RunConfigError
from dpcondense.conventions import synthetic_rows
from dpcondense.data.schema import Schema, SchemaError
from dpcondense.methods import CondensationMethod

#: the largest finite ε a run accepts (larger: use ``inf``). No guarantee survives it (the
#: likelihood ratio bound e^100 ≈ 2.7e43), and DP-ZO's calibrated noise is already negligible:
#: at the defaults (T = 200, q = 256/n) its multiplier is ≈ 0.3–1, a noise std of at most C on a
#: batch sum of ~256 clipped terms. Calibrating it costs what it costs at ε = 1 (< 1 s at the
#: defaults, ≤ 4 s at q = 0.001, T = 2000), while larger ε get slower and hungrier: measured at
#: the defaults, 0.7–3.3 s at ε = 1e3 (23 s and 1.7 GB at q = 0.001, T = 2000), 12–21 s at 1e4, and
#: ε = 1e300 computes for minutes before allocating 2.3 TiB.
MAX_EPSILON = 100.0
#: the most numbers one array of a run may hold when its size follows the inputs: 2^27 float64
#: = 1 GiB, on machines where several runs share the memory
MAX_CELLS = 2**27
#: the most model fits one DP-ZO run may make (steps × 2 directions × bagging): the defaults make
#: 3,200, the longest preset (paper_convergence, 1000 steps) 16,000; 10^6 fits are 15 minutes
#: (a tree on 20 rows) to 14 hours (DeepSurv)
MAX_MODEL_FITS = 10**6
#: the most (step × synthetic row × random feature) updates one dp_dm run may make: the defaults
#: make 7.7·10^5, 10 rows per class of the largest built-in dataset 2.6·10^8; at the measured ~60 ns
#: each, 10^10 is 10 minutes
MAX_MATCHING_WORK = 10**10


@dataclass(frozen=True)
class RunShape:
    """What the guards need to know of a resolved run (public numbers only)."""

    dataset: str
    task: str
    method: type[CondensationMethod]
    params: Mapping[str, Any]
    size: int
    #: training rows the method is fitted on, when public (``None``: not public)
    rows: int | None
    #: model-space columns of the dataset (``None``: unknown)
    columns: int | None
    #: a custodian's file (messages then speak of its public size, never of its rows)
    csv: bool = False
    #: the run's ε (some option combinations are refused only at a finite ε)
    epsilon: float = math.inf

    def param(self, name: str) -> Any:
        """The method parameter ``name``: as configured, else the constructor's default."""
        if name in self.params:
            return self.params[name]
        return inspect.signature(self.method.__init__).parameters[name].default

    def rows_text(self) -> str:
        if self.csv:
            return f"the public size of your file is {self.rows} rows"
        return f"dataset={self.dataset} has {self.rows} training rows"


def check_epsilon(epsilon: float) -> None:
    """Refuse a finite ε above :data:`MAX_EPSILON` (the run would be private in name only)."""
    if math.isfinite(epsilon) and epsilon > MAX_EPSILON:
        raise RunConfigError(
            f"privacy.epsilon={epsilon:g} is above {MAX_EPSILON:g}: no guarantee survives it and its noise is "
            "negligible; use privacy.epsilon=inf for a non-private run"
        )


def check_resources(shape: RunShape) -> None:
    """Refuse a run whose inputs ask for more rows than the data has, or too much memory or work.

    Raises
    ------
    RunConfigError
        Naming the keys, their values, the product and its limit.
    """
    _check_size(shape)
    try:
        shape.method.check_run(dict(shape.params), task=shape.task, epsilon=shape.epsilon)
    except ValueError as exc:
        raise RunConfigError(f"method={shape.method.name}: {exc}") from None
    for guard in _GUARDS.get(shape.method.name, ()):
        guard(shape)


def encoded_columns(dataset_cfg: Mapping[str, Any]) -> int | None:
    """Model-space columns of a dataset card (``None`` when the card is not a complete schema)."""
    try:
        schema = Schema.from_dict(dataset_cfg, source=f"dataset {dataset_cfg.get('name')}")
    except SchemaError:
        return None
    return sum(f.n_encoded for f in schema.features)


# ---------------------------------------------------------------------------------- the guards


def _check_size(shape: RunShape) -> None:
    """A release of more synthetic rows than training rows condenses nothing."""
    method = shape.method
    if shape.rows is None or not method.sized or method.releases != "rows":
        return
    n = synthetic_rows(shape.task, shape.size)
    if n > shape.rows:
        per_class = shape.task == "classification"
        largest = shape.rows // 2 if per_class else shape.rows
        unit = f"2 classes × size {shape.size}" if per_class else f"size {shape.size}"
        raise RunConfigError(
            f"size={shape.size} asks for {n} synthetic rows ({unit}) but {shape.rows_text()}: a release larger "
            f"than its data condenses nothing; choose size <= {largest}"
        )


def _dpzo_fits(shape: RunShape) -> None:
    steps, directions, bagging = (shape.param(k) for k in ("steps", "directions", "bagging"))
    fits = steps * 2 * directions * bagging
    if fits > MAX_MODEL_FITS:
        raise RunConfigError(
            f"method.params.steps={steps}, directions={directions}, bagging={bagging}: {fits:,} model fits "
            f"(steps × 2 × directions × bagging), more than the {MAX_MODEL_FITS:,} a run may make; lower one of them"
        )


def _dpzo_step_arrays(shape: RunShape) -> None:
    """Each step holds K directions of the synthetic rows and K loss differences per batch row."""
    if shape.columns is None:
        return
    directions = shape.param("directions")
    m = synthetic_rows(shape.task, shape.size)
    width = shape.columns + 2  # a survival time and a soft-label logit at most
    cells = directions * (m * width + (shape.rows or 0))
    if cells > MAX_CELLS:
        raise RunConfigError(
            f"method.params.directions={directions} with size={shape.size}: each step would hold {cells:,} numbers "
            f"({directions} directions × {m} synthetic rows × {width} columns, plus the batch), more than the "
            f"{MAX_CELLS:,} (1 GiB) a run may allocate; lower directions or size"
        )


def _dp_dm_features(shape: RunShape) -> None:
    """The random features of every real row are one array; each step updates every synthetic row's."""
    n_features, steps = shape.param("n_features"), shape.param("steps")
    m = synthetic_rows(shape.task, shape.size)
    rows = max(shape.rows or 0, m)
    if rows * n_features > MAX_CELLS:
        raise RunConfigError(
            f"method.params.n_features={n_features}: the random features of {rows} rows would hold "
            f"{rows * n_features:,} numbers, more than the {MAX_CELLS:,} (1 GiB) a run may allocate; lower n_features"
        )
    if steps * m * n_features > MAX_MATCHING_WORK:
        raise RunConfigError(
            f"method.params.steps={steps}, n_features={n_features} with size={shape.size}: {steps * m * n_features:,} "
            f"updates (steps × {m} synthetic rows × n_features), more than the {MAX_MATCHING_WORK:,} a run may make; "
            "lower steps, n_features or size"
        )


def _dp_direct_trees(shape: RunShape) -> None:
    """The leaf counts of every tree are one array (and every row's leaf in every tree another)."""
    if shape.param("estimator") != "random_trees":
        return
    n_trees, depth = shape.param("n_trees"), shape.param("depth")
    cells = max(n_trees * 2**depth * 2, (shape.rows or 0) * n_trees)
    if cells > MAX_CELLS:
        raise RunConfigError(
            f"method.params.n_trees={n_trees}, depth={depth}: the random trees would hold {cells:,} numbers "
            f"({n_trees} trees × 2^{depth} leaves × 2 classes, or rows × trees), more than the {MAX_CELLS:,} "
            "(1 GiB) a run may allocate; lower n_trees or depth"
        )


def _release_rows(shape: RunShape) -> None:
    """An explicit sample count is a release size: no larger than the data."""
    n_samples = shape.param("n_samples")
    if isinstance(n_samples, str) or shape.rows is None or n_samples <= shape.rows:
        return
    raise RunConfigError(
        f"method.params.n_samples={n_samples} asks for more synthetic rows than the data holds ({shape.rows_text()}): "
        f"choose n_samples <= {shape.rows}, or n_samples=large for the training-set size"
    )


def _dp_marginals_bins(shape: RunShape) -> None:
    """A measured pair of attributes is one table of (bins × bins) cells."""
    bins = max(shape.param("n_bins"), shape.param("n_time_bins"))
    if (bins + 1) ** 2 > MAX_CELLS:
        raise RunConfigError(
            f"method.params.n_bins / n_time_bins={bins}: a 2-way marginal would hold {(bins + 1) ** 2:,} cells, more "
            f"than the {MAX_CELLS:,} (1 GiB) a run may allocate; lower the bins"
        )


#: the guards of each built-in method whose allocations follow its parameters
_GUARDS: dict[str, tuple[Callable[[RunShape], None], ...]] = {
    "dpzo": (_dpzo_fits, _dpzo_step_arrays),
    "dp_dm": (_dp_dm_features,),
    "dp_direct": (_dp_direct_trees,),
    "dp_marginals": (_release_rows, _dp_marginals_bins),
    "aim": (_release_rows,),
    "dp_merf": (_release_rows,),
    "private_evolution": (_release_rows,),
}
