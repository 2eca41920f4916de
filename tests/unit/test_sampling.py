"""DP-ZO's Poisson subsampling: batch sizes and per-row inclusion follow Binomial(n, q) for the ledger's q.

The accountant's amplification by subsampling assumes every row is drawn independently with
probability q at every step. Two broken samplers pass every other test: one at rate 2q while the
accountant is told q, and one that takes the first ⌊q·n⌋ rows every time. These checks fail
both, on :meth:`PrivateRows.poisson_batch` directly and on the batches a real fit draws.

Every check is a z-test with a fixed seed and a tolerance of several standard deviations (a
correct sampler fails one with probability below 1e-5; the broken ones miss by tens to
hundreds of standard deviations):

- batch sizes: mean and variance against Binomial(n, q) (``n q`` and ``n q (1 − q)``);
- inclusion: every row's count over T draws against Binomial(T, q), the largest |z| over rows
  (Bonferroni) and the χ² of all rows together;
- the q passed to the sampler, the fit's ``sampling_rate_`` and the ledger's entry are the same.
"""

from __future__ import annotations

import math
import sys

import numpy as np
import pytest
from scipy.stats import chi2, norm

from dpcondense.data import Dataset
from dpcondense.datasets import load_dataset
from dpcondense.methods.dpzo import DPZOCondenser, PrivateRows

#: a correct sampler fails a single z-test at this |z| with probability 6e-7
Z_MAX = 5.0
#: two-sided level of the χ² test of the inclusion counts
CHI2_ALPHA = 1e-6


@pytest.fixture(scope="module")
def distinct_rows() -> Dataset:
    """pima_diabetes with duplicate encoded rows dropped (a batch's rows then name their indices)."""
    ds = load_dataset("pima_diabetes")
    _, first = np.unique(ds.encoded(), axis=0, return_index=True)
    sub = ds.subset(np.sort(first))
    sub.n_public = sub.n_rows
    return sub


def _row_index(private: PrivateRows) -> dict[bytes, int]:
    """Encoded row → its index (a rate-1 batch is every row, in order)."""
    X, _ = private.poisson_batch(1.0, np.random.default_rng(0))
    index = {row.tobytes(): i for i, row in enumerate(X)}
    assert len(index) == len(X), "rows must be distinct to be told apart"
    return index


def _indices(batch: np.ndarray, index: dict[bytes, int]) -> np.ndarray:
    return np.array([index[row.tobytes()] for row in batch], dtype=np.int64)


def _size_z(sizes: np.ndarray, n: int, q: float) -> tuple[float, float]:
    """z of the mean and of the variance of i.i.d. batch sizes against Binomial(n, q)."""
    T = len(sizes)
    mu, var = n * q, n * q * (1 - q)
    z_mean = (sizes.mean() - mu) / math.sqrt(var / T)
    # the sample variance of T draws has variance (μ4 − σ⁴)/T + 2σ⁴/(T(T−1)); binomial μ4 = σ²(1 + 3(n − 2)pq)
    mu4 = var * (1 + 3 * (n - 2) * q * (1 - q))
    sd_var = math.sqrt((mu4 - var**2) / T + 2 * var**2 / (T * (T - 1)))
    z_var = (sizes.var(ddof=1) - var) / sd_var
    return float(z_mean), float(z_var)


def _inclusion_stats(counts: np.ndarray, draws: int, q: float) -> tuple[float, float]:
    """Largest |z| of the rows' inclusion counts against Binomial(draws, q), and the χ² p-value of all rows."""
    sd = math.sqrt(draws * q * (1 - q))
    z = (counts - draws * q) / sd
    stat = float((z**2).sum())
    p = 2 * min(chi2.cdf(stat, len(counts)), chi2.sf(stat, len(counts)))
    return float(np.abs(z).max()), float(p)


def _z_bonferroni(rows: int) -> float:
    """|z| a correct sampler's largest row exceeds with probability ≈ 1e-5 (normal approximation)."""
    return float(norm.isf(1e-5 / (2 * rows)))


# --------------------------------------------------------------------------- the sampler itself


DRAWS, Q = 2000, 0.3


@pytest.fixture(scope="module")
def direct_draws(distinct_rows):
    private = PrivateRows(distinct_rows)
    index = _row_index(private)
    rng = np.random.default_rng(20240611)
    batches = [_indices(private.poisson_batch(Q, rng)[0], index) for _ in range(DRAWS)]
    return len(index), batches


def test_poisson_batch_sizes_are_binomial(direct_draws):
    n, batches = direct_draws
    sizes = np.array([len(b) for b in batches], dtype=float)
    z_mean, z_var = _size_z(sizes, n, Q)
    assert abs(z_mean) < Z_MAX, f"mean batch {sizes.mean():.1f} vs n·q = {n * Q:.1f} (z = {z_mean:.1f})"
    assert abs(z_var) < Z_MAX, f"batch-size variance {sizes.var(ddof=1):.1f} vs n·q·(1−q) = {n * Q * (1 - Q):.1f} (z = {z_var:.1f})"


