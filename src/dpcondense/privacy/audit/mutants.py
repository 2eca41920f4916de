"""Deliberately broken DP-ZO, to measure what the audit catches (tests and benchmarks only).

Each context manager breaks the mechanism while the ledger keeps claiming the calibrated
budget, as ``DPZOCondenser(_unsafe_disable_noise=True)`` does for "no noise at all". Never use
them in a run whose release leaves the machine.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from dpcondense.methods.dpzo import optimiser as _zo_optimiser


@contextmanager
def scaled_step_noise(factor: float) -> Iterator[None]:
    """Every DP-ZO step adds noise of multiplier ``factor · σ`` (e.g. 0.5: halved); the ledger and the arguments still say σ.

    Wraps the privatised sum the steps call (as a bug inside it would), so the σ the step is
    handed matches the ledger and only the noise actually drawn is wrong. Raises
    ``RuntimeError`` on exit if no DP-ZO step ran inside the block (it would have tested nothing).
    """
    original = _zo_optimiser.privatized_zo_sum
    calls = 0

    def scaled(*args: Any, noise_multiplier: float, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        return original(*args, noise_multiplier=noise_multiplier * float(factor), **kwargs)

    _zo_optimiser.privatized_zo_sum = scaled
    try:
        yield
    finally:
        _zo_optimiser.privatized_zo_sum = original
    if not calls:
        raise RuntimeError("scaled_step_noise: no DP-ZO step ran inside the block")
