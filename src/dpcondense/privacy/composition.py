"""Joint accounting of the mechanisms of one run.

A run may release a DP count (Laplace), a warm start and a label teacher (one-shot Gaussian
mechanisms) and T Poisson-subsampled Gaussian steps. Adding their epsilons (basic composition)
is valid but loose; composing their privacy loss distributions is tight. This module describes
each mechanism as a :class:`PrivacyEvent` (serialisable, mapped to a ``dp_accounting`` event),
composes a list of them (:func:`joint_epsilon`) and calibrates the steps' noise against what
the other mechanisms already spend (:func:`calibrate_joint`).

``dp_accounting``'s PLD accountant supports Laplace, Gaussian and Poisson-subsampled Gaussian
events but not zCDP ones (a rho-zCDP guarantee has no privacy loss distribution); its RDP
accountant supports all four.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple

import dp_accounting
from dp_accounting.rdp import rdp_privacy_accountant

from dpcondense.conventions import from_json_number
from dpcondense.privacy.accounting import (
    _NEIGHBOURING,
    PLD_MAX_DISCRETIZATION_INTERVAL,
    PLD_MIN_DISCRETIZATION_INTERVAL,
    RDP_ORDERS,
    _check_grid,
    _quiet_rdp,
    make_dp_event,
    pld_discretization_interval,
)
from dpcondense.privacy.mechanisms import epsilon_gaussian
from dpcondense.privacy.pld import SharedStepsPLDAccountant, clear_shared_pld_cache
from dpcondense.privacy.search import calibration_search
from dpcondense.privacy.validation import (
    Accountant,
    PrivacyParameterError,
    _as_real,
    _check_accountant,
    _check_delta,
    _check_positive,
    _check_sampling_rate,
    _check_steps,
    _fmt,
    parse_epsilon,
)

EventKind = Literal["laplace", "gaussian", "subsampled_gaussian", "zcdp", "pure"]

#: The parameters each event kind carries (and the only keys of its :meth:`PrivacyEvent.to_dict`).
EVENT_FIELDS: dict[str, tuple[str, ...]] = {
    "laplace": ("epsilon",),
    "gaussian": ("noise_multiplier",),
    "subsampled_gaussian": ("noise_multiplier", "sampling_rate", "steps"),
    "zcdp": ("rho",),
    # any pure epsilon-DP mechanism (e.g. the discrete Laplace count): composed by adding its epsilon
    "pure": ("epsilon",),
}
_PARAMETERS = ("epsilon", "noise_multiplier", "sampling_rate", "steps", "rho")


def _check_nonnegative(value: Any, name: str) -> float:
    v = _as_real(value, name)
    if v < 0:
        raise PrivacyParameterError(f"{name}={value!r} must satisfy {name} >= 0 (or be inf)")
    return v


@dataclass(frozen=True)
class PrivacyEvent:
    """One mechanism of a run, as composed by the accountants (add/remove-one adjacency).

    Build it with :func:`laplace_event`, :func:`gaussian_event`,
    :func:`subsampled_gaussian_event` or :func:`zcdp_event`; only the fields of its ``kind``
    (:data:`EVENT_FIELDS`) are set. Noise multipliers are noise scale / sensitivity (L2 for
    the Gaussian kinds); ``noise_multiplier = 0`` is non-private and ``inf`` releases nothing.
    """

    kind: EventKind
    epsilon: float | None = None
    noise_multiplier: float | None = None
    sampling_rate: float | None = None
    steps: int | None = None
    rho: float | None = None

    def __post_init__(self) -> None:
        if self.kind not in EVENT_FIELDS:
            raise PrivacyParameterError(
                f"kind={self.kind!r} must be one of {', '.join(map(repr, EVENT_FIELDS))}"
            )
        wanted = EVENT_FIELDS[self.kind]
        for name in _PARAMETERS:
            given = getattr(self, name) is not None
            if given != (name in wanted):
                need = "needs" if name in wanted else "takes no"
                raise PrivacyParameterError(f"a {self.kind!r} event {need} {name}")
        checks = {
            "epsilon": parse_epsilon,
            "noise_multiplier": lambda v: _check_nonnegative(v, "noise_multiplier"),
            "sampling_rate": _check_sampling_rate,
            "steps": _check_steps,
            "rho": lambda v: _check_nonnegative(v, "rho"),
        }
        for name in wanted:  # normalise numpy scalars and strings to plain numbers
            object.__setattr__(self, name, checks[name](getattr(self, name)))

    @property
    def pure(self) -> bool:
        """Whether the event is pure epsilon-DP (Laplace): basic composition bounds it at delta=0."""
        return self.kind in ("laplace", "pure")

    @property
    def non_private(self) -> bool:
        """Whether the event carries no guarantee (no noise, or infinite epsilon / rho)."""
        if self.kind in ("laplace", "pure"):
            return math.isinf(self.epsilon)  # type: ignore[arg-type]
        if self.kind == "zcdp":
            return math.isinf(self.rho)  # type: ignore[arg-type]
        return self.noise_multiplier == 0

    @property
    def no_op(self) -> bool:
        """Whether the event releases nothing about the data (infinite noise, or rho = 0)."""
        if self.kind == "zcdp":
            return self.rho == 0
        return self.kind not in ("laplace", "pure") and math.isinf(self.noise_multiplier)  # type: ignore[arg-type]

    def to_dict(self) -> dict[str, Any]:
        """``{"kind": ..., <its parameters>}`` (the ledger's serialised form)."""
        return {"kind": self.kind, **{k: getattr(self, k) for k in EVENT_FIELDS[self.kind]}}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PrivacyEvent:
        """Inverse of :meth:`to_dict` (accepts ``"inf"`` strings for numbers)."""
        kind = data.get("kind")
        unknown = set(data) - {"kind", *_PARAMETERS}
        if unknown:
            raise PrivacyParameterError(f"event keys {sorted(unknown)} are not event parameters")
        values = {k: data[k] for k in _PARAMETERS if data.get(k) is not None}
        for k in ("epsilon", "noise_multiplier", "sampling_rate", "rho"):
            if k in values and isinstance(values[k], str):
                values[k] = from_json_number(values[k])
        return cls(kind=kind, **values)  # type: ignore[arg-type]

    def to_dp_event(self) -> dp_accounting.DpEvent:
        """The ``dp_accounting`` event (``LaplaceDpEvent`` has sensitivity 1, scale 1/epsilon)."""
        if self.non_private:
            return dp_accounting.NonPrivateDpEvent()
        if self.no_op:
            return dp_accounting.NoOpDpEvent()
        if self.kind == "laplace":
            return dp_accounting.LaplaceDpEvent(noise_multiplier=1.0 / self.epsilon)  # type: ignore[operator]
        if self.kind == "gaussian":
            return dp_accounting.GaussianDpEvent(self.noise_multiplier)
        if self.kind == "zcdp":
            return dp_accounting.ZCDpEvent(rho=self.rho)
        if self.kind == "pure":
            raise PrivacyParameterError("a 'pure' event has no accountant event: joint_epsilon adds its epsilon")
        return make_dp_event(self.noise_multiplier, self.sampling_rate, self.steps)  # type: ignore[arg-type]


EventLike = PrivacyEvent | Mapping[str, Any]


def pure_event(epsilon: Any) -> PrivacyEvent:
    """Any pure epsilon-DP mechanism (e.g. the discrete Laplace count): composed by adding epsilon.

    Adding is exact for the worst pure-DP mechanism; it is what the composition uses for events
    whose privacy loss distribution is not modelled (the discrete Laplace's differs from the
    continuous one the ``laplace`` kind stands for).
    """
    return PrivacyEvent("pure", epsilon=epsilon)


def laplace_event(epsilon: Any) -> PrivacyEvent:
    """Laplace mechanism of scale ``1/epsilon`` on a sensitivity-1 statistic (pure epsilon-DP)."""
    return PrivacyEvent("laplace", epsilon=epsilon)


def gaussian_event(noise_multiplier: float) -> PrivacyEvent:
    """One Gaussian release with noise std ``noise_multiplier`` times the L2 sensitivity."""
    return PrivacyEvent("gaussian", noise_multiplier=noise_multiplier)


def subsampled_gaussian_event(
    noise_multiplier: float, sampling_rate: float, steps: int
) -> PrivacyEvent:
    """``steps`` Poisson-subsampled Gaussian releases (the event of :func:`make_dp_event`)."""
    return PrivacyEvent(
        "subsampled_gaussian",
        noise_multiplier=noise_multiplier,
        sampling_rate=sampling_rate,
        steps=steps,
    )


def zcdp_event(rho: float) -> PrivacyEvent:
    """A mechanism known only to be rho-zCDP (RDP accountant only)."""
    return PrivacyEvent("zcdp", rho=rho)


def as_event(event: EventLike) -> PrivacyEvent:
    """A :class:`PrivacyEvent` from itself or from its :meth:`~PrivacyEvent.to_dict` form."""
    if isinstance(event, PrivacyEvent):
        return event
    if isinstance(event, Mapping):
        return PrivacyEvent.from_dict(event)
    raise PrivacyParameterError(f"event={event!r} must be a PrivacyEvent or a mapping")


# --------------------------------------------------------------------------------------------
# Joint composition
# --------------------------------------------------------------------------------------------


def _merge_gaussians(events: tuple[PrivacyEvent, ...]) -> tuple[PrivacyEvent, ...]:
    """Replace every full-batch Gaussian release by one Gaussian event (an exact identity).

    Gaussians with noise multipliers s_i compose exactly into one with
    ``(sum 1/s_i**2) ** -1/2``; one event is discretised once instead of once per release.
    """
    precision = 0.0
    rest: list[PrivacyEvent] = []
    for e in events:
        if e.kind == "gaussian":
            precision += e.noise_multiplier**-2  # type: ignore[operator]
        elif e.kind == "subsampled_gaussian" and e.sampling_rate == 1:
            precision += e.steps / e.noise_multiplier**2  # type: ignore[operator]
        else:
            rest.append(e)
    if precision > 0:
        rest.insert(0, gaussian_event(precision**-0.5))
    return tuple(rest)


def _event_grid(event: PrivacyEvent) -> float:
    """Adaptive PLD grid width of one event (see :func:`pld_discretization_interval`)."""
    if event.kind in ("zcdp", "pure"):  # no privacy loss distribution (composed otherwise)
        return PLD_MAX_DISCRETIZATION_INTERVAL
    if event.kind == "laplace":  # the privacy loss of Laplace(1/epsilon) lies in [-eps, eps]
        return min(
            PLD_MAX_DISCRETIZATION_INTERVAL,
            max(PLD_MIN_DISCRETIZATION_INTERVAL, event.epsilon / 20),  # type: ignore[operator]
        )
    q = 1.0 if event.kind == "gaussian" else event.sampling_rate
    return pld_discretization_interval(event.noise_multiplier, q)  # type: ignore[arg-type]


def _grid_for(events: tuple[PrivacyEvent, ...], fixed: float | None) -> float:
    """One PLD grid for the whole composition: the finest any event asks for."""
    if fixed is not None:
        return fixed
    live = _merge_gaussians(tuple(e for e in events if not (e.no_op or e.non_private)))
    return min((_event_grid(e) for e in live), default=PLD_MAX_DISCRETIZATION_INTERVAL)


@functools.lru_cache(maxsize=1024)
def _joint(events: tuple[PrivacyEvent, ...], delta: float, accountant: str, grid: float) -> float:
    if any(e.non_private for e in events):
        return math.inf
    added = math.fsum(e.epsilon for e in events if e.kind == "pure")  # type: ignore[misc]
    live = _merge_gaussians(tuple(e for e in events if not e.no_op and e.kind != "pure"))
    if not live:
        return added
    if accountant == "pld":
        if any(e.kind == "zcdp" for e in live):
            raise PrivacyParameterError(
                "accountant='pld' cannot compose zcdp events (a rho-zCDP guarantee has no "
                "privacy loss distribution); use accountant='rdp'"
            )
        if len(live) == 1 and live[0].kind == "gaussian":
            # Gaussians alone: the exact closed form, as compute_epsilon does for q = 1.
            return epsilon_gaussian(live[0].noise_multiplier, delta) + added  # type: ignore[arg-type]
        acc: dp_accounting.PrivacyAccountant = SharedStepsPLDAccountant(
            _NEIGHBOURING, value_discretization_interval=grid
        )
        for e in live:
            acc.compose(e.to_dp_event())
        eps = float(acc.get_epsilon(delta))
    else:
        with _quiet_rdp():
            acc = rdp_privacy_accountant.RdpAccountant(list(RDP_ORDERS), _NEIGHBOURING)
            for e in live:
                acc.compose(e.to_dp_event())
            eps = float(acc.get_epsilon(delta))
    if all(e.pure for e in live):
        # pure epsilon-DP events also compose to (sum of epsilons, 0): keep the better bound
        eps = min(eps, math.fsum(e.epsilon for e in live))  # type: ignore[misc]
    return max(eps, 0.0) + added


def joint_epsilon(
    events: Iterable[EventLike],
    delta: float,
    *,
    accountant: Accountant = "pld",
    value_discretization_interval: float | None = None,
) -> float:
    """Epsilon at ``delta`` of the composition of all ``events`` (add/remove-one adjacency).

    Parameters
    ----------
    events : iterable of PrivacyEvent or dict
        The mechanisms (their :meth:`PrivacyEvent.to_dict` form is accepted).
    delta : float
        Delta of the whole composition, in ``(0, 1)``.
    accountant : {"pld", "rdp"}, default="pld"
        Privacy loss distributions (tight; Laplace, Gaussian and subsampled-Gaussian events)
        or Rényi DP over :data:`RDP_ORDERS` (looser; also zCDP events). Full-batch Gaussian
        events are merged into one exactly; Gaussians alone use the closed form under PLD.
        When every event is Laplace, the result is at most the sum of their epsilons.
    value_discretization_interval : float, optional
        PLD grid width; default: the finest adaptive width any event asks for
        (:func:`pld_discretization_interval`; ``epsilon / 20`` for Laplace, within
        ``[1e-5, 1e-2]``). With one subsampled-Gaussian event this is
        :func:`compute_epsilon`'s grid, and the result equals it.

    Returns
    -------
    float
        An upper bound on epsilon (``0.0`` for no events, ``inf`` if one is non-private).

    Raises
    ------
    PrivacyParameterError
        If an argument is out of range, or a zCDP event is given to the PLD accountant.
    """
    evs = tuple(as_event(e) for e in events)
    d = _check_delta(delta)
    acc = _check_accountant(accountant)
    grid = _grid_for(evs, _check_grid(value_discretization_interval))
    return _joint(evs, d, acc, grid)


class JointCalibration(NamedTuple):
    """Result of :func:`calibrate_joint`."""

    noise_multiplier: float
    epsilon: float


def calibrate_joint(
    fixed_events: Iterable[EventLike],
    delta: float,
    target_epsilon: Any,
    *,
    sampling_rate: float,
    steps: int,
    accountant: Accountant = "pld",
    tolerance: float = 1e-4,
    value_discretization_interval: float | None = None,
) -> JointCalibration:
    """Smallest steps noise multiplier such that the run's joint epsilon meets the target.

    The run is ``fixed_events`` plus ``steps`` Poisson-subsampled Gaussian steps of rate
    ``sampling_rate`` and noise multiplier ``sigma``. As in :func:`calibrate_noise_multiplier`,
    the result is certified: ``joint_epsilon(fixed + steps(sigma)) <= target`` and an evaluated
    ``s >= sigma - tolerance`` exceeds the target, both on :func:`joint_epsilon`'s accountant and
    adaptive grid (a coarser grid may steer the search first: :func:`calibration_search`).

    Parameters
    ----------
    fixed_events : iterable of PrivacyEvent or dict
        The run's other mechanisms (count, warm start, teacher), already calibrated.
    delta : float
        Delta of the whole run, in ``(0, 1)``.
    target_epsilon : float or str
        Epsilon of the whole run, ``> 0``; ``inf`` returns ``(0.0, inf)`` (no noise).
    sampling_rate : float
        Poisson sampling rate ``q`` in ``(0, 1]``.
    steps : int
        Number of steps ``T >= 1``.
    accountant : {"pld", "rdp"}, default="pld"
        See :func:`joint_epsilon`.
    tolerance : float, default=1e-4
        Absolute precision on ``sigma``.
    value_discretization_interval : float, optional
        PLD grid width; default: adaptive, as in :func:`joint_epsilon`.

    Returns
    -------
    JointCalibration
        ``(noise_multiplier, epsilon)``: sigma and the joint epsilon it achieves.

    Raises
    ------
    PrivacyParameterError
        If an argument is out of range, or the fixed events alone spend the target.
    RuntimeError
        If no ``sigma <= 2**30`` meets the target.
    """
    fixed = tuple(as_event(e) for e in fixed_events)
    d = _check_delta(delta)
    target = parse_epsilon(target_epsilon, name="target_epsilon")
    q = _check_sampling_rate(sampling_rate)
    t = _check_steps(steps)
    acc = _check_accountant(accountant)
    tol = _check_positive(tolerance, "tolerance")
    grid = _check_grid(value_discretization_interval)
    if math.isinf(target):
        return JointCalibration(0.0, math.inf)
    spent = _joint(fixed, d, acc, _grid_for(fixed, grid))
    if spent >= target:
        raise PrivacyParameterError(
            f"fixed_events alone spend epsilon={_fmt(spent)} >= target_epsilon={_fmt(target)} "
            f"at delta={_fmt(d)} ({acc}): no noise_multiplier for steps={t} at "
            f"sampling_rate={_fmt(q)} can meet the target"
        )

    def run(sigma: float) -> tuple[PrivacyEvent, ...]:
        return fixed + (subsampled_gaussian_event(sigma, q, t),)

    def eps_on_grid(sigma: float, width: float) -> float:
        return _joint(run(sigma), d, acc, width)

    def run_grid(sigma: float) -> float:
        return _grid_for(run(sigma), grid)

    sigma = calibration_search(eps_on_grid, run_grid, q, target, tol, acc)
    return JointCalibration(sigma, eps_on_grid(sigma, run_grid(sigma)))


def clear_composition_cache() -> None:
    """Forget memoised joint compositions (cached per argument tuple; for timing)."""
    _joint.cache_clear()
    clear_shared_pld_cache()  # the steps' PLDs, shared with compute_epsilon
