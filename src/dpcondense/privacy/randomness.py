"""Where a mechanism's noise and sampling come from: an OS-entropy CSPRNG, or the labelled benchmark mode.

A release that leaves the machine must not have noise anyone can regenerate: with the seed, an
adversary who knows the other rows re-simulates the release with and without a patient and
decides membership with certainty. So the noise and the Poisson sampling of every mechanism
come from ChaCha20 (``randomgen.ChaCha``, 20 rounds) keyed with 256 bits from the operating
system (:mod:`secrets`), fresh for every fit and never recorded (``"secure"``).

``"seeded"`` derives them from the run's seed instead, so a benchmark table regenerates bit for
bit; the ledger then says so (:data:`SEEDED_NOTE`) and a custodian's CSV is never released that
way. Public randomness (directions, the initial rows, model seeds) always comes from the seed.
"""

from __future__ import annotations

import secrets
from typing import Literal

import numpy as np
from randomgen import ChaCha

NoiseMode = Literal["secure", "seeded"]
NOISE_MODES: tuple[str, ...] = ("secure", "seeded")
#: what the ledger says about a release whose noise came from the run's seed
SEEDED_NOTE = "seeded noise: reproducible, not for release"


def secure_generator() -> np.random.Generator:
    """A new generator over ChaCha20 keyed with 256 bits of OS entropy (never stored)."""
    return np.random.Generator(ChaCha(seed=secrets.randbits(256), rounds=20))


def noise_generator(mode: str, seed: np.random.SeedSequence) -> np.random.Generator:
    """The generator of a mechanism's noise or sampling in ``mode``.

    Parameters
    ----------
    mode : {"secure", "seeded"}
        ``"secure"``: :func:`secure_generator` (``seed`` is ignored); ``"seeded"``: the benchmark
        mode, ``numpy.random.default_rng(seed)``.
    seed : numpy.random.SeedSequence
        The stream the seeded mode uses (spawned from the run's seed).

    Raises
    ------
    ValueError
        If ``mode`` is not one of :data:`NOISE_MODES`.
    """
    if mode == "secure":
        return secure_generator()
    if mode == "seeded":
        return np.random.default_rng(seed)
    raise ValueError(f"noise={mode!r} must be one of: {', '.join(NOISE_MODES)}")
