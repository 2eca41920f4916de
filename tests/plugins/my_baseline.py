"""A complete baseline defined outside the package (the example of docs/adding_a_baseline.md).

``my_baseline``: DP noisy class means. Each class's rows (model space, centred on the public
box) are summed and counted; both are released once with the analytic Gaussian mechanism; the
synthetic rows of a class are its noisy mean plus public Gaussian jitter, clipped to the box.
Classification only.

Use it without editing dpcondense:

    PYTHONPATH=tests/plugins dpcondense condense --plugin my_baseline --method my_baseline \
        --dataset pima_diabetes --out out/my_baseline
"""

from __future__ import annotations

import math

import numpy as np

from dpcondense.methods import CondensationMethod, SyntheticSet, register_method
from dpcondense.methods.base import balanced_labels
from dpcondense.params import ParamSpec
from dpcondense.privacy import PrivacyLedger, gaussian_mechanism_sigma, split_budget


@register_method("my_baseline")
class NoisyClassMeans(CondensationMethod):
    """``size`` rows per class around each class's DP mean.

    Parameters
    ----------
    jitter : float, default=0.2
        Std of the public Gaussian noise around the noisy mean (model-space units).
    """

    # capabilities: a DP method that releases rows, for classification datasets only
    private = True
    tasks = ("classification",)
    # its hyperparameters, checked at every surface before any work
    param_specs = {"jitter": ParamSpec(float, low=0.0, doc="std of the public jitter around each class's DP mean")}

    def __init__(self, *, jitter: float = 0.2) -> None:
        super().__init__()
        self.jitter = jitter

    def _fit(self, dataset):
        self.check_task(dataset.task)
        if not math.isfinite(float(self.epsilon)):
            raise ValueError("my_baseline is a DP baseline: epsilon must be finite")
        noise_seed, public_seed = np.random.SeedSequence(self.random_state).spawn(2)
        # the mechanism's noise: secret (OS CSPRNG) unless the run asked for the seeded benchmark mode
        rng_noise, rng_public = self._noise_rng(noise_seed), np.random.default_rng(public_seed)
        encoder = dataset.encoder()
        lower, upper = encoder.lower_, encoder.upper_
        center = (lower + upper) / 2
        radius = float(np.linalg.norm((upper - lower) / 2))  # from the public box only

        ledger = PrivacyLedger(self.epsilon, self.delta, n_public=dataset.n_public)
        parts = split_budget(self.epsilon, self.delta, {"counts": 0.2, "sums": 0.8})
        sigma_counts = gaussian_mechanism_sigma(*parts["counts"], sensitivity=1.0)
        sigma_sums = gaussian_mechanism_sigma(*parts["sums"], sensitivity=radius)

        # the only lines that read real rows
        z = np.clip(dataset.encoded(), lower, upper) - center
        counts = np.bincount(dataset.y, minlength=2) + rng_noise.normal(0, sigma_counts, 2)
        sums = np.stack([z[dataset.y == c].sum(axis=0) for c in (0, 1)])
        sums = sums + rng_noise.normal(0, sigma_sums, sums.shape)

        for purpose, sigma, sens in (("counts", sigma_counts, 1.0), ("sums", sigma_sums, radius)):
            ledger.spend(purpose, mechanism="gaussian", epsilon=parts[purpose][0], delta=parts[purpose][1],
                         noise_multiplier=sigma / sens, sensitivity=sens)

        means = sums / np.maximum(counts, 1.0)[:, None] + center
        y = balanced_labels(int(self.size))
        X = means[y] + rng_public.normal(0.0, self.jitter, (len(y), lower.size))
        self._set_release(SyntheticSet(X=np.clip(X, lower, upper), y=y), dataset.schema)
        self.noise_std_ = {"counts": sigma_counts, "sums": sigma_sums}
        self.ledger_ = ledger
        return self
