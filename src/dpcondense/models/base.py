"""One interface for every model family, and the bounded per-example losses of docs/design.md §2.

Classification families implement ``_fit(X, y, sample_weight)`` and ``_predict_proba(X)``
(probability of class 1); survival families implement ``_fit(X, time, event, sample_weight)``
and ``_predict_survival(X, grid)``. The base classes add input checks, the small-data fallbacks
every family needs (one class only, no events), and the losses, so each family module stays a
thin wrapper around its learner.
"""

from __future__ import annotations

import warnings
from contextlib import contextmanager
from typing import Any, ClassVar, Iterator

import numpy as np
from threadpoolctl import ThreadpoolController

from dpcondense.params import ParamSpec, check_params
from dpcondense.registry import Registry

#: Probabilities are clipped to [P_MIN, 1 - P_MIN] inside every loss, so each per-example loss
#: lies in [0, -log(P_MIN)] and per-example clipping has a meaningful scale.
P_MIN = 1e-3

MODELS: Registry[type["ModelFamily"]] = Registry("model")


def register_model(name: str):
    """Class decorator: register a model family under ``name`` and set its ``name``."""

    def deco(cls):
        cls.name = name
        return MODELS.register(name)(cls)

    return deco


def make_model(name: str, *, random_state: int | np.random.Generator | None = None, **params: Any) -> "ModelFamily":
    """Instantiate the registered family ``name`` with hyperparameters ``params``.

    Raises
    ------
    ValueError
        A parameter the family does not declare, or a value outside its ``param_specs``.
    """
    family = MODELS.get(name)
    if family.param_specs is not None:
        check_params(f"model {name!r}", family.param_specs, params)
    return family(random_state=random_state, **params)


_THREADPOOLS: list[ThreadpoolController] = []


@contextmanager
def quiet_single_thread() -> Iterator[None]:
    """For one fit or predict: silence the learners' warnings and run BLAS/OpenMP on one thread.

    Multi-threaded BLAS on 2–200-row problems is mostly synchronisation (10–20× slower on a
    busy machine), and parallel DP-ZO workers must not oversubscribe the cores.
    """
    if not _THREADPOOLS:  # discovering the loaded BLAS/OpenMP libraries is slow: do it once
        _THREADPOOLS.append(ThreadpoolController())
    with warnings.catch_warnings(), _THREADPOOLS[0].limit(limits=1):
        warnings.simplefilter("ignore")
        yield


def seed_from(random_state: int | np.random.Generator | None) -> int:
    """An integer seed for learners that take one (a Generator is consumed once)."""
    if random_state is None:
        return 0
    if isinstance(random_state, np.random.Generator):
        return int(random_state.integers(0, 2**31 - 1))
    return int(random_state)


class ModelFamily:
    """Common parts of every family: stored hyperparameters and a ``random_state``."""

    name: ClassVar[str] = "?"
    # ---- capabilities (data, read by methods, the report and the contract tests) ----
    #: version of the family's behaviour; bump it whenever its fit or predictions change
    version: ClassVar[int] = 1
    #: the name reports show (``None``: the registered name)
    label: ClassVar[str | None] = None
    task: ClassVar[str] = "?"
    #: whether a fit depends on ``random_state`` (False: the same rows give the same model)
    stochastic: ClassVar[bool] = True
    #: True for tree learners: piecewise constant in the training rows (leaf values jump as a row
    #: crosses a split). DP-ZO's ``labels="auto"`` gives such families soft labels.
    piecewise_constant: ClassVar[bool] = False
    #: type and range of every constructor keyword but ``random_state``, checked before any work;
    #: ``None``: not declared (any keyword reaches the learner)
    param_specs: ClassVar[dict[str, ParamSpec] | None] = None

    @classmethod
    def display_name(cls) -> str:
        """The name shown in reports."""
        return cls.label or cls.name

    def __init__(self, *, random_state: int | np.random.Generator | None = None, **params: Any) -> None:
        self.random_state = random_state
        self.params = params

    @classmethod
    def _fit_prepared(cls, models: list, data: list[tuple]) -> list:
        """Prepare each model's data (``_prepare``: checks, priors, the constant case), then fit
        the non-constant ones together through :meth:`_fit_many`, on one thread."""
        todo = [(m, m._prepare(*d)) for m, d in zip(models, data, strict=True)]
        todo = [(m, d) for m, d in todo if not m.constant_]
        if todo:
            with quiet_single_thread():
                cls._fit_many([m for m, _ in todo], [d for _, d in todo])
        return models

    def get_params(self) -> dict[str, Any]:
        return {"random_state": self.random_state, **self.params}

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in self.get_params().items())})"


