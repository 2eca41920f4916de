"""Cost of the privacy audit's parts: one white-box DP-ZO run with gradient canaries, and the one-run bound.

The audit's power grows with runs and canaries (``benchmarks/audit_power.py`` measures how many
it takes to flag a broken mechanism, in minutes); this suite times the unit of work, so a change
that slows the audit shows here within the default ``make bench``:

- ``test_whitebox_run``: one tapped DP-ZO fit at ε = 1 on 200 rows of pima_diabetes (q = 0.32,
  20 steps, 4 directions) with 2000 gradient canaries; ``extra_info`` holds the noise check's
  ratio, the one-run bound and the canary throughput;
- ``test_one_run_bound``: the bound on 100 000 canary scores (3 guess counts, bisection).
"""

from __future__ import annotations

import numpy as np

from dpcondense.privacy.audit import one_run_bound, run_whitebox_audit

CANARIES = 2000


def test_whitebox_run(benchmark, measure) -> None:
    benchmark.group = "audit: white-box DP-ZO run"

    def run():
        return run_whitebox_audit(dataset="pima_diabetes", epsilon=1.0, runs=1, canaries=CANARIES)

    audit = measure(run, rounds=3)
    res = audit.result
    benchmark.extra_info.update({
        "canaries": CANARIES,
        "sampling_rate": audit.sampling_rate,
        "noise_ratio": round(res.noise.ratio, 4),
        "one_run_epsilon_lower_bound": round(res.one_run.epsilon_lower_bound, 4),
        "passed": res.passed,
        "canary_steps_per_second": round(CANARIES * res.steps / audit.wall_seconds),
    })
    assert audit.passed and audit.sampling_rate < 1


def test_one_run_bound(benchmark, measure) -> None:
    benchmark.group = "audit: one-run bound"
    rng = np.random.default_rng(0)
    members = rng.random(100_000) < 0.5
    scores = members * 0.5 + rng.normal(size=members.size)
    bound = measure(one_run_bound, scores, members, delta=1e-5, rounds=5)
    benchmark.extra_info.update({"canaries": members.size, "epsilon_lower_bound": round(bound.epsilon_lower_bound, 4)})
