"""Orchestration: a run spec → one function that runs it → a typed result.

- :mod:`~dpcondense.benchmark.spec`: :class:`RunSpec`, the normalised run and its identity;
- :mod:`~dpcondense.benchmark.resolve`: :func:`resolve_run`, the one validation of a run's inputs;
- :mod:`~dpcondense.benchmark.runner`: :func:`run_one` → :class:`RunResult`;
- :mod:`~dpcondense.benchmark.outputs`: the atomic writer of a run's files;
- :mod:`~dpcondense.benchmark.tracking`: the MLflow store (skip, resume, record);
- :mod:`~dpcondense.benchmark.app` and :mod:`~dpcondense.benchmark.callbacks`: the Hydra app.
"""

from __future__ import annotations

from dpcondense.benchmark.resolve import resolve_run
from dpcondense.benchmark.runner import RunResult, run_one
from dpcondense.benchmark.spec import RunConfigError, RunSpec

__all__ = ["RunConfigError", "RunResult", "RunSpec", "resolve_run", "run_one"]