class ClassificationModel(ModelFamily):
    """Binary classifier on model-space arrays. Subclasses implement ``_fit``/``_predict_proba``."""

    task: ClassVar[str] = "classification"

    def fit(self, X: np.ndarray, y: np.ndarray, sample_weight: np.ndarray | None = None) -> "ClassificationModel":
        return type(self).fit_many([self], [(X, y, sample_weight)])[0]

    @classmethod
    def fit_many(cls, models: list["ClassificationModel"], data: list[tuple]) -> list["ClassificationModel"]:
        """Fit each model on its own ``(X, y, sample_weight)``; the same result as ``fit`` one by one.

        Families whose fits vectorise across data sets override :meth:`_fit_many` (DP-ZO fits the
        2K perturbed candidates of a step through this).
        """
        return cls._fit_prepared(models, data)

    def _prepare(self, X, y, sample_weight=None) -> tuple:
        X = np.asarray(X, dtype=float)
        y = np.asarray(y).astype(np.int64).ravel()
        if X.ndim != 2 or len(X) != len(y):
            raise ValueError(f"X must be 2-D with len(y) rows, got X {X.shape}, y {y.shape}")
        self.n_features_in_ = X.shape[1]
        w = None if sample_weight is None else np.asarray(sample_weight, dtype=float)
        total = len(y) if w is None else w.sum()
        pos = y.sum() if w is None else w[y == 1].sum()
        self.prior_ = float(np.clip((pos + 0.5) / (total + 1.0), P_MIN, 1 - P_MIN))
        # one class (or no rows): the only sensible predictor is the smoothed prior
        self.constant_ = len(np.unique(y)) < 2
        return X, y, w

    @classmethod
    def _fit_many(cls, models: list["ClassificationModel"], data: list[tuple]) -> None:
        """Fit non-constant models on their prepared data (one by one unless a family vectorises)."""
        for m, (X, y, w) in zip(models, data, strict=True):
            m._fit(X, y, w)

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """Class probabilities, shape (n, 2): columns P(y=0), P(y=1)."""
        X = np.asarray(X, dtype=float)
        if self.constant_:
            p1 = np.full(len(X), self.prior_)
        else:
            with quiet_single_thread():
                p1 = np.asarray(self._predict_proba(X), dtype=float).reshape(len(X))
            # a diverged fit degrades to the prior rather than propagating NaN into the losses
            p1 = np.clip(np.where(np.isfinite(p1), p1, self.prior_), 0.0, 1.0)
        return np.column_stack([1.0 - p1, p1])

    def loss(self, X: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Per-example clipped log-loss ``-log p̂(y_i | x_i)``, in [0, -log(P_MIN)]."""
        return classification_loss(self.predict_proba(X)[:, 1], y)

    # subclasses
    def _fit(self, X: np.ndarray, y: np.ndarray, sample_weight: np.ndarray | None) -> None:
        raise NotImplementedError

    def _predict_proba(self, X: np.ndarray) -> np.ndarray:
        raise NotImplementedError


class SurvivalModel(ModelFamily):
    """Survival model on model-space arrays. Subclasses implement ``_fit``/``_predict_survival``."""

    task: ClassVar[str] = "survival"

    def fit(
        self,
        X: np.ndarray,
        time: np.ndarray,
        event: np.ndarray,
        sample_weight: np.ndarray | None = None,
    ) -> "SurvivalModel":
        return type(self).fit_many([self], [(X, time, event, sample_weight)])[0]

    @classmethod
    def fit_many(cls, models: list["SurvivalModel"], data: list[tuple]) -> list["SurvivalModel"]:
        """Fit each model on its own ``(X, time, event, sample_weight)``; the same as ``fit`` one by one.

        Families whose fits vectorise across data sets override :meth:`_fit_many`.
        """
        return cls._fit_prepared(models, data)

    def _prepare(self, X, time, event, sample_weight=None) -> tuple:
        X = np.asarray(X, dtype=float)
        time = np.asarray(time, dtype=float).ravel()
        event = np.asarray(event).astype(np.int64).ravel()
        if X.ndim != 2 or not (len(X) == len(time) == len(event)):
            raise ValueError(f"X, time, event need matching rows, got {X.shape}, {time.shape}, {event.shape}")
        self.n_features_in_ = X.shape[1]
        w = None if sample_weight is None else np.asarray(sample_weight, dtype=float)
        self.km_times_, self.km_surv_ = kaplan_meier(time, event, w)
        # no events (or a single row): the Kaplan–Meier curve is the sensible predictor
        self.constant_ = event.sum() == 0 or len(time) < 2
        return X, time, event, w

    @classmethod
    def _fit_many(cls, models: list["SurvivalModel"], data: list[tuple]) -> None:
        """Fit non-constant models on their prepared data (one by one unless a family vectorises)."""
        for m, (X, time, event, w) in zip(models, data, strict=True):
            m._fit(X, time, event, w)

    def predict_survival(self, X: np.ndarray, grid: np.ndarray) -> np.ndarray:
        """Survival probabilities Ŝ(t | x) on ``grid``, shape (n, len(grid)), non-increasing in t."""
        X = np.asarray(X, dtype=float)
        grid = np.asarray(grid, dtype=float)
        km = step_function(self.km_times_, self.km_surv_, grid)
        if self.constant_:
            s = np.tile(km, (len(X), 1))
        else:
            with quiet_single_thread():
                s = np.asarray(self._predict_survival(X, grid), dtype=float).reshape(len(X), len(grid))
            # a diverged fit degrades to Kaplan–Meier rather than propagating NaN into the losses
            s = np.where(np.isfinite(s), s, km[None, :])
        s = np.clip(s, 0.0, 1.0)
        return np.minimum.accumulate(s, axis=1)

    def predict_risk(self, X: np.ndarray, grid: np.ndarray) -> np.ndarray:
        """A risk score for concordance: minus the sum of the survival curve over the grid."""
        return -self.predict_survival(X, grid).sum(axis=1)

    def loss(self, X: np.ndarray, time: np.ndarray, event: np.ndarray, grid: np.ndarray) -> np.ndarray:
        """Per-example survival-curve negative log-likelihood on the public grid (docs/design.md §2)."""
        return survival_loss(self.predict_survival(X, grid), time, event, grid)

    def _fit(self, X, time, event, sample_weight) -> None:
        raise NotImplementedError

    def _predict_survival(self, X: np.ndarray, grid: np.ndarray) -> np.ndarray:
        raise NotImplementedError


# ---------------------------------------------------------------------- losses


def classification_loss(p1: np.ndarray, y: np.ndarray, *, p_min: float = P_MIN) -> np.ndarray:
    """``-log p̂(y | x)`` with p̂ clipped to [p_min, 1 - p_min]."""
    p1 = np.clip(np.asarray(p1, dtype=float), p_min, 1.0 - p_min)
    y = np.asarray(y).ravel()
    return -np.log(np.where(y == 1, p1, 1.0 - p1))


def survival_loss(
    surv: np.ndarray, time: np.ndarray, event: np.ndarray, grid: np.ndarray, *, p_min: float = P_MIN
) -> np.ndarray:
    """Separable per-patient NLL of the observed outcome under a survival curve on a grid.

    With ``g_0 = 0`` (Ŝ = 1) and the grid ``g_1 < … < g_G``: an event at ``t`` in
    ``(g_{j-1}, g_j]`` costs ``-log(Ŝ(g_{j-1}) - Ŝ(g_j))``; a patient censored at ``t`` (or with
    an event after ``g_G``) costs ``-log Ŝ(g_k)`` at the last grid point ``g_k ≤ t``.
    Probabilities are clipped below at ``p_min``, so each loss lies in [0, -log(p_min)].
    """
    surv = np.asarray(surv, dtype=float)
    time = np.asarray(time, dtype=float).ravel()
    event = np.asarray(event).ravel().astype(bool)
    grid = np.asarray(grid, dtype=float)
    n, G = surv.shape
    padded = np.concatenate([np.ones((n, 1)), surv], axis=1)  # column k is Ŝ(g_k), g_0 = 0
    rows = np.arange(n)
    # event interval j: smallest j with t <= g_j  (1-based); > G means after the horizon
    j = np.searchsorted(grid, time, side="left") + 1
    in_grid = j <= G
    jj = np.minimum(j, G)
    p_event = padded[rows, jj - 1] - padded[rows, jj]
    # censoring: last grid point g_k <= t (k = 0 before the first grid point)
    k = np.searchsorted(grid, time, side="right")
    p_surv = padded[rows, k]
    use_event = event & in_grid
    p = np.where(use_event, p_event, p_surv)
    return -np.log(np.clip(p, p_min, 1.0))


# ---------------------------------------------------------------------- helpers


def kaplan_meier(
    time: np.ndarray, event: np.ndarray, weight: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Weighted Kaplan–Meier estimate: distinct event times and Ŝ just after each."""
    time = np.asarray(time, dtype=float)
    event = np.asarray(event).astype(bool)
    w = np.ones_like(time) if weight is None else np.asarray(weight, dtype=float)
    if len(time) == 0 or not event.any():
        return np.zeros(0), np.zeros(0)
    order = np.argsort(time, kind="stable")
    t_sorted, w_sorted = time[order], w[order]
    at_risk_after = np.cumsum(w_sorted[::-1])[::-1]  # weight with time >= t_sorted[i]
    ev_order = np.argsort(time[event], kind="stable")
    uniq, starts = np.unique(time[event][ev_order], return_index=True)
    deaths = np.add.reduceat(w[event][ev_order], starts)  # event weight at each distinct time
    at_risk = at_risk_after[np.searchsorted(t_sorted, uniq, side="left")]
    surv = np.cumprod(1.0 - deaths / np.maximum(at_risk, 1e-300))
    return uniq, surv


def step_function(times: np.ndarray, values: np.ndarray, grid: np.ndarray, *, initial: float = 1.0) -> np.ndarray:
    """Right-continuous step function: value at the last ``times`` ≤ grid point (``initial`` before)."""
    idx = np.searchsorted(times, grid, side="right")
    padded = np.concatenate([[initial], values])
    return padded[idx]
