"""Shared parts of the benchmark suite: one thread per fit, peak memory, cached splits, storage.

Every benchmark goes through the :func:`measure` fixture, which times the target with
pytest-benchmark and then runs it once more under ``tracemalloc`` (its peak lands in
``benchmark.extra_info["peak_mib"]``). Saved runs go to
``benchmarks/results/runs/`` whatever the working directory (see ``benchmarks/README.md``).
"""

from __future__ import annotations

import os

# one BLAS/OpenMP thread, as in the runs, set before numpy is imported: timings stay comparable
for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import functools  # noqa: E402
import tracemalloc  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any, Callable  # noqa: E402

import pytest  # noqa: E402

#: where ``--benchmark-save`` writes when no ``--benchmark-storage`` is given (only saved runs:
#: ``pytest-benchmark compare`` reads every JSON file below it)
RESULTS = Path(__file__).resolve().parent / "results" / "runs"
#: pytest-benchmark's own default storage (a ``.benchmarks`` folder in the working directory)
_PLUGIN_DEFAULT_STORAGE = "file://./.benchmarks"
#: the seed of every split, method and model in the suite
SEED = 0


def pytest_configure(config: pytest.Config) -> None:
    """Point the default storage at ``benchmarks/results/runs/`` (runs before the plugin's own hook)."""
    if getattr(config.option, "benchmark_storage", None) == _PLUGIN_DEFAULT_STORAGE:
        config.option.benchmark_storage = f"file://{RESULTS}"


def peak_mib(fn: Callable[..., Any], *args: Any, setup: Callable[[], Any] | None = None, **kwargs: Any) -> tuple[Any, float]:
    """Run ``fn(*args, **kwargs)`` once under tracemalloc; return its result and the peak in MiB.

    tracemalloc sees Python and NumPy allocations, not memory that native libraries (torch,
    xgboost) allocate on their own.
    """
    if setup is not None:
        setup()
    tracemalloc.start()
    try:
        result = fn(*args, **kwargs)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return result, peak / 2**20


@pytest.fixture
def measure(benchmark) -> Callable[..., Any]:
    """``measure(fn, *args, rounds=None, setup=None, **kwargs)``: the timing, then peak memory.

    ``rounds=None`` lets pytest-benchmark calibrate the rounds (fast targets); an integer fixes
    them, after one untimed warm-up round (slow targets). ``setup`` runs untimed before every
    call (e.g. clearing a cache). The memory pass comes last, so lazy imports and first-call
    caches are neither timed nor counted in the peak. Returns the target's result.
    """

    def run(fn: Callable[..., Any], *args: Any, rounds: int | None = None,
            setup: Callable[[], Any] | None = None, **kwargs: Any) -> Any:
        if rounds is None and setup is None:
            result = benchmark(fn, *args, **kwargs)
        else:
            result = benchmark.pedantic(fn, args=args, kwargs=kwargs, setup=setup, rounds=rounds or 5,
                                        warmup_rounds=1, iterations=1)
        _, peak = peak_mib(fn, *args, setup=setup, **kwargs)
        benchmark.extra_info["peak_mib"] = round(peak, 3)
        return result

    return run


@pytest.fixture(scope="session")
def split() -> Callable[..., tuple[Any, Any]]:
    """``split(name)``: the seeded train/test split of a built-in dataset, loaded once."""
    return load_split


@functools.lru_cache(maxsize=None)
def load_split(name: str, seed: int = SEED) -> tuple[Any, Any]:
    """The seeded train/test split of a built-in dataset (loaded once per session)."""
    from dpcondense.data import train_test_split
    from dpcondense.datasets import load_dataset

    return train_test_split(load_dataset(name), seed=seed)
