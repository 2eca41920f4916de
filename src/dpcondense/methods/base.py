"""The contract every condensation method follows, and the registry they live in.

A method is a scikit-learn-style estimator: the constructor only stores parameters;
``fit(dataset)`` learns the release and sets

- ``synthetic_``: the released rows in raw units (the dataset's columns plus its outcome columns),
- ``synthetic_encoded_``: the same rows in model space (:class:`SyntheticSet`),
- ``ledger_``: the :class:`~dpcondense.privacy.PrivacyLedger` of everything spent.

Evaluation always re-encodes ``synthetic_`` (exactly what is released), see
:func:`SyntheticSet.from_release`.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from dpcondense.conventions import TASKS, default_model, default_size, synthetic_rows
from dpcondense.data import Dataset
from dpcondense.data.encoder import Encoder
from dpcondense.params import ParamSpec
from dpcondense.privacy.ledger import LedgerEntry
from dpcondense.privacy.randomness import NOISE_MODES, NoiseMode, noise_generator
from dpcondense.registry import Registry
from dpcondense.data.schema import Schema

METHODS: Registry[type["CondensationMethod"]] = Registry("method")


def register_method(name: str):
    """Class decorator: register a condensation method under ``name``."""

    def deco(cls):
        cls.name = name
        return METHODS.register(name)(cls)

    return deco


@dataclass
class SyntheticSet:
    """Model-space rows and their targets (``y`` for classification, ``time``/``event`` for survival).

    ``weight`` (optional, one non-negative number per row) is released as the column
    :data:`WEIGHT_COLUMN` and passed to every model as ``sample_weight``. DP-ZO's soft labels use
    it: each synthetic point appears once per class, weighted by its learned label probability.
    """

    X: np.ndarray
    y: np.ndarray | None = None
    time: np.ndarray | None = None
    event: np.ndarray | None = None
    weight: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.X)

    def to_frame(self, schema: Schema) -> pd.DataFrame:
        """Decode to raw units with the dataset's column names (the release)."""
        frame = Encoder(schema).inverse_transform(self.X)
        out = schema.outcome
        if schema.task == "classification":
            frame[out.label] = np.where(np.asarray(self.y) == 1, out.positive, out.negative)
        else:
            frame[out.time] = np.asarray(self.time, dtype=float)
            frame[out.event] = np.asarray(self.event, dtype=np.int64)
        if self.weight is not None:
            if WEIGHT_COLUMN in frame.columns:
                raise ValueError(f"dataset column {WEIGHT_COLUMN!r} clashes with the release's weight column")
            frame[WEIGHT_COLUMN] = np.asarray(self.weight, dtype=float)
        return frame

    @classmethod
    def from_release(cls, frame: pd.DataFrame, schema: Schema) -> "SyntheticSet":
        """Re-encode a released raw frame: what every evaluation trains on."""
        from dpcondense.data import from_frame

        weight = None
        if WEIGHT_COLUMN in frame.columns and WEIGHT_COLUMN not in schema.feature_names:
            weight = frame[WEIGHT_COLUMN].to_numpy(dtype=float)
            frame = frame.drop(columns=[WEIGHT_COLUMN])
        ds = from_frame(frame, schema, source="synthetic release")
        return cls(X=ds.encoded(), y=ds.y, time=ds.time, event=ds.event, weight=weight)


#: the release column holding per-row training weights (absent when every row weighs 1)
WEIGHT_COLUMN = "sample_weight"


def balanced_labels(rows_per_class: int, n_classes: int = 2) -> np.ndarray:
    """``rows_per_class`` rows of each class, in class order (public: no privacy cost)."""
    return np.repeat(np.arange(n_classes), rows_per_class).astype(np.int64)


@dataclass(frozen=True)
class RunContext:
    """What a run hands a method at ``fit``: the family, the size, the budget and the seed.

    ``prior`` holds the spends already made on the same rows before the method ran (e.g. a DP
    row count), each with its event; ``epsilon`` and ``delta`` are then the whole run's budget.
    """

    model: str
    size: int
    epsilon: float | str
    delta: float
    random_state: int | np.random.Generator | None
    model_params: dict[str, Any] | None = None
    #: where noise and sampling come from: "secure" (OS-entropy CSPRNG) or "seeded" (benchmark mode)
    noise: str = "secure"
    #: ledger entries spent on the same rows before the method ran (methods with joint_accounting only)
    prior: tuple[LedgerEntry, ...] = ()


