"""A differentially private row count (sensitivity 1 under add/remove-one adjacency).

The default mechanism adds **discrete** Laplace noise (the two-sided geometric mechanism: the
difference of two geometric draws with success probability 1 − e^(−ε)), an integer, so the
released count is an integer computed without floating-point noise arithmetic (the textbook
continuous Laplace sampler leaks through the gaps of its floating-point outputs: Mironov, CCS 2012).
It is pure ε-DP.
"""

from __future__ import annotations

import math
from typing import Any, Literal

import numpy as np

from dpcondense.privacy.mechanisms import gaussian_mechanism_sigma
from dpcondense.privacy.validation import PrivacyParameterError, parse_epsilon

CountMechanism = Literal["laplace", "gaussian"]


def dp_count(
    true_count: int,
    *,
    epsilon: float,
    delta: float = 0.0,
    mechanism: CountMechanism = "laplace",
    rng: np.random.Generator,
) -> tuple[int, dict[str, Any]]:
    """A differentially private count (sensitivity 1 under add/remove-one adjacency).

    ``"laplace"``: discrete Laplace noise with parameter ``e^(−ε)`` (the two-sided geometric
    mechanism, pure ε-DP, ``delta`` unused; an integer added to an integer). ``"gaussian"``:
    Gaussian noise calibrated by the analytic Gaussian mechanism for (ε, δ), rounded. The result
    is floored at 1 (post-processing).

    Returns
    -------
    count : int
    details : dict
        ``mechanism``, ``noise_scale`` (Laplace b or Gaussian σ), ``sensitivity``,
        ``epsilon``, ``delta`` — what the ledger records.

    Raises
    ------
    PrivacyParameterError
    """
    eps = parse_epsilon(epsilon)
    if math.isinf(eps):
        raise PrivacyParameterError("dp_count needs a finite epsilon > 0")
    if mechanism == "laplace":
        scale = 1.0 / eps
        # two-sided geometric: P(k) ∝ exp(-eps |k|) on the integers
        p = -math.expm1(-eps)
        noisy = int(true_count) + int(rng.geometric(p)) - int(rng.geometric(p))
        spent_delta = 0.0
    elif mechanism == "gaussian":
        scale = gaussian_mechanism_sigma(eps, delta, 1.0)
        noisy = true_count + rng.normal(0.0, scale)
        spent_delta = float(delta)
    else:
        raise PrivacyParameterError(f"mechanism must be 'laplace' or 'gaussian', got {mechanism!r}")
    name = "discrete laplace" if mechanism == "laplace" else mechanism
    details = {"mechanism": name, "noise_scale": scale, "sensitivity": 1.0, "epsilon": eps, "delta": spent_delta}
    return max(1, int(round(noisy))), details
