"""The one place that imports pycox (and torch), lazily, with a SciPy compatibility shim.

pycox 0.3.0 calls ``scipy.integrate.simps``, removed in SciPy 1.14 in favour of the
equivalent ``scipy.integrate.simpson``. Importing torch is slow, so families import it
through here only when they first fit.
"""

from __future__ import annotations

import contextlib
from types import ModuleType
from typing import Iterator


def import_pycox() -> tuple[ModuleType, ModuleType, ModuleType]:
    """Return ``(torch, torchtuples, pycox.models)`` after patching ``scipy.integrate.simps``."""
    import scipy.integrate

    if not hasattr(scipy.integrate, "simps"):
        scipy.integrate.simps = scipy.integrate.simpson
    import pycox.models
    import torch
    import torchtuples

    return torch, torchtuples, pycox.models


@contextlib.contextmanager
def torch_isolated(seed: int | None) -> Iterator[None]:
    """Run torch on one thread and, if ``seed`` is given, from a forked RNG seeded with it.

    The global RNG state and the thread count are restored on exit, so nothing leaks out.
    """
    torch, _, _ = import_pycox()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        if seed is None:
            yield
        else:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(seed)
                yield
    finally:
        torch.set_num_threads(threads)
