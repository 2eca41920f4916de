"""The privacy ledger: every use of the private data in one run, checked against a budget.

Entries compose by **basic composition**: the release is ``(sum of entry epsilons, sum of entry
deltas)``-DP. That is loose across entries but always valid for adaptively chosen mechanisms; the
tight accounting happens inside an entry (the T ZO steps are one entry, accounted by PLD or RDP
in :mod:`dpcondense.privacy.accounting`). An entry may also record its mechanism as a
:class:`~dpcondense.privacy.composition.PrivacyEvent`; :attr:`PrivacyLedger.joint_epsilon` then
composes those entries jointly (privacy loss distributions), which is tighter than the sum.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Mapping, Sequence

from dpcondense.conventions import from_json_number, to_jsonable
from dpcondense.privacy.randomness import NOISE_MODES, SEEDED_NOTE
from dpcondense.privacy.composition import EventLike, PrivacyEvent, as_event
from dpcondense.privacy.composition import joint_epsilon as compose_events
from dpcondense.privacy.validation import (
    PrivacyParameterError,
    _as_real,
    _fmt,
    validate_privacy_params,
)

#: Relative slack when checking a spend against the budget (absorbs float summation error).
BUDGET_TOLERANCE = 1e-9

Composition = Literal["basic", "pld"]
#: "basic": the entries' ε's add up; "pld": the entries' events compose jointly (privacy loss distributions)
COMPOSITIONS: tuple[str, ...] = ("basic", "pld")


class PrivacyBudgetExceededError(RuntimeError):
    """A spend that would take the ledger's total above its target (epsilon, delta)."""


_ENTRY_FIELDS = (
    "purpose",
    "mechanism",
    "epsilon",
    "delta",
    "noise_multiplier",
    "sampling_rate",
    "steps",
    "accountant",
    "sensitivity",
)


