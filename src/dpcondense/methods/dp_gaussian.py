"""``dp_gaussian``: class-conditional Gaussians whose moments are released by the Gaussian mechanism.

Rows are model-space features (survival: plus the scaled log-time column), stratified by class
(survival: by event). Each row is centred on the middle of the public box, so its L2 norm is at
most ``R = ||(upper - lower) / 2||₂`` — a number from the schema alone, never from the data.
Under add/remove-one adjacency one patient changes exactly one stratum's statistics, so:

========================  ======================================  ===================
release (all strata)      statistic                               L2 sensitivity
========================  ======================================  ===================
``counts``                ``n_c``                                 1
``sums``                  ``Σ z_i``                               R
``second_moments``        upper triangle of ``Σ z_i z_iᵀ``        R² (‖z zᵀ‖_F = ‖z‖²)
========================  ======================================  ===================

The three releases are calibrated jointly
(:func:`~dpcondense.methods._baseline.plan_gaussian_releases`): the budget shares fix the ratios
of their noise (each σ proportional to the analytic Gaussian σ at its share of (ε, δ)), and one
common scale makes their composition — a single Gaussian with ``1/m² = Σ Δ_k²/σ_k²`` — exactly
(ε, δ)-DP. The ledger composes them with privacy loss distributions (``composition="pld"``), so
its ε is the target.

Mean = sum / noisy count; covariance = second moment / noisy count − mean meanᵀ, projected onto
the positive semi-definite cone; ``size`` rows per class (survival: ``size`` rows split by the
noisy event counts) are sampled from public randomness and clipped to the box. Everything after the three releases is post-processing.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from dpcondense.data import Dataset
from dpcondense.methods._baseline import (
    model_box,
    parse_budget,
    plan_gaussian_releases,
    release_from_rows,
    seed_sequence,
    strata_and_rows,
    synthetic_sizes,
    gaussian_releases,
)
from dpcondense.methods.base import CondensationMethod, register_method
from dpcondense.params import ParamSpec
from dpcondense.privacy import PrivacyLedger

#: the three releases, in spending order
RELEASES = ("counts", "sums", "second_moments")


@register_method("dp_gaussian")
class DPGaussian(CondensationMethod):
    """Sample synthetic rows from DP class-conditional (or event-stratified) Gaussians.

    Parameters
    ----------
    model, size, epsilon, delta, random_state, model_params
        As in :class:`~dpcondense.methods.base.CondensationMethod` (``model`` is not used).
        ``epsilon = inf`` releases exact moments (no noise; the ledger says non-private).
    budget_shares : dict, default={"counts": 0.1, "sums": 0.3, "second_moments": 0.6}
        Relative shares of (ε, δ) for the three releases: they set the ratios of the releases'
        noise, which is then scaled jointly to the whole budget.
    covariance : {"full", "diagonal"}, default="full"
        ``full`` releases the upper triangle of ``Σ z zᵀ`` (sensitivity ``R²``); ``diagonal``
        releases only ``Σ z²`` per column (sensitivity ``||h²||₂`` with ``h`` the box half-widths,
        far smaller for many columns) and samples independent columns.
    min_variance : float, default=1e-3
        Floor of the covariance eigenvalues after the PSD projection (model-space units²).

    Attributes
    ----------
    noise_std_ : dict of str to float
        The Gaussian noise standard deviation used for each release.
    sensitivity_ : dict of str to float
        The L2 sensitivity of each release (from the public box).
    noisy_counts_ : ndarray
        The released stratum counts (post-processing input; public once released).
    """

    label = "DP Gaussian"
    version = 2

    private = True
    param_specs = {
        "budget_shares": ParamSpec(
            dict, keys=RELEASES, item=ParamSpec(float, low=0.0, low_open=True), allow_none=True,
            doc="relative shares of the budget of the releases",
        ),
        "covariance": ParamSpec(str, choices=("full", "diagonal"), doc="which second moments are released"),
        "min_variance": ParamSpec(float, low=0.0, low_open=True, doc="floor of the covariance eigenvalues"),
    }

    def __init__(
        self,
        *,
        budget_shares: dict[str, float] | None = None,
        covariance: Literal["full", "diagonal"] = "full",
        min_variance: float = 1e-3,
    ) -> None:
        super().__init__()
        self.budget_shares = budget_shares
        self.covariance = covariance
        self.min_variance = min_variance

    def _fit(self, dataset: Dataset) -> "DPGaussian":
        eps = parse_budget(self.epsilon)
        shares = dict(self.budget_shares or {"counts": 0.1, "sums": 0.3, "second_moments": 0.6})
        if set(shares) != set(RELEASES):
            raise ValueError(f"budget_shares must have exactly the keys {list(RELEASES)}, got {sorted(shares)}")
        if self.covariance not in ("full", "diagonal"):
            raise ValueError(f"covariance must be 'full' or 'diagonal', got {self.covariance!r}")
        if not self.min_variance > 0:
            raise ValueError(f"min_variance must be > 0, got {self.min_variance}")
        ledger = PrivacyLedger(eps, self.delta, n_public=dataset.n_public, composition="pld")
        noise_seed, sample_seed = seed_sequence(self.random_state).spawn(2)
        # rows are drawn from the released statistics: post-processing, public randomness
        rng_noise, rng_sample = self._noise_rng(noise_seed), np.random.default_rng(sample_seed)

        lower, upper = model_box(dataset)
        center = (lower + upper) / 2.0
        half_width = (upper - lower) / 2.0
        radius = float(np.linalg.norm(half_width))
        full = self.covariance == "full"
        second_sensitivity = radius**2 if full else float(np.linalg.norm(half_width**2))
        sensitivity = {"counts": 1.0, "sums": radius, "second_moments": second_sensitivity}
        p = lower.size
        triu = np.triu_indices(p) if full else (np.arange(p), np.arange(p))
        plan = plan_gaussian_releases(eps, self.delta, {k: shares[k] for k in RELEASES}, sensitivity)

        # --- the only block that reads real rows: three Gaussian releases ------------------
        strata, rows = strata_and_rows(dataset)
        z = np.clip(rows, lower, upper) - center  # ‖z‖₂ ≤ radius by construction
        exact = {
            "counts": np.bincount(strata, minlength=2).astype(float),
            "sums": np.stack([z[strata == c].sum(axis=0) for c in (0, 1)]),
            "second_moments": np.stack(
                [(z[strata == c].T @ z[strata == c])[triu] if full else (z[strata == c] ** 2).sum(axis=0) for c in (0, 1)]
            ),
        }
        exact = {name: exact[name] for name in RELEASES}
        noisy, self.noise_std_ = gaussian_releases(exact, plan, sensitivity, rng_noise, ledger, "dp_gaussian")
        del exact, z, rows, strata
        # --- post-processing of the released values only -------------------------------------

        counts = np.maximum(noisy["counts"], 1.0)
        sizes = synthetic_sizes(dataset, self.size, noisy["counts"])
        synth, labels = [], []
        for c in (0, 1):
            if sizes[c] == 0:
                continue
            mean = noisy["sums"][c] / counts[c]
            second = np.zeros((p, p))
            second[triu] = noisy["second_moments"][c]
            second = (second + np.triu(second, 1).T) / counts[c]
            if not full:  # only the diagonal was released: independent columns
                second = np.diag(np.diag(second) - mean**2) + np.outer(mean, mean)
            cov = _psd(second - np.outer(mean, mean), float(self.min_variance))
            draws = rng_sample.multivariate_normal(mean, cov, size=int(sizes[c]), method="eigh")
            synth.append(np.clip(draws + center, lower, upper))
            labels.append(np.full(int(sizes[c]), c, dtype=np.int64))
        self._set_release(release_from_rows(dataset, np.vstack(synth), np.concatenate(labels)), dataset.schema)
        self.sensitivity_ = sensitivity
        self.noisy_counts_ = noisy["counts"]
        self.ledger_ = ledger
        return self


def _psd(matrix: np.ndarray, floor: float) -> np.ndarray:
    """Nearest symmetric matrix with eigenvalues ≥ ``floor`` (eigenvalue clipping)."""
    sym = (matrix + matrix.T) / 2.0
    vals, vecs = np.linalg.eigh(sym)
    return (vecs * np.maximum(vals, floor)) @ vecs.T
