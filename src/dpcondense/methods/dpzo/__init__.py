"""DP-ZO condensation (``docs/design.md`` §1): zeroth-order optimisation of synthetic rows, privatised per patient.

One step:

1. Poisson-sample a batch of real rows (rate ``q``).
2. Draw ``K`` Gaussian directions of the synthetic parameters from public randomness.
3. Fit the model on ``S + μu_k`` and ``S − μu_k`` with the same model seed (common random numbers).
4. Inside :func:`privatized_zo_sum` compute each patient's K two-point loss differences, clip the
   vector to norm ``C``, sum, add ``N(0, σ²C²)``.
5. ``grad = (1 / (K q n)) Σ_k G_k u_k``; an Adam (or SGD) step; projection onto the public domain.

Privacy: each step is a Poisson-subsampled Gaussian mechanism with L2 sensitivity ``C`` on the
sum of clipped per-example vectors (add/remove-one adjacency); everything else — directions,
initial rows, model seeds, the fits themselves, the optimiser — is post-processing of public
randomness and previous noisy outputs. σ is calibrated so that the T steps, composed jointly
(privacy loss distributions) with the run's other mechanisms — the ``dp_mean`` start, the label
teacher and any prior spend such as a DP row count — meet (ε, δ) (``accounting="joint"``), or,
with ``accounting="split"``, so that the steps alone meet what the others' shares leave.

Modules, each importing only the ones before it:

- :mod:`~dpcondense.methods.dpzo.primitives`: the privatised primitives, the only code that
  reads real rows.
- :mod:`~dpcondense.methods.dpzo.labels`: public synthetic targets and the label modes.
- :mod:`~dpcondense.methods.dpzo.optimiser`: budget plan and σ, candidate fits, one ZO step.
- :mod:`~dpcondense.methods.dpzo.estimator`: :class:`DPZOCondenser`, registered as ``"dpzo"``.
"""

from __future__ import annotations

from dpcondense.methods.dpzo.estimator import DPZOCondenser
from dpcondense.methods.dpzo.labels import LOGIT_BOUND
from dpcondense.methods.dpzo.primitives import (
    LOSS_MAX,
    ClipMode,
    PrivateRows,
    clipped_sum,
    per_example_vectors,
    privatized_class_means,
    privatized_teacher,
    privatized_zo_sum,
)
from dpcondense.models.base import P_MIN

__all__ = [
    "ClipMode",
    "DPZOCondenser",
    "LOGIT_BOUND",
    "LOSS_MAX",
    "P_MIN",
    "PrivateRows",
    "clipped_sum",
    "per_example_vectors",
    "privatized_class_means",
    "privatized_teacher",
    "privatized_zo_sum",
]
