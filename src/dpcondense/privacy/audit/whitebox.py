"""White-box audit of DP-ZO's steps: replay the privatised sum, check its noise and sampling, add gradient canaries.

:class:`ZOStepTap` wraps the privatised sum that DP-ZO's steps call (``privatized_zo_sum``, looked
up in :mod:`dpcondense.methods.dpzo.optimiser` at call time) for the length of one fit. For every
step it

- **replays** the step: the same inputs, a copy of the sampling generator taken just before the
  call and no noise, i.e. the exact clipped sum of the same batch. ``release − exact`` is the
  noise the step really added; :func:`noise_check` compares its scale with the ledger's σ·C;
- records the **batch**: its size against the rows it was drawn from (:func:`sampling_check`);
- records the **parameters** passed (σ, C, q) against the ledger's (:func:`parameter_check`);
- with :class:`GradientCanaries`, releases a second sum of the same mechanism — the same σ, C, q,
  clip mode, objective weight, stratum weights, and the fit's own sampling and noise generators
  — over the fit's rows plus the included canaries. Canary ``j`` is a **Dirac gradient canary**:
  its per-example vector is huge in coordinate ``j`` alone, so clipping leaves a full-norm
  vector ``C·e_j`` and no other row touches that coordinate. DP-ZO's privacy argument holds for
  any per-example loss, so this worst-case loss is a valid audit; the canaries' coordinates over
  the T steps are scored by the log-likelihood ratio of the claimed subsampled Gaussian
  (:func:`canary_scores`) and fed to the one-run bound (:mod:`~dpcondense.privacy.audit.one_run`).

Real rows contribute zero vectors to the canary sums (the worst case: nothing else hides the
canary). Without canaries the tap leaves the fit exactly as it would be (the replay works on
copies); with them the canary sums draw from the fit's generators, so its later steps differ
(the fit's own release is not what the canaries audit). :class:`WhiteboxAccumulator` pools the
taps of several fits into a :class:`WhiteboxResult`.

The tap relies on DP-ZO's steps calling ``optimiser.privatized_zo_sum`` with keyword arguments
``mu, clip, noise_multiplier, sampling_rate, sample_rng, noise_rng, clip_mode, objective_weight,
stratum_weights``; a fit that never calls it records no step, and the audit says so.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Self

import numpy as np
from scipy.stats import chi2

from dpcondense.data import Dataset
from dpcondense.methods import make_method
from dpcondense.methods.dpzo import optimiser as _zo_optimiser
from dpcondense.methods.dpzo.primitives import PrivateRows
from dpcondense.privacy.audit.one_run import OneRunBound, one_run_bound
from dpcondense.privacy.ledger import PrivacyLedger

#: two-sided level of the noise-scale test (a correct mechanism fails it once in a million fits)
NOISE_ALPHA = 1e-6
#: |z| above which the sampling checks fail (two-sided level ≈ 6e-7 each)
SAMPLING_Z = 5.0
#: relative tolerance between the parameters a step used and the ledger's
PARAMETER_RTOL = 1e-9
#: canaries per privatised sum (the sum's width; bounds the per-step memory)
CANARY_CHUNK = 1000
#: a canary's per-example coordinate is this many clip norms before clipping
_CANARY_OVERSHOOT = 1e3


# --------------------------------------------------------------------------- gradient canaries


class _CanaryRows(PrivateRows):
    """The fit's rows (id −1) plus the included canaries of one chunk (ids = their coordinate).

    Sampling is :meth:`PrivateRows.poisson_batch` itself; every batch's canary ids are recorded.
    """

    def __init__(self, n_real: int, canary_ids: np.ndarray, label: int) -> None:
        ids = np.concatenate([np.full(n_real, -1.0), np.asarray(canary_ids, dtype=float)])
        self._ids = ids[:, None]
        self._labels = np.full(len(ids), int(label))
        self.batches: list[tuple[int, int, np.ndarray]] = []  # (batch size, rows, canary ids drawn)

    def _arrays(self) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        return self._ids, {"y": self._labels}

    def poisson_batch(self, sampling_rate: float, rng: np.random.Generator) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        X, targets = super().poisson_batch(sampling_rate, rng)
        ids = X[:, 0].astype(np.int64)
        self.batches.append((len(X), len(self._ids), ids[ids >= 0]))
        return X, targets


@dataclass(frozen=True)
class _Probe:
    """A stand-in "model" of the canary sum: coordinate ``k`` evaluated at sign ±1."""

    coordinate: int
    sign: float


class _ProbeLoss:
    """Per-example loss under a probe: ``sign · amplitude`` for the canary of that coordinate, 0 for every other row."""

    def __init__(self, amplitude: float) -> None:
        self.amplitude = amplitude
        self._X: np.ndarray | None = None
        self._where: dict[int, int] = {}

    def __call__(self, probe: _Probe, X: np.ndarray, targets: dict[str, np.ndarray]) -> np.ndarray:
        if X is not self._X:  # one batch, many probes: index its canaries once
            self._X = X
            ids = X[:, 0].astype(np.int64)
            self._where = {int(i): p for p, i in enumerate(ids) if i >= 0}
        out = np.zeros(len(X))
        row = self._where.get(probe.coordinate)
        if row is not None:
            out[row] = probe.sign * self.amplitude
        return out


class GradientCanaries:
    """``count`` Dirac gradient canaries, each included with probability 1/2 (drawn from ``rng``).

    Parameters
    ----------
    count : int
        Canaries in this fit (released in sums of at most :data:`CANARY_CHUNK` coordinates).
    rng : numpy.random.Generator
        Draws the memberships (the auditor's secret coin flips).
    chunk : int
        Canaries per privatised sum.
    """

    def __init__(self, count: int, rng: np.random.Generator, *, chunk: int = CANARY_CHUNK) -> None:
        if int(count) < 1 or int(chunk) < 1:
            raise ValueError(f"need count >= 1 and chunk >= 1, got {count} and {chunk}")
        self.count = int(count)
        self.members = rng.random(self.count) < 0.5
        self.bounds = [(lo, min(lo + int(chunk), self.count)) for lo in range(0, self.count, int(chunk))]
        self.releases: list[np.ndarray] = []  # per step: every canary's coordinate of the release
        self.inclusions = np.zeros(self.count, dtype=np.int64)  # steps each canary was drawn in
        self.batches: list[tuple[int, int]] = []  # (batch size, rows) of every canary sum
        self._probes: dict[int, tuple[list[_Probe], list[_Probe]]] = {}
        self.template: dict[str, Any] | None = None

    def probes(self, width: int) -> tuple[list[_Probe], list[_Probe]]:
        if width not in self._probes:
            self._probes[width] = ([_Probe(k, 1.0) for k in range(width)], [_Probe(k, -1.0) for k in range(width)])
        return self._probes[width]

    def step(self, privatized_sum: Callable[..., np.ndarray], kwargs: dict[str, Any], n_real: int, clip: float) -> None:
        """Release every chunk's canary sum with the step's own parameters and generators."""
        if self.template is None:
            self.template = {k: v for k, v in kwargs.items() if k not in ("sample_rng", "noise_rng")}
        label = _canary_label(kwargs.get("stratum_weights"))
        loss = _ProbeLoss(_CANARY_OVERSHOOT * clip * float(kwargs["mu"]))
        out = np.empty(self.count)
        for lo, hi in self.bounds:
            local = np.flatnonzero(self.members[lo:hi])
            rows = _CanaryRows(n_real, local, label)
            plus, minus = self.probes(hi - lo)
            release = privatized_sum(rows, loss, plus, minus, **kwargs)
            out[lo:hi] = release[: hi - lo]  # an objective coordinate, if any, comes last
            for size, n_rows, drawn in rows.batches:
                self.batches.append((size, n_rows))
                self.inclusions[lo + drawn] += 1
        self.releases.append(out)

    def contribution(self, privatized_sum: Callable[..., np.ndarray], clip: float) -> float:
        """What one included, sampled canary adds to its coordinate under the claimed clip ``C``.

        Computed by the mechanism's own code (no sampling, no noise): ``C`` for vector clipping
        without an objective coordinate, less when the clip is split or per coordinate.
        """
        assert self.template is not None
        kwargs = {**self.template, "clip": clip, "noise_multiplier": 0.0, "sampling_rate": 1.0}
        label = _canary_label(kwargs.get("stratum_weights"))
        plus, minus = self.probes(1)
        release = privatized_sum(
            _CanaryRows(0, np.array([0]), label), _ProbeLoss(_CANARY_OVERSHOOT * clip * float(kwargs["mu"])), plus, minus,
            sample_rng=np.random.default_rng(0), noise_rng=np.random.default_rng(0), **kwargs,
        )
        return float(release[0])


def _canary_label(stratum_weights: Any) -> int:
    """The stratum whose class-balance weight is largest (1), so the canary keeps its full norm."""
    return 0 if stratum_weights is None else int(np.argmax(np.asarray(stratum_weights, dtype=float)))


def canary_scores(releases: np.ndarray, *, contribution: float, noise_std: float, sampling_rate: float) -> np.ndarray:
    """Log-likelihood ratio IN vs OUT of each canary's coordinates (rows: canaries, columns: steps).

    Under the claimed mechanism a coordinate is ``N(0, s²)`` OUT and the mixture
    ``(1 − q)·N(0, s²) + q·N(a, s²)`` IN, with ``a`` the canary's contribution and ``s = σC``.
    """
    q, a, s = float(sampling_rate), float(contribution), float(noise_std)
    if not (s > 0 and 0 < q <= 1):
        raise ValueError(f"need noise_std > 0 and sampling_rate in (0, 1], got {s} and {q}")
    shift = (2.0 * a * np.asarray(releases, dtype=float) - a * a) / (2.0 * s * s)
    log_out = math.log1p(-q) if q < 1 else -math.inf
    return np.logaddexp(log_out, math.log(q) + shift).sum(axis=1)


# --------------------------------------------------------------------------- the tap


@dataclass
class StepRecord:
    """One step of a fit as the tap saw it."""

    noise_multiplier: float
    clip: float
    sampling_rate: float
    residual: np.ndarray  # the release minus the exact clipped sum of the same batch
    batch_size: int
    n_rows: int


class ZOStepTap:
    """Context manager: records (and optionally adds canaries to) every DP-ZO step of the fits inside it.

    Not thread-safe: it swaps a module attribute for the duration of the ``with`` block.
    """

    def __init__(self, canaries: GradientCanaries | None = None) -> None:
        self.canaries = canaries
        self.records: list[StepRecord] = []
        self._original: Callable[..., np.ndarray] | None = None
        self._n_rows: dict[int, int] = {}

    def __enter__(self) -> Self:
        self._original = _zo_optimiser.privatized_zo_sum
        _zo_optimiser.privatized_zo_sum = self._tapped
        return self

    def __exit__(self, *exc: object) -> None:
        _zo_optimiser.privatized_zo_sum = self._original

    @property
    def privatized_sum(self) -> Callable[..., np.ndarray]:
        assert self._original is not None, "use the tap as a context manager"
        return self._original

    def _rows(self, private: PrivateRows) -> int:
        # the auditor may count the fit's rows: a rate-1 batch is all of them
        key = id(private)
        if key not in self._n_rows:
            self._n_rows[key] = len(private.poisson_batch(1.0, np.random.default_rng(0))[0])
        return self._n_rows[key]

    def _tapped(self, private: PrivateRows, loss_fn: Callable, models_plus: list, models_minus: list, **kwargs: Any) -> np.ndarray:
        original = self.privatized_sum
        before = copy.deepcopy(kwargs["sample_rng"])  # the sampling state the step starts from
        release = original(private, loss_fn, models_plus, models_minus, **kwargs)
        batch = private.poisson_batch(kwargs["sampling_rate"], copy.deepcopy(before))[0]
        exact = original(
            private, loss_fn, models_plus, models_minus,
            **{**kwargs, "noise_multiplier": 0.0, "sample_rng": before, "noise_rng": np.random.default_rng(0)},
        )
        n_rows = self._rows(private)
        self.records.append(StepRecord(
            noise_multiplier=float(kwargs["noise_multiplier"]), clip=float(kwargs["clip"]),
            sampling_rate=float(kwargs["sampling_rate"]), residual=np.asarray(release - exact, dtype=float),
            batch_size=len(batch), n_rows=n_rows,
        ))
        if self.canaries is not None:
            # the canaries overshoot the step's clip (a unit one when clipping is off)
            self.canaries.step(original, kwargs, n_rows, _finite_or(kwargs["clip"], 1.0))
        return release


def tapped_fit(
    method: str,
    data: Dataset,
    params: dict[str, Any],
    fit_kwargs: dict[str, Any],
    *,
    canaries: GradientCanaries | None = None,
    whitebox: bool = True,
) -> tuple[Any, ZOStepTap | None]:
    """One fit of ``method``; with ``whitebox``, inside a :class:`ZOStepTap` (with ``canaries``)."""
    if not whitebox:
        return make_method(method, **params).fit(data, **fit_kwargs), None
    with ZOStepTap(canaries) as tap:
        est = make_method(method, **params).fit(data, **fit_kwargs)
    return est, tap


def _finite_or(value: float, default: float) -> float:
    return float(value) if math.isfinite(float(value)) else default


# --------------------------------------------------------------------------- the checks


@dataclass(frozen=True)
class StepClaim:
    """What the ledger claims about DP-ZO's steps."""

    epsilon: float
    delta: float
    noise_multiplier: float
    clip: float
    sampling_rate: float
    steps: int

    @classmethod
    def from_ledger(cls, ledger: PrivacyLedger) -> StepClaim | None:
        """The ``dpzo_steps`` entry of a private run (None when there is none or ε = ∞)."""
        for e in ledger.entries:
            if e.purpose == "dpzo_steps" and math.isfinite(e.epsilon) and e.noise_multiplier:
                clip = float(e.extra.get("clip", e.sensitivity or math.nan))
                return cls(float(e.epsilon), float(e.delta), float(e.noise_multiplier), clip, float(e.sampling_rate), int(e.steps))
        return None


@dataclass(frozen=True)
class NoiseCheck:
    """Scale of the noise the steps added (release − exact clipped sum) against the claimed σ·C."""

    coordinates: int
    claimed_std: float
    measured_std: float
    ratio: float
    p_value: float
    passed: bool


def noise_check(residuals: np.ndarray, claimed_std: float, *, alpha: float = NOISE_ALPHA) -> NoiseCheck:
    """Two-sided χ² test of ``Σ r² / (σC)² ~ χ²(N)`` on the residual coordinates ``r``."""
    r = np.asarray(residuals, dtype=float).ravel()
    n = len(r)
    if n == 0 or not claimed_std > 0:
        raise ValueError(f"need residuals and a positive claimed std, got {n} and {claimed_std}")
    stat = float((r**2).sum() / claimed_std**2)
    p = float(min(1.0, 2.0 * min(chi2.cdf(stat, n), chi2.sf(stat, n))))
    measured = math.sqrt(stat / n) * claimed_std
    return NoiseCheck(n, float(claimed_std), measured, measured / claimed_std, p, p >= alpha)


@dataclass(frozen=True)
class SamplingCheck:
    """Batch sizes against Binomial(rows, q), and the canaries' inclusion counts against Binomial(steps, q)."""

    batches: int
    sampling_rate: float
    mean_batch_fraction: float
    z_batch_mean: float
    canaries_tracked: int
    z_inclusion_dispersion: float
    passed: bool


def sampling_check(
    batches: list[tuple[int, int]], sampling_rate: float, inclusions: np.ndarray | None = None, steps: int = 0,
    *, z_max: float = SAMPLING_Z,
) -> SamplingCheck:
    """z-tests: the total drawn against ``q·Σ rows``, and the spread of per-canary inclusion counts.

    A sampler at the wrong rate fails the first; one that always takes the same rows (counts 0 or
    ``steps``) fails the second. ``inclusions`` are counts over ``steps`` steps of included canaries.
    """
    q = float(sampling_rate)
    sizes = np.array([b for b, _ in batches], dtype=float)
    rows = np.array([n for _, n in batches], dtype=float)
    var = q * (1 - q) * rows.sum()
    z_mean = float((sizes.sum() - q * rows.sum()) / math.sqrt(var)) if var > 0 else (0.0 if sizes.sum() == q * rows.sum() else math.inf)
    z_disp, tracked = 0.0, 0
    if inclusions is not None and len(inclusions) and steps > 0 and 0 < q < 1:
        c = np.asarray(inclusions, dtype=float)
        tracked = len(c)
        npq = steps * q * (1 - q)
        # (c − Tq)² has mean Tpq and variance Tpq·(1 + (2T − 6)pq) for c ~ Binomial(T, p)
        spread = float(((c - steps * q) ** 2).sum())
        z_disp = (spread - tracked * npq) / math.sqrt(tracked * npq * (1 + (2 * steps - 6) * q * (1 - q)))
    passed = abs(z_mean) <= z_max and abs(z_disp) <= z_max
    frac = float(sizes.sum() / rows.sum()) if rows.sum() else math.nan
    return SamplingCheck(len(batches), q, frac, z_mean, tracked, float(z_disp), passed)


@dataclass(frozen=True)
class ParameterCheck:
    """The σ, C and q every step used, against the ledger's."""

    claimed: tuple[float, float, float]
    used: tuple[tuple[float, float, float], ...]
    passed: bool


def parameter_check(records: list[StepRecord], claim: StepClaim, *, rtol: float = PARAMETER_RTOL) -> ParameterCheck:
    """Distinct (σ, C, q) triples the steps were called with; passes when each matches the claim."""
    claimed = (claim.noise_multiplier, claim.clip, claim.sampling_rate)
    used = tuple(sorted({(r.noise_multiplier, r.clip, r.sampling_rate) for r in records}))
    ok = bool(used) and all(
        all(math.isfinite(u) and math.isclose(u, c, rel_tol=rtol) for u, c in zip(triple, claimed)) for triple in used
    )
    return ParameterCheck(claimed, used, ok)


@dataclass
class WhiteboxResult:
    """The pooled white-box checks of one or more DP-ZO fits."""

    fits: int
    steps: int
    claim: StepClaim
    noise: NoiseCheck
    sampling: SamplingCheck
    parameters: ParameterCheck
    one_run: OneRunBound | None = None

    @property
    def passed(self) -> bool:
        """Every check passed and the canaries certify no ε above the claimed steps' ε."""
        ok = self.noise.passed and self.sampling.passed and self.parameters.passed
        return ok and (self.one_run is None or self.one_run.epsilon_lower_bound <= self.claim.epsilon)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["passed"] = self.passed
        return out


@dataclass
class WhiteboxAccumulator:
    """Pools the taps of several fits (each with its own ledger) into one :class:`WhiteboxResult`."""

    records: list[StepRecord] = field(default_factory=list)
    residuals: list[np.ndarray] = field(default_factory=list)
    batches: list[tuple[int, int]] = field(default_factory=list)
    inclusions: list[np.ndarray] = field(default_factory=list)
    scores: list[np.ndarray] = field(default_factory=list)
    members: list[np.ndarray] = field(default_factory=list)
    claim: StepClaim | None = None
    fits: int = 0

    def add(self, tap: ZOStepTap, ledger: PrivacyLedger) -> None:
        """Add one fit: its steps, and its canaries scored under its ledger's claim."""
        claim = StepClaim.from_ledger(ledger)
        if claim is None or not tap.records:
            return  # not a private DP-ZO fit: nothing to check
        self.claim = self.claim or claim
        self.fits += 1
        self.records += tap.records
        self.residuals += [r.residual for r in tap.records]
        self.batches += [(r.batch_size, r.n_rows) for r in tap.records]
        canaries = tap.canaries
        if canaries is not None and canaries.releases:
            self.batches += canaries.batches
            self.inclusions.append(canaries.inclusions[canaries.members])
            a = canaries.contribution(tap.privatized_sum, claim.clip)
            self.scores.append(canary_scores(
                np.stack(canaries.releases, axis=1), contribution=a, noise_std=claim.noise_multiplier * claim.clip,
                sampling_rate=claim.sampling_rate,
            ))
            self.members.append(canaries.members.copy())

    def result(self, *, confidence: float = 0.95) -> WhiteboxResult | None:
        """The pooled checks (None when no private DP-ZO step was seen)."""
        if self.claim is None:
            return None
        claim = self.claim
        steps = len(self.records) // max(self.fits, 1)
        inclusions = np.concatenate(self.inclusions) if self.inclusions else None
        one_run = None
        if self.scores:
            one_run = one_run_bound(
                np.concatenate(self.scores), np.concatenate(self.members), delta=claim.delta, confidence=confidence,
            )
        return WhiteboxResult(
            fits=self.fits,
            steps=len(self.records),
            claim=claim,
            noise=noise_check(np.concatenate(self.residuals), claim.noise_multiplier * claim.clip),
            sampling=sampling_check(self.batches, claim.sampling_rate, inclusions, steps),
            parameters=parameter_check(self.records, claim),
            one_run=one_run,
        )
