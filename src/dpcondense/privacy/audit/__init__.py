"""Empirical privacy audit: a canary membership-inference attack that lower-bounds ε.

The audit runs a condensation method ``R`` times on a small, fixed audit dataset ``D`` (rows of
a built-in dataset's training split, or of a custodian's own data). In a seeded, balanced half
of the runs a crafted **canary** row is added to ``D``; sampling and noise are fresh in every
run. Each release is scored by a test statistic — how much the release "knows" the canary —
and a threshold turns the scores into guesses IN / OUT.

If the method is (ε, δ)-DP, every such test satisfies ``TPR ≤ e^ε FPR + δ`` and
``1 − FPR ≤ e^ε (1 − TPR) + δ``. With Clopper–Pearson 95 % intervals on the observed rates,

    ε_lb = max( log((TPR_lo − δ) / FPR_hi),  log((1 − FPR_hi − δ) / (1 − TPR_lo)) )

(clipped below at 0) is a lower bound on the mechanism's true ε at 95 % confidence per rate
(Jagielski et al. 2020; Nasr et al. 2021). Both terms take each rate at the end of its interval
that makes the ratio smallest: the second uses ``FPR_hi`` and ``TPR_lo``. (With ``FPR_lo`` and
``TPR_hi`` there, as it is sometimes written, the bound is over-stated: it would certify ε > 0.7
for an attack that never guessed a member right in 5 + 5 trials.) A correct DP method gives
``ε_lb ≤ ε`` up to the confidence level; a broken one — noise disabled while the ledger still
claims ε — gives ``ε_lb`` well above ε when the trials suffice. The most that R trials can
certify (perfect separation) is :func:`max_certifiable_epsilon`, reported as the audit's power.

Design choices:

- **Audit rows**: ``n_rows`` (default 200) rows drawn, stratified and seeded, from the training
  split, with the same public ``n`` in both worlds; per-run settings are small
  (:data:`AUDIT_METHOD_DEFAULTS`): the audit is about the mechanism. DP-ZO's default batch of 64
  is then a Poisson rate q = 0.32, so subsampling is part of what is audited (with
  ``n_rows <= 64`` every row is in every batch, q = 1).
- **Public randomness fixed** (default, for methods that take ``public_seed``, e.g. DP-ZO):
  initial rows, directions and model seeds are the same in every run; Poisson sampling and noise
  are fresh. DP-ZO's privacy argument holds for every fixed value of its public randomness, so
  this is a valid audit against a stronger attacker who knows it — and it removes the run-to-run
  variance that would otherwise hide the canary.
- **Canary** (:func:`craft_canary`): a corner of the public domain where the audit rows are not —
  each numeric feature at its bound farther from the rows' mean, binary and categorical
  features at their rarest value, missing where the rows are mostly observed — with the rarer
  label (survival: an event at half the first grid time).
- **Statistic** ``distance`` (default): minus the model-space distance from the canary to the
  nearest released row of its label (continuous, so any influence shows). ``loss``: minus the
  canary's per-example loss under the condensing model trained on the release.
- **Threshold** ``split`` (default): the first ``calibration_fraction`` of the runs (balanced
  IN/OUT) choose the threshold *and direction* maximising the bound; only the remaining runs
  are counted, so the selection does not bias the intervals. ``fixed``: the a-priori threshold
  of ``loss`` (the release's model gives the canary's label probability > 1/2) on all runs.
- **DCR**: distance to closest record, in model space, of every released row to the run's
  training rows and to an equally large held-out set; medians over all released rows and runs.
  Releases much closer to training rows than to held-out rows would be copying patients.

**White-box audit of DP-ZO** (:mod:`~dpcondense.privacy.audit.whitebox`). The black-box bound
above cannot certify more than :func:`max_certifiable_epsilon` of its trial count (≈ 2.3 with 100
runs) and, on a subsampled, noisy mechanism, its attack is weak. So every DP-ZO run is also
tapped: each step is replayed without noise on the same batch, and ``release − exact sum``
must have the ledger's scale σ·C (a χ² test; halved noise fails it in one run); batch sizes and
per-row inclusion counts must match Binomial(n, q) for the ledger's q; the σ, C, q the steps
were called with must be the ledger's; and each run releases sums over Dirac **gradient
canaries** (each included with probability 1/2, a full-norm vector in a coordinate of its own)
with the step's own parameters and generators, scored by the claimed mechanism's likelihood
ratio and turned into an ε lower bound by the one-run analysis of Steinke, Nasr & Jagielski
(2023) (:mod:`~dpcondense.privacy.audit.one_run`). :func:`run_whitebox_audit` runs only this
part, with many canaries per run.

Modules: :mod:`~dpcondense.privacy.audit.attack` (the canary, its score, the thresholds, the
bound, DCR), :mod:`~dpcondense.privacy.audit.one_run` (the one-run bound),
:mod:`~dpcondense.privacy.audit.whitebox` (the tap, the gradient canaries and the checks),
:mod:`~dpcondense.privacy.audit.runner` (:func:`run_audit` and its result),
:mod:`~dpcondense.privacy.audit.whitebox_runner` (:func:`run_whitebox_audit`) and
:mod:`~dpcondense.privacy.audit.mutants` (deliberately broken DP-ZO for tests). This package runs
condensation methods, which import :mod:`dpcondense.privacy`, so ``dpcondense.privacy`` does not
import it: ``import dpcondense.privacy.audit`` explicitly.
"""