class CondensationMethod:
    """Base class of every condensation method (a scikit-learn-style estimator).

    The constructor takes the method's hyperparameters only; the run context (condensing family,
    size, ε, δ, seed) is given to :meth:`fit`, which stores it in ``context_`` and calls the
    method's ``_fit(dataset)``. Inside ``_fit`` the context reads as ``self.model``,
    ``self.size``, ``self.epsilon``, ``self.delta``, ``self.random_state``, ``self.model_params``,
    ``self.prior``.
    """

    name: ClassVar[str] = "?"
    # ---- capabilities (data, read by the runner, the report and the contract tests) ----
    #: version of the method's behaviour; bump it whenever its release changes for some input
    version: ClassVar[int] = 1
    #: a task whose releases have not changed since an older version keeps it (``task -> version``),
    #: so its runs keep their identities; :meth:`version_for` reads it
    task_versions: ClassVar[Mapping[str, int]] = {}
    #: parameters added after runs were recorded: at their constructor default they stay out of a
    #: run's identity (what the default does is covered by :meth:`version_for`), set to anything
    #: else they enter it like every other parameter
    late_params: ClassVar[tuple[str, ...]] = ()
    #: the name reports show (``None``: the registered name)
    label: ClassVar[str | None] = None
    #: True when the method reads real rows only through a DP mechanism
    private: ClassVar[bool] = False
    #: the tasks the method supports; ``fit`` on another task raises ``ValueError``
    tasks: ClassVar[tuple[str, ...]] = TASKS
    #: what the method releases: ``"rows"`` (a synthetic dataset) or ``"model"`` (a trained model)
    releases: ClassVar[str] = "rows"
    #: whether the release depends on ``random_state``
    stochastic: ClassVar[bool] = True
    #: whether ``size`` shapes the release (False: it releases what it releases, e.g. all rows)
    sized: ClassVar[bool] = True
    #: whether ``fit`` takes ``prior`` spends and composes them with its own against the whole budget
    joint_accounting: ClassVar[bool] = False
    #: type and range of every constructor keyword (``random_state``, ``progress`` and private
    #: ``_`` hooks aside), checked before any work; ``None``: not declared, the signature alone is checked
    param_specs: ClassVar[dict[str, ParamSpec] | None] = None

    @classmethod
    def version_for(cls, task: str | None) -> int:
        """The version of the method's behaviour on ``task`` (``None``: the method's version)."""
        return int(cls.task_versions.get(task, cls.version)) if task else int(cls.version)

    @classmethod
    def identity_params(cls, params: Mapping[str, Any]) -> dict[str, Any]:
        """``params`` as a run's identity hashes them: :attr:`late_params` at their default left out."""
        defaults = {
            name: p.default for name, p in inspect.signature(cls.__init__).parameters.items() if name in cls.late_params
        }
        return {k: v for k, v in params.items() if not (k in defaults and v == defaults[k])}

    @classmethod
    def display_name(cls) -> str:
        """The name shown in reports."""
        return cls.label or cls.name

    def check_task(self, task: str) -> None:
        """Raise ``ValueError`` (with :meth:`skip`'s reason) when the method does not apply to ``task``."""
        reason = self.skip(task)
        if reason is not None:
            raise ValueError(reason)

    @classmethod
    def check_run(cls, params: dict[str, Any], *, task: str, epsilon: float) -> None:
        """Refuse hyperparameters that are wrong only together or for this task/budget (before any run).

        Raises ``ValueError`` naming the parameters; the default accepts everything.
        """

    @classmethod
    def skip(cls, task: str) -> str | None:
        """Why the method does not apply to ``task`` (``None`` when it does)."""
        if task not in cls.tasks:
            return f"method {cls.name!r} supports {' and '.join(cls.tasks)} datasets only, not {task}"
        return None

    def __init__(self) -> None:
        """Subclasses take their hyperparameters (keyword-only) and only store them."""

    def get_params(self) -> dict[str, Any]:
        """The method's hyperparameters (the constructor's arguments)."""
        return {k: v for k, v in vars(self).items() if not k.endswith("_") and not k.startswith("_")}

    def fit(
        self,
        dataset: Dataset,
        *,
        model: str | None = None,
        size: int | None = None,
        epsilon: float | str = 1.0,
        delta: float = 1e-5,
        random_state: int | np.random.Generator | None = 0,
        model_params: dict[str, Any] | None = None,
        noise: NoiseMode = "secure",
        prior: Sequence[LedgerEntry] = (),
    ) -> "CondensationMethod":
        """Condense ``dataset`` (the private rows) under the run context given here.

        Parameters
        ----------
        dataset : Dataset
            The private training split.
        model : str, optional
            The condensing model family (default: the task's, ``decision_tree`` / ``cox_ph``).
        size : int, optional
            Rows per class for classification, total rows for survival (default 10 / 50).
        epsilon, delta : float
            The privacy target (``epsilon = inf`` for a non-private run).
        random_state : int or numpy.random.Generator
            Seed of everything random in the method.
        model_params : dict, optional
            Hyperparameters of the condensing family.
        noise : {"secure", "seeded"}
            Where the mechanisms' noise and sampling come from: ``"secure"`` (default), an
            OS-entropy CSPRNG, never recorded; ``"seeded"``, the benchmark mode, derived from
            ``random_state`` so the release is reproducible — the ledger says it is not for release.
        prior : sequence of LedgerEntry
            Spends already made on the same rows (e.g. a DP row count), each with its ``event``;
            ``epsilon`` and ``delta`` are then the whole run's budget. The method's ledger starts
            with them. Only for methods with ``joint_accounting``.

        Returns
        -------
        self
            With ``synthetic_``, ``synthetic_encoded_``, ``ledger_`` and ``context_`` set.
        """
        if noise not in NOISE_MODES:
            raise ValueError(f"noise={noise!r} must be one of: {', '.join(NOISE_MODES)}")
        prior = tuple(prior)
        if prior and not self.joint_accounting:
            raise ValueError(f"method {self.name!r} does not take prior spends (joint_accounting is False)")
        if not all(isinstance(e, LedgerEntry) for e in prior):
            raise TypeError("prior must hold LedgerEntry objects")
        self.context_ = RunContext(
            model=model or default_model(dataset.task),
            size=default_size(dataset.task) if size is None else size,
            epsilon=epsilon,
            delta=delta,
            random_state=random_state,
            model_params=model_params,
            noise=noise,
            prior=prior,
        )
        self._fit(dataset)
        self.ledger_.record_noise(noise)
        return self

    def _fit(self, dataset: Dataset) -> "CondensationMethod":  # pragma: no cover - interface
        raise NotImplementedError

    # the run context of the current fit, as the method's code reads it
    model = property(lambda self: self.context_.model, doc="The condensing family of the current fit.")
    size = property(lambda self: self.context_.size, doc="The synthetic size of the current fit.")
    epsilon = property(lambda self: self.context_.epsilon, doc="The ε target of the current fit.")
    delta = property(lambda self: self.context_.delta, doc="The δ target of the current fit.")
    random_state = property(lambda self: self.context_.random_state, doc="The seed of the current fit.")
    model_params = property(lambda self: self.context_.model_params, doc="The condensing family's hyperparameters.")
    prior = property(lambda self: self.context_.prior, doc="The spends made on the same rows before the fit.")

    # helpers shared by methods --------------------------------------------------------
    def _noise_rng(self, seed: np.random.SeedSequence) -> np.random.Generator:
        """The generator of a mechanism's noise or sampling (``seed`` is used in seeded mode only)."""
        return noise_generator(self.context_.noise, seed)

    def _n_synthetic(self, task: str) -> int:
        if int(self.size) < 1:
            raise ValueError(f"size must be >= 1 (rows per class for classification, total rows for survival), got {self.size}")
        return synthetic_rows(task, self.size)

    def _set_release(self, synthetic: SyntheticSet, schema: Schema) -> None:
        """Decode, then re-encode what is released, so downstream uses exactly the release."""
        self.synthetic_ = synthetic.to_frame(schema)
        self.synthetic_encoded_ = SyntheticSet.from_release(self.synthetic_, schema)