def test_poisson_batch_includes_every_row_at_rate_q(direct_draws):
    n, batches = direct_draws
    counts = np.bincount(np.concatenate(batches), minlength=n)
    worst, p = _inclusion_stats(counts, DRAWS, Q)
    assert worst < _z_bonferroni(n), f"a row's inclusion frequency is off by {worst:.1f} sd (first rows: {counts[:5] / DRAWS})"
    assert p > CHI2_ALPHA, f"inclusion counts inconsistent with Binomial({DRAWS}, {Q}): χ² p = {p:.2g}"


def test_poisson_batches_are_independent_across_draws(direct_draws):
    # a row's inclusion at one draw says nothing about the next (a sampler that reuses its draws fails)
    n, batches = direct_draws
    hits = np.zeros((DRAWS, n), dtype=bool)
    for t, b in enumerate(batches):
        hits[t, b] = True
    rate = hits.mean()  # the observed rate: this test is about independence, not about q
    both = (hits[1:] & hits[:-1]).sum()
    pairs = (DRAWS - 1) * n
    z = (both - pairs * rate**2) / math.sqrt(pairs * rate**2 * (1 - rate**2))
    assert abs(z) < Z_MAX, f"consecutive inclusions {both} vs {pairs * rate**2:.0f} expected (z = {z:.1f})"


# --------------------------------------------------------------------------- the batches a fit draws


STEPS, BATCH, N_FIT = 300, 64, 200


@pytest.fixture(scope="module")
def fit_draws(distinct_rows):
    """The batches a seeded DP-ZO fit draws (recorded by wrapping the sampler, behaviour unchanged)."""
    rng = np.random.default_rng(7)
    rows = distinct_rows.subset(np.sort(rng.choice(distinct_rows.n_rows, N_FIT, replace=False)))
    rows.n_public = N_FIT
    original = PrivateRows.poisson_batch
    seen: list[tuple[float, np.ndarray]] = []
    indices: dict[int, dict[bytes, int]] = {}

    def recording(self, sampling_rate, rng):
        X, targets = original(self, sampling_rate, rng)
        if sys._getframe(1).f_code.co_name == "privatized_zo_sum":  # a step's batch, not a full read
            index = indices.setdefault(id(self), _row_index_via(original, self))
            seen.append((float(sampling_rate), _indices(X, index)))
        return X, targets

    mp = pytest.MonkeyPatch()
    mp.setattr(PrivateRows, "poisson_batch", recording)
    try:
        est = DPZOCondenser(
            steps=STEPS, directions=1, batch_size=BATCH, init="random", class_balance=False, objective_weight=0.0,
        ).fit(rows, model="decision_tree", size=2, epsilon=1.0, random_state=3, noise="seeded")
    finally:
        mp.undo()
    return est, seen


def _row_index_via(poisson_batch, private: PrivateRows) -> dict[bytes, int]:
    X, _ = poisson_batch(private, 1.0, np.random.default_rng(0))
    index = {row.tobytes(): i for i, row in enumerate(X)}
    assert len(index) == len(X)
    return index


def _steps_entry(est):
    return next(e for e in est.ledger_.entries if e.purpose == "dpzo_steps")


def test_fit_samples_at_the_rate_the_ledger_records(fit_draws):
    est, seen = fit_draws
    entry = _steps_entry(est)
    assert len(seen) == STEPS, "one Poisson batch per step"
    rates = {rate for rate, _ in seen}
    assert rates == {entry.sampling_rate} == {est.sampling_rate_} == {BATCH / N_FIT}
    assert entry.steps == STEPS


def test_fit_batch_sizes_are_binomial_at_the_ledger_rate(fit_draws):
    est, seen = fit_draws
    q = _steps_entry(est).sampling_rate
    sizes = np.array([len(b) for _, b in seen], dtype=float)
    z_mean, z_var = _size_z(sizes, N_FIT, q)
    assert abs(z_mean) < Z_MAX, f"mean batch {sizes.mean():.1f} vs n·q = {N_FIT * q:.1f} (z = {z_mean:.1f})"
    assert abs(z_var) < Z_MAX, f"batch-size variance {sizes.var(ddof=1):.1f} vs {N_FIT * q * (1 - q):.1f} (z = {z_var:.1f})"


def test_fit_includes_every_row_at_the_ledger_rate(fit_draws):
    est, seen = fit_draws
    q = _steps_entry(est).sampling_rate
    counts = np.bincount(np.concatenate([b for _, b in seen]), minlength=N_FIT)
    worst, p = _inclusion_stats(counts, STEPS, q)
    assert worst < _z_bonferroni(N_FIT), f"a row's inclusion frequency is off by {worst:.1f} sd ({counts[:5] / STEPS})"
    assert p > CHI2_ALPHA, f"inclusion counts inconsistent with Binomial({STEPS}, {q}): χ² p = {p:.2g}"