@dataclass(frozen=True)
class LedgerEntry:
    """One use of the private data: what for, by which mechanism, at what (epsilon, delta).

    ``event``, when given, describes the mechanism for joint composition; it is serialised under
    the key ``"event"`` (entries without one serialise exactly as before it existed).
    """

    purpose: str
    mechanism: str
    epsilon: float
    delta: float
    noise_multiplier: float | None = None
    sampling_rate: float | None = None
    steps: int | None = None
    accountant: str | None = None
    sensitivity: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    event: PrivacyEvent | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain dict: the named fields, the ``extra`` keys flattened in, then ``event`` if set."""
        out = {k: getattr(self, k) for k in _ENTRY_FIELDS}
        out.update(self.extra)
        if self.event is not None:
            out["event"] = self.event.to_dict()
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LedgerEntry:
        """Inverse of :meth:`to_dict` (accepts ``"inf"`` strings for numeric fields)."""
        known = {k: data.get(k) for k in _ENTRY_FIELDS}
        for k in ("epsilon", "delta", "noise_multiplier", "sampling_rate", "sensitivity"):
            if known[k] is not None:
                known[k] = from_json_number(known[k])
        if known["steps"] is not None:
            known["steps"] = int(known["steps"])
        extra = {k: v for k, v in data.items() if k not in _ENTRY_FIELDS and k != "event"}
        event = None if data.get("event") is None else as_event(data["event"])
        return cls(**known, extra=extra, event=event)



class PrivacyLedger:
    """Record of every use of the private data in one run, checked against a budget.

    Entries compose by basic composition: the run is ``(total_epsilon, total_delta)``-DP, and
    since every spend is checked, ``total_epsilon <= target_epsilon`` and
    ``total_delta <= target_delta``. A ledger with ``target_epsilon = inf`` is non-private: it
    records entries (typically with ``epsilon = inf``) but guarantees nothing.

    Parameters
    ----------
    target_epsilon : float or str
        Budget ``> 0``, or ``inf`` / ``"inf"`` for a non-private run.
    delta : float
        Target delta: ``0 < delta < 1/n_public`` if ``n_public`` is given, else ``0 < delta < 1``.
    n_public : int, optional
        Number of private rows when it is declared public (bounds delta; recorded).

    Raises
    ------
    PrivacyParameterError
        If the budget is invalid.

    Examples
    --------
    >>> ledger = PrivacyLedger(1.0, 1e-5)
    >>> parts = split_budget(1.0, 1e-5, {"init": 0.1, "zo_steps": 0.9})
    >>> _ = ledger.spend("init", mechanism="gaussian", epsilon=parts["init"][0],
    ...                  delta=parts["init"][1])
    >>> round(ledger.remaining_epsilon, 6)
    0.9
    """

    def __init__(
        self, target_epsilon: Any, delta: float, *, n_public: int | None = None, composition: Composition = "basic"
    ) -> None:
        if composition not in COMPOSITIONS:
            raise PrivacyParameterError(f"composition={composition!r} must be one of: {', '.join(COMPOSITIONS)}")
        #: how the entries add up: "basic" (ε's add) or "pld" (their events compose jointly)
        self.composition: str = composition
        params = validate_privacy_params(epsilon=target_epsilon, delta=delta, n=n_public)
        self.target_epsilon: float = params["epsilon"]
        self.target_delta: float = params["delta"]
        self.n_public: int | None = params.get("n")
        self._entries: list[LedgerEntry] = []
        self._not_dp_reasons: list[str] = []
        #: where the noise and sampling came from ("secure" or "seeded"); None when not recorded
        self.noise: str | None = None

    # -- spending -----------------------------------------------------------------------------

    def spend(
        self,
        purpose: str,
        *,
        mechanism: str,
        epsilon: float,
        delta: float,
        noise_multiplier: float | None = None,
        sampling_rate: float | None = None,
        steps: int | None = None,
        accountant: str | None = None,
        sensitivity: float | None = None,
        event: EventLike | None = None,
        **extra: Any,
    ) -> LedgerEntry:
        """Record one use of the private data.

        Parameters
        ----------
        purpose : str
            What the release is for, e.g. ``"zo_steps"``, ``"dp_count"``, ``"init_means"``.
        mechanism : str
            E.g. ``"subsampled_gaussian"``, ``"gaussian"``, ``"laplace"``, ``"none"``.
        epsilon, delta : float
            The entry's privacy cost (``epsilon >= 0`` may be ``inf``; ``0 <= delta <= 1``).
        noise_multiplier, sampling_rate, steps, accountant, sensitivity : optional
            Mechanism parameters, recorded for the report.
        event : PrivacyEvent or dict, optional
            The mechanism run, as an accountant event for :attr:`joint_epsilon` (e.g.
            ``laplace_event(epsilon)``); trusted, not checked against ``epsilon``.
        **extra
            Any further JSON-serialisable details (recorded flattened into the entry).

        Returns
        -------
        LedgerEntry
            The recorded entry.

        Raises
        ------
        PrivacyParameterError
            If ``epsilon``, ``delta`` or ``event`` is out of range.
        PrivacyBudgetExceededError
            If the new totals would exceed the target epsilon or delta (relative slack
            :data:`BUDGET_TOLERANCE`); nothing is recorded then.
        """
        eps = _as_real(epsilon, "epsilon")
        if eps < 0:
            raise PrivacyParameterError(f"epsilon={epsilon!r} must satisfy epsilon >= 0")
        d = _as_real(delta, "delta")
        if not 0 <= d <= 1:
            raise PrivacyParameterError(f"delta={delta!r} must satisfy 0 <= delta <= 1")
        new_event = None if event is None else as_event(event)
        self._check_budget(LedgerEntry(purpose=str(purpose), mechanism=str(mechanism), epsilon=eps, delta=d, event=new_event))
        entry = LedgerEntry(
            purpose=str(purpose),
            mechanism=str(mechanism),
            epsilon=eps,
            delta=d,
            noise_multiplier=None if noise_multiplier is None else float(noise_multiplier),
            sampling_rate=None if sampling_rate is None else float(sampling_rate),
            steps=None if steps is None else int(steps),
            accountant=accountant,
            sensitivity=None if sensitivity is None else float(sensitivity),
            extra=dict(extra),
            event=new_event,
        )
        self._entries.append(entry)
        return entry

    def record(self, entry: LedgerEntry) -> LedgerEntry:
        """Spend an existing entry again, with every field (e.g. a prior spend, or when reading a ledger)."""
        return self.spend(
            entry.purpose, mechanism=entry.mechanism, epsilon=entry.epsilon, delta=entry.delta,
            noise_multiplier=entry.noise_multiplier, sampling_rate=entry.sampling_rate, steps=entry.steps,
            accountant=entry.accountant, sensitivity=entry.sensitivity, event=entry.event, **entry.extra,
        )

    def _check_budget(self, pending: LedgerEntry) -> None:
        """Refuse ``pending`` if the totals with it would pass the target (nothing is recorded then)."""
        eps, d, purpose = pending.epsilon, pending.delta, pending.purpose
        if self.composition == "pld" and pending.event is None and math.isfinite(self.target_epsilon) and eps > 0:
            raise PrivacyParameterError(f"a ledger with composition='pld' needs the event of {purpose!r} to compose it")
        new_delta = self.total_delta + d
        new_eps = self._composed([*self._entries, pending]) if self.composition == "pld" else self.total_epsilon + eps
        if new_eps > self.target_epsilon * (1 + BUDGET_TOLERANCE) + BUDGET_TOLERANCE:
            raise PrivacyBudgetExceededError(
                f"spending epsilon={_fmt(eps)} on {purpose!r} would bring the total to "
                f"{_fmt(new_eps)} > target_epsilon={_fmt(self.target_epsilon)} "
                f"(already spent {_fmt(self.total_epsilon)})"
            )
        if new_delta > self.target_delta * (1 + BUDGET_TOLERANCE):
            raise PrivacyBudgetExceededError(
                f"spending delta={_fmt(d)} on {purpose!r} would bring the total to "
                f"{_fmt(new_delta)} > target delta={_fmt(self.target_delta)} "
                f"(already spent {_fmt(self.total_delta)})"
            )

    def mark_not_dp(self, reason: str) -> None:
        """Declare the run not differentially private (e.g. data-derived bounds were used).

        Parameters
        ----------
        reason : str
            Why; recorded in the ledger and its label.
        """
        self._not_dp_reasons.append(str(reason))

    def record_noise(self, mode: str) -> None:
        """Record where the mechanisms' noise and sampling came from (``"secure"`` or ``"seeded"``).

        Raises
        ------
        ValueError
            If ``mode`` is not one of :data:`~dpcondense.privacy.randomness.NOISE_MODES`.
        """
        if mode not in NOISE_MODES:
            raise ValueError(f"noise={mode!r} must be one of: {', '.join(NOISE_MODES)}")
        self.noise = mode

    @property
    def release_grade(self) -> bool:
        """DP and with secret noise: a release that may leave the machine."""
        return self.private and self.noise == "secure"

    # -- totals -------------------------------------------------------------------------------

    @property
    def entries(self) -> tuple[LedgerEntry, ...]:
        """Recorded entries, in spending order."""
        return tuple(self._entries)

    @property
    def total_epsilon(self) -> float:
        """The run's ε: the entries composed as the ledger says (summed, or jointly with PLD)."""
        if self.composition == "pld":
            return self._composed(self._entries)
        return self.basic_epsilon

    @property
    def basic_epsilon(self) -> float:
        """Sum of the entries' epsilons (basic composition: an upper bound on the joint ε)."""
        return math.fsum(e.epsilon for e in self._entries) if self._entries else 0.0

    @property
    def total_delta(self) -> float:
        """Sum of the entries' deltas (basic composition)."""
        return math.fsum(e.delta for e in self._entries) if self._entries else 0.0

    @property
    def joint_epsilon(self) -> float:
        """Epsilon of the run at delta ``total_delta``, composing the entries' events jointly.

        Entries with a Laplace, Gaussian or subsampled-Gaussian ``event`` are composed with
        privacy loss distributions (:func:`~dpcondense.privacy.composition.joint_epsilon`) at
        the sum of their deltas. Entries without an event, and zCDP events (which PLD cannot
        compose), fall back to basic composition: their recorded epsilons are added. Never
        more than :attr:`basic_epsilon` (both bounds hold at ``total_delta``; the smaller is
        returned), and equal to it when no entry has an event.
        """
        return self._composed(self._entries)

    def _composed(self, entries: Sequence[LedgerEntry]) -> float:
        composed: list[LedgerEntry] = []
        added: list[float] = []
        for e in entries:
            if e.event is not None and e.event.kind != "zcdp":
                composed.append(e)
            else:
                added.append(e.epsilon)
        basic = math.fsum(e.epsilon for e in entries) if entries else 0.0
        if not composed:
            return basic
        delta = math.fsum(e.delta for e in composed)
        if delta == 0 or delta >= 1:
            # at delta = 0 only pure events compose (and then by summing); delta >= 1 is vacuous
            joint = math.fsum(e.epsilon for e in composed)
        else:
            joint = compose_events([e.event for e in composed], delta)  # type: ignore[misc]
        return min(basic, joint + math.fsum(added))

    @property
    def remaining_epsilon(self) -> float:
        """Epsilon still available (``inf`` for a non-private ledger), never negative."""
        if math.isinf(self.target_epsilon):
            return math.inf
        return max(self.target_epsilon - self.total_epsilon, 0.0)

    @property
    def remaining_delta(self) -> float:
        """Delta still available, never negative."""
        return max(self.target_delta - self.total_delta, 0.0)

    @property
    def private(self) -> bool:
        """Whether the run carries a DP guarantee (finite target, not marked otherwise)."""
        return math.isfinite(self.target_epsilon) and not self._not_dp_reasons

    @property
    def not_dp_reasons(self) -> tuple[str, ...]:
        """Reasons recorded by :meth:`mark_not_dp`."""
        return tuple(self._not_dp_reasons)

    @property
    def label(self) -> str:
        """Short human-readable statement of the guarantee."""
        if math.isinf(self.target_epsilon):
            base = "non-private (epsilon=inf)"
            return base if not self._not_dp_reasons else f"{base}; " + "; ".join(
                self._not_dp_reasons
            )
        if self._not_dp_reasons:
            return "not DP: " + "; ".join(self._not_dp_reasons)
        guarantee = f"({_fmt(self.total_epsilon)}, {_fmt(self.target_delta)})-DP"
        return f"{guarantee}; {SEEDED_NOTE}" if self.noise == "seeded" else guarantee

    def main_entry(self) -> LedgerEntry | None:
        """The entry with the largest epsilon (the first one on ties), or None if empty."""
        if not self._entries:
            return None
        return max(self._entries, key=lambda e: e.epsilon)

    # -- serialisation ------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """Plain-dict summary and entries.

        Returns
        -------
        dict
            ``epsilon`` (total spent), ``target_epsilon``, ``delta`` (the target delta, which
            bounds the spent ``total_delta``), ``total_delta``, ``noise_multiplier``,
            ``sampling_rate``, ``steps``, ``accountant`` (from :meth:`main_entry`, ``None`` if
            empty), ``remaining_epsilon``, ``n_public``, ``composition`` (``"basic"``),
            ``private``, ``label``, ``not_dp_reasons`` and ``entries`` (list of dicts).
        """
        main = self.main_entry()
        return {
            "epsilon": self.total_epsilon,
            "target_epsilon": self.target_epsilon,
            "delta": self.target_delta,
            "total_delta": self.total_delta,
            "remaining_epsilon": self.remaining_epsilon,
            "noise_multiplier": main.noise_multiplier if main else None,
            "sampling_rate": main.sampling_rate if main else None,
            "steps": main.steps if main else None,
            "accountant": main.accountant if main else None,
            "n_public": self.n_public,
            "composition": self.composition,
            **({"basic_epsilon": self.basic_epsilon} if self.composition == "pld" else {}),
            "private": self.private,
            "label": self.label,
            "not_dp_reasons": list(self._not_dp_reasons),
            "entries": [e.to_dict() for e in self._entries],
            **({"noise": self.noise, "release_grade": self.release_grade} if self.noise is not None else {}),
        }

    def to_json(self, path: str | Path | None = None) -> str:
        """Serialise :meth:`to_dict` as valid JSON (sorted keys; ``inf`` written as ``"inf"``).

        Parameters
        ----------
        path : str or Path, optional
            If given, the JSON is also written there (parent directories created).

        Returns
        -------
        str
            The JSON text.
        """
        text = json.dumps(to_jsonable(self.to_dict()), sort_keys=True, indent=2, allow_nan=False)
        if path is not None:
            p = Path(path)
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_text(text + "\n", encoding="utf-8")
        return text

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PrivacyLedger:
        """Rebuild a ledger from :meth:`to_dict` output (or its JSON form).

        Entries are re-spent in order, so a ledger whose entries exceed its target raises
        :class:`PrivacyBudgetExceededError`.
        """
        ledger = cls(
            from_json_number(data["target_epsilon"]),
            from_json_number(data["delta"]),
            n_public=data.get("n_public"),
            composition=data.get("composition", "basic"),
        )
        for raw in data.get("entries", []):
            ledger.record(LedgerEntry.from_dict(raw))
        for reason in data.get("not_dp_reasons", []):
            ledger.mark_not_dp(reason)
        if data.get("noise") is not None:
            ledger.record_noise(data["noise"])
        return ledger

    @classmethod
    def from_json(cls, path: str | Path) -> PrivacyLedger:
        """Read a ledger written by :meth:`to_json`."""
        return cls.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))

    def __repr__(self) -> str:
        return (
            f"PrivacyLedger(target_epsilon={self.target_epsilon}, delta={self.target_delta}, "
            f"spent={self.total_epsilon}, entries={len(self._entries)}, private={self.private})"
        )