from __future__ import annotations

from dpcondense.privacy.audit.attack import (
    STATISTICS,
    THRESHOLD_RULES,
    Statistic,
    ThresholdRule,
    canary_score,
    choose_threshold,
    clopper_pearson,
    craft_canary,
    distance_to_closest,
    epsilon_lower_bound,
    fixed_threshold,
    guesses,
    max_certifiable_epsilon,
)
from dpcondense.privacy.audit.one_run import (
    OneRunBound,
    one_run_bound,
    one_run_epsilon_lower_bound,
    one_run_guesses,
    one_run_p_value,
)
from dpcondense.privacy.audit.runner import (
    AUDIT_CANARIES,
    AUDIT_METHOD_DEFAULTS,
    AuditResult,
    run_audit,
)
from dpcondense.privacy.audit.whitebox import (
    GradientCanaries,
    NoiseCheck,
    ParameterCheck,
    SamplingCheck,
    StepClaim,
    WhiteboxAccumulator,
    WhiteboxResult,
    ZOStepTap,
    canary_scores,
    noise_check,
    parameter_check,
    sampling_check,
    tapped_fit,
)
from dpcondense.privacy.audit.whitebox_runner import (
    WHITEBOX_METHOD_DEFAULTS,
    WhiteboxAudit,
    run_whitebox_audit,
)
from dpcondense.privacy.audit.worlds import (
    AUDIT_ROWS,
    AuditWorlds,
    audit_data,
    audit_dataset,
    audit_worlds,
)

__all__ = [
    "AUDIT_CANARIES",
    "AUDIT_METHOD_DEFAULTS",
    "AUDIT_ROWS",
    "STATISTICS",
    "THRESHOLD_RULES",
    "WHITEBOX_METHOD_DEFAULTS",
    "AuditResult",
    "AuditWorlds",
    "GradientCanaries",
    "NoiseCheck",
    "OneRunBound",
    "ParameterCheck",
    "SamplingCheck",
    "Statistic",
    "StepClaim",
    "ThresholdRule",
    "WhiteboxAccumulator",
    "WhiteboxAudit",
    "WhiteboxResult",
    "ZOStepTap",
    "audit_data",
    "audit_dataset",
    "audit_worlds",
    "canary_score",
    "canary_scores",
    "choose_threshold",
    "clopper_pearson",
    "craft_canary",
    "distance_to_closest",
    "epsilon_lower_bound",
    "fixed_threshold",
    "guesses",
    "max_certifiable_epsilon",
    "noise_check",
    "one_run_bound",
    "one_run_epsilon_lower_bound",
    "one_run_guesses",
    "one_run_p_value",
    "parameter_check",
    "run_audit",
    "run_whitebox_audit",
    "sampling_check",
    "tapped_fit",
]
