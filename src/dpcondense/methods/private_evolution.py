"""``private_evolution``: Private Evolution (PE) on tabular rows — training-free, API-only.

PE (Lin et al., ICLR 2024, "Differentially Private Synthetic Data via Foundation Model APIs 1:
Images"; its tabular variant Tab-PE, Tran, Lin et al. 2026) never fits a generator to the private
rows. It evolves a *population* of synthetic rows produced by two public APIs and lets the
private rows vote, with noise, for the candidates that survive. Here the APIs are heuristic
operators on the public schema (as in Tab-PE), not a foundation model:

- ``RANDOM_API`` draws rows from the public prior: numeric columns (and survival's log-time
  column) uniform in the public box, binary columns (missing indicators included) uniform on
  {0, 1}, each categorical feature a uniform category (one-hot).
- ``VARIATION_API`` mutates a row: Gaussian jitter of std ``step · step_decay^(t−1)`` at iteration
  ``t`` on the numeric columns, each binary column and each categorical feature redrawn from its
  public values with probability ``resample_prob``; then projected onto the box.

Rows live in the model space (``dataset.encoder()``; survival: plus the scaled log-time column of
:class:`~dpcondense.methods._baseline.LogTimeScale`), in two populations of ``P`` rows each: one
per class (classification) or per event value (survival), like ``dp_dm``'s strata. ``S_0`` comes
from ``RANDOM_API``; iteration ``t = 1 … T``:

1. every real row votes for its nearest row (L2) in its own stratum's population ``S_{t−1}``;
2. the vote histogram ``h_t`` (both populations, concatenated) gets ``N(0, σ²)`` on every entry;
3. noisy counts below ``H = threshold · σ`` are zeroed;
4. (``t < T``) ``P`` rows per stratum are drawn from ``S_{t−1}`` in proportion to them (uniformly
   when a stratum's counts are all zero);
5. (``t < T``) ``VARIATION_API`` mutates every drawn row: that is ``S_t``.

The release is chosen from the last voted population ``S_{T−1}`` by the last thresholded noisy
votes: each stratum's rows are drawn in proportion to them, without replacement while rows with a
positive count remain. ``size`` rows per class (balanced, public) or ``size`` rows split by the
estimated event counts; ``n_samples`` asks instead for the public training-set size (``large``)
or a number of rows, split across strata by the estimated counts.

Privacy. Under add/remove-one adjacency one patient adds or removes exactly one vote — in one
entry of one population — so ``h_t`` moves by a unit vector: L2 sensitivity 1 per iteration,
across all populations. ``S_{t−1}`` is a function of ``h_1 … h_{t−1}`` and public randomness only,
so the T releases are an adaptive composition of T Gaussian mechanisms of noise multiplier σ,
which is exactly one Gaussian mechanism of multiplier ``σ/√T``. σ is calibrated so that the
composition is exactly (ε, δ)-DP (:func:`~dpcondense.methods._baseline.plan_gaussian_releases`
with T equal shares: ``σ = √T · σ_AG(ε, δ)``, the analytic Gaussian σ); each iteration is one
ledger entry with its Gaussian event and the ledger composes them with privacy loss distributions
(``composition="pld"``). The stratum counts (to split survival's rows by event, or to size a
``large`` release when the row count is not public) are the noisy histograms' sums averaged over
the T iterations — post-processing, no further release. Everything else is public randomness.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np

from dpcondense.conventions import synthetic_rows
from dpcondense.data import Dataset
from dpcondense.methods._baseline import (
    allocate,
    gaussian_releases,
    model_box,
    parse_budget,
    plan_gaussian_releases,
    release_from_rows,
    seed_sequence,
    strata_and_rows,
)
from dpcondense.methods.base import CondensationMethod, register_method
from dpcondense.params import ParamSpec, check_params
from dpcondense.privacy import PrivacyLedger

#: two strata: the classes (classification) or the event values (survival)
N_STRATA = 2
#: how many squared distances one block of the nearest-neighbour search holds
_BLOCK = 1 << 21


@dataclass(frozen=True)
class PublicColumns:
    """Model-space columns by kind, from the schema alone (survival's log-time column is numeric)."""

    numeric: np.ndarray
    binary: np.ndarray
    categorical: tuple[np.ndarray, ...]


def public_columns(dataset: Dataset) -> PublicColumns:
    """Numeric, binary (missing indicators included) and one-hot groups of the model-space rows."""
    numeric: list[int] = []
    binary: list[int] = []
    groups: list[np.ndarray] = []
    slices = dataset.encoder().feature_slices()
    for f in dataset.schema.features:
        sl = slices[f.name]
        cols = list(range(sl.start, sl.stop))
        if f.missing.indicator:
            binary.append(cols.pop())
        if f.type == "numeric":
            numeric.extend(cols)
        elif f.type == "binary":
            binary.extend(cols)
        elif cols:
            groups.append(np.asarray(cols, dtype=np.int64))
    if dataset.task == "survival":
        numeric.append(dataset.encoder().n_features_out)
    return PublicColumns(np.asarray(numeric, dtype=np.int64), np.asarray(binary, dtype=np.int64), tuple(groups))


def random_api(cols: PublicColumns, lower: np.ndarray, upper: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` rows from the public prior: uniform numeric, uniform binary, a uniform category."""
    out = np.zeros((n, lower.size))
    out[:, cols.numeric] = rng.uniform(lower[cols.numeric], upper[cols.numeric], size=(n, cols.numeric.size))
    out[:, cols.binary] = rng.integers(0, 2, size=(n, cols.binary.size))
    for group in cols.categorical:
        out[np.arange(n), group[rng.integers(0, group.size, size=n)]] = 1.0
    return out


def variation_api(
    rows: np.ndarray, cols: PublicColumns, lower: np.ndarray, upper: np.ndarray, step: float, resample_prob: float,
    rng: np.random.Generator,
) -> np.ndarray:
    """Mutate every row: numeric jitter of std ``step``, discrete values redrawn w.p. ``resample_prob``."""
    out = rows.copy()
    n = len(out)
    out[:, cols.numeric] += rng.normal(0.0, step, size=(n, cols.numeric.size))
    redraw = rng.random((n, cols.binary.size)) < resample_prob
    out[:, cols.binary] = np.where(redraw, rng.integers(0, 2, size=redraw.shape), out[:, cols.binary])
    for group in cols.categorical:
        hit = np.flatnonzero(rng.random(n) < resample_prob)
        out[np.ix_(hit, group)] = 0.0
        out[hit, group[rng.integers(0, group.size, size=hit.size)]] = 1.0
    return np.clip(out, lower, upper)


def nearest(rows: np.ndarray, population: np.ndarray) -> np.ndarray:
    """Index of each row's nearest population row (L2; the first one on ties), in blocks."""
    out = np.empty(len(rows), dtype=np.int64)
    if len(rows) == 0:
        return out
    pop_sq = np.einsum("ij,ij->i", population, population)
    block = max(1, _BLOCK // max(len(population), 1))
    for start in range(0, len(rows), block):
        part = rows[start : start + block]
        out[start : start + block] = np.argmin(pop_sq[None, :] - 2.0 * part @ population.T, axis=1)
    return out


def vote_histogram(rows: np.ndarray, strata: np.ndarray, populations: list[np.ndarray]) -> np.ndarray:
    """Each row's one vote for its nearest row of its own stratum's population; all populations concatenated."""
    parts = [
        np.bincount(nearest(rows[strata == c], pop), minlength=len(pop)).astype(float)
        for c, pop in enumerate(populations)
    ]
    return np.concatenate(parts)


def draw_rows(weights: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` indices drawn with replacement in proportion to ``weights`` (uniform if none is positive)."""
    w = np.clip(weights, 0.0, None)
    p = w / w.sum() if w.sum() > 0 else np.full(w.size, 1.0 / w.size)
    return rng.choice(w.size, size=n, replace=True, p=p)


def pick_rows(weights: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` indices in proportion to ``weights``: without replacement among the positive ones while they last."""
    w = np.clip(weights, 0.0, None)
    positive = int((w > 0).sum())
    if positive == 0:
        return draw_rows(w, n, rng)
    first = rng.choice(w.size, size=min(n, positive), replace=False, p=w / w.sum())
    return np.concatenate([first, draw_rows(w, n - first.size, rng)]) if n > positive else first


@register_method("private_evolution")
class PrivateEvolution(CondensationMethod):
    """Evolve public random rows by noisy nearest-neighbour votes of the private rows (PE / Tab-PE).

    Parameters
    ----------
    model, size, epsilon, delta, random_state, model_params
        As in :class:`~dpcondense.methods.base.CondensationMethod` (``model`` is not used).
        ``epsilon = inf`` votes without noise (the ledger says non-private).
    iterations : int, default=10
        T: vote histograms released (each a Gaussian mechanism of sensitivity 1).
    population_factor : float, default=4.0
        Rows per population (per class / event stratum) = ``population_factor`` × half the
        released rows (``size`` per class for classification), rounded up, at most
        ``max_population``.
    max_population : int, default=1000
        Cap on the rows per population: the vote search costs (real rows × population) per
        iteration. A release larger than its population (``n_samples="large"`` on a big
        dataset) repeats rows, drawn by the last noisy votes.
    threshold : float, default=1.0
        Noisy counts below ``threshold · σ`` are zeroed before the draw (``σ = 0`` at ε = ∞).
    step : float, default=0.3
        Std of ``VARIATION_API``'s jitter of the numeric columns at the first variation
        (model-space units; the numeric columns span [-1, 1]).
    step_decay : float, default=0.8
        Factor applied to the jitter std at each further iteration.
    resample_prob : float, default=0.1
        Probability that ``VARIATION_API`` redraws a binary column or a categorical feature.
    n_samples : "size", "large" or int, default="size"
        ``size``: ``size`` rows per class / ``size`` rows; ``large``: the public training-set size
        (the estimated row count when it is not public); an int: that many rows (split across
        strata by the estimated counts).

    Attributes
    ----------
    noise_std_ : float
        σ, the noise std of every vote histogram (one patient: one vote, sensitivity 1).
    threshold_ : float
        H, the count threshold (``threshold · σ``).
    noisy_votes_ : ndarray
        The last released (noisy, not thresholded) histogram, both populations concatenated.
    noisy_counts_ : ndarray
        Estimated rows per stratum: the noisy histograms' sums averaged over the iterations.
    initial_population_, final_population_ : list of ndarray
        ``S_0`` and the last voted population ``S_{T−1}`` per stratum (functions of released
        values and public randomness only).
    """

    label = "Private Evolution"
    private = True
    version = 1
    param_specs = {
        "iterations": ParamSpec(int, low=1, doc="vote histograms released (T)"),
        "population_factor": ParamSpec(float, low=1.0, doc="population per stratum / released rows per stratum"),
        "max_population": ParamSpec(int, low=1, doc="cap on the rows per population"),
        "threshold": ParamSpec(float, low=0.0, doc="noisy counts below threshold * sigma are zeroed"),
        "step": ParamSpec(float, low=0.0, doc="std of the first variation's numeric jitter"),
        "step_decay": ParamSpec(float, low=0.0, high=1.0, low_open=True, doc="jitter std factor per iteration"),
        "resample_prob": ParamSpec(float, low=0.0, high=1.0, doc="probability of redrawing a discrete feature"),
        "n_samples": ParamSpec(int, low=1, choices=("size", "large"), doc="rows released"),
    }

    def __init__(
        self,
        *,
        iterations: int = 10,
        population_factor: float = 4.0,
        max_population: int = 1000,
        threshold: float = 1.0,
        step: float = 0.3,
        step_decay: float = 0.8,
        resample_prob: float = 0.1,
        n_samples: Literal["size", "large"] | int = "size",
    ) -> None:
        super().__init__()
        self.iterations = iterations
        self.population_factor = population_factor
        self.max_population = max_population
        self.threshold = threshold
        self.step = step
        self.step_decay = step_decay
        self.resample_prob = resample_prob
        self.n_samples = n_samples

    def _fit(self, dataset: Dataset) -> "PrivateEvolution":
        check_params(f"method {self.name!r}", self.param_specs, self.get_params())
        if isinstance(self.size, bool) or int(self.size) < 1:
            raise ValueError(f"size must be >= 1 (rows per class / total rows), got {self.size!r}")
        eps = parse_budget(self.epsilon)
        ledger = PrivacyLedger(eps, self.delta, n_public=dataset.n_public, composition="pld")
        public_seed, noise_seed = seed_sequence(self.random_state).spawn(2)
        rng_public, rng_noise = np.random.default_rng(public_seed), self._noise_rng(noise_seed)

        lower, upper = model_box(dataset)
        cols = public_columns(dataset)
        names = [f"votes_{t}" for t in range(1, int(self.iterations) + 1)]
        sensitivity = {name: 1.0 for name in names}
        plan = plan_gaussian_releases(eps, self.delta, {name: 1.0 for name in names}, sensitivity)
        sigma = plan.sigma[names[0]]
        cut = float(self.threshold) * sigma
        rows_total = self._public_rows(dataset)
        size = self._population(rows_total if rows_total is not None else synthetic_rows(dataset.task, self.size))
        populations = [random_api(cols, lower, upper, size, rng_public) for _ in range(N_STRATA)]
        self.initial_population_ = [p.copy() for p in populations]

        # --- the only block that reads real rows: T noisy vote histograms --------------------
        strata, rows = strata_and_rows(dataset)
        rows = np.clip(rows, lower, upper)
        sums = []
        for t, name in enumerate(names, start=1):
            exact = {name: vote_histogram(rows, strata, populations)}
            noisy, _ = gaussian_releases(
                exact, plan, sensitivity, rng_noise, ledger, "private_evolution",
                iteration=t, population=[len(p) for p in populations], count_threshold=cut,
            )
            votes = noisy[name]
            bounds = np.cumsum([len(p) for p in populations])[:-1]
            kept = np.split(np.where(votes >= cut, np.clip(votes, 0.0, None), 0.0), bounds)
            sums.append([part.sum() for part in np.split(votes, bounds)])
            if t == len(names):
                break
            if rows_total is None:  # 'large' with no public row count: size by the released sums
                size = self._population(max(round(float(np.sum(sums[0]))), N_STRATA))
            jitter = float(self.step) * float(self.step_decay) ** (t - 1)
            populations = [
                variation_api(pop[draw_rows(w, size, rng_public)], cols, lower, upper, jitter, float(self.resample_prob), rng_public)
                for pop, w in zip(populations, kept)
            ]
        del rows, strata, exact
        # --- post-processing of the released votes and public randomness only ----------------

        counts = np.clip(np.mean(np.asarray(sums), axis=0), 0.0, None)
        per_stratum = self._release_sizes(dataset, rows_total, counts)
        chosen = [pop[pick_rows(w, int(k), rng_public)] for pop, w, k in zip(populations, kept, per_stratum)]
        labels = np.repeat(np.arange(N_STRATA), per_stratum)
        self._set_release(release_from_rows(dataset, np.vstack(chosen), labels), dataset.schema)
        self.noise_std_ = sigma
        self.sensitivity_ = 1.0
        self.threshold_ = cut
        self.noisy_votes_ = votes
        self.noisy_counts_ = counts
        self.final_population_ = populations
        self.ledger_ = ledger
        return self

    def _public_rows(self, dataset: Dataset) -> int | None:
        """Rows to release when public (``None``: ``large`` without a public row count)."""
        if self.n_samples == "size":
            return synthetic_rows(dataset.task, self.size)
        if self.n_samples == "large":
            return None if dataset.n_public is None else int(dataset.n_public)
        return int(self.n_samples)

    def _population(self, rows_total: int) -> int:
        """Rows per population: ``population_factor`` × half the released rows, rounded up and capped."""
        return min(max(1, math.ceil(float(self.population_factor) * rows_total / N_STRATA)), int(self.max_population))

    def _release_sizes(self, dataset: Dataset, rows_total: int | None, counts: np.ndarray) -> np.ndarray:
        """Released rows per stratum: ``size`` per class, else split by the estimated counts."""
        if self.n_samples == "size" and dataset.task == "classification":
            return np.full(N_STRATA, int(self.size), dtype=np.int64)
        total = rows_total if rows_total is not None else max(round(float(counts.sum())), 1)
        return allocate(int(total), counts)
